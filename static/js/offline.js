// Offline (issue 18): registers the service worker, shows the offline banner, queues the tablet's
// attestations in IndexedDB while the network (or the server) is away and sends them, in order,
// when it is back; and says what cannot be done offline. iPad Safari has no Background Sync, so the
// queue is sent from the page: on the "online" event, on page load, and while the server is down,
// on a probe every few seconds. Each queued write carries its own Idempotency-Key: sending it twice
// (a crash mid-send, two tabs) writes once.
/* global idb */
(function () {
  "use strict";
  var body = document.body;
  var swUrl = body.getAttribute("data-sw-url");
  var userId = body.getAttribute("data-user-id");
  var CASES_CACHE = "rightlevel-cases";
  var QUEUEABLE = /^\/cases\/\d+\/do\/(attest|attest-phase)$/;
  var NEEDS_NETWORK = /^(\/cases\/\d+\/do\/(sign|confirm|adverse|time-out)|\/switch-user\/)$/;
  var PROBE_MS = 5000;
  var serverDown = false;
  var replaying = false;
  var counts = { queued: 0, problems: 0 };

  if ("serviceWorker" in navigator && swUrl) {
    navigator.serviceWorker.register(swUrl, { scope: "/" }).catch(function (error) { window.console.warn("No service worker: online only", error); });
  }
  if (!window.idb || !window.indexedDB) { return; }
  if (!userId) {
    // Signed out: the case pages this device cached (patient data) are dropped with the session.
    if (window.caches) { window.caches.delete(CASES_CACHE); }
    idb.openDB("rightlevel-offline", 2, { upgrade: window.RightLevelQueueUpgrade })
      .then(function (db) { return db.delete("meta", "user"); });
    return;
  }

  var dbPromise = idb.openDB("rightlevel-offline", 2, { upgrade: window.RightLevelQueueUpgrade });
  // Whose tablet this is now: the service worker tags what it queues with it.
  dbPromise.then(function (db) { return db.put("meta", { name: "user", value: userId }); });

  function offline() { return !navigator.onLine || serverDown; }

  function pathOf(url) { return new URL(url, window.location.href).pathname; }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // The device's time with its UTC offset (X-Acted-At), e.g. 2026-12-03T10:15:02.120+01:00.
  function actedAt(date) {
    function pad(n, w) { return String(Math.abs(n)).padStart(w || 2, "0"); }
    var off = -date.getTimezoneOffset();
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) + "." +
      pad(date.getMilliseconds(), 3) + (off >= 0 ? "+" : "-") + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
  }

  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }

  // A form's fields without its CSRF token: the token goes in a header at send time (the current
  // session's), so that the body, which the Idempotency-Key is bound to, is the same on every send.
  function fieldsOf(form, submitter) {
    var data = new FormData(form, submitter || undefined);
    var fields = [];
    data.forEach(function (value, name) {
      if (name !== "csrfmiddlewaretoken" && typeof value === "string") { fields.push([name, value]); }
    });
    return fields;
  }

  function signature(url, fields) {
    return pathOf(url) + "?" + fields.filter(function (f) { return f[0] !== "shown"; })
      .map(function (f) { return f[0] + "=" + f[1]; }).sort().join("&");
  }

  // --- the banner -----------------------------------------------------------------------------
  var banner = document.getElementById("offline-banner");
  var bannerText = document.getElementById("offline-text");
  var countNode = document.getElementById("offline-count");
  var problemList = document.getElementById("offline-problems");

  function render() {
    return dbPromise.then(function (db) {
      return Promise.all([db.getAll("queue"), db.getAll("problems")]);
    }).then(function (all) {
      var queued = all[0].filter(function (i) { return i.userId === userId; });
      var problems = all[1].filter(function (i) { return i.userId === userId; });
      counts.queued = queued.length;
      counts.problems = problems.length;
      if (banner) {
        banner.hidden = !offline() && queued.length === 0;
        bannerText.textContent = offline()
          ? "Offline: changes are kept on this tablet and sent when the network is back"
          : "Sending the changes kept on this tablet";
        countNode.textContent = queued.length + (queued.length === 1 ? " change waiting" : " changes waiting");
        banner.classList.toggle("offline-banner-on", offline());
      }
      if (problemList) { renderProblems(problems); }
      markQueued(queued);
      gate();
    });
  }

  function renderProblems(problems) {
    problemList.hidden = problems.length === 0;
    problemList.replaceChildren();
    problems.forEach(function (p) {
      var li = document.createElement("li");
      li.setAttribute("data-testid", "offline-conflict");
      var text = document.createElement("span");
      text.textContent = "Not recorded: " + p.label + " (kept on this tablet offline since " +
        p.actedAt.slice(11, 16) + "). " + p.message + " ";
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "btn btn-secondary btn-inline";
      dismiss.textContent = "I have read this: dismiss";
      dismiss.addEventListener("click", function () {
        dbPromise.then(function (db) { return db.delete("problems", p.id); }).then(render);
      });
      li.appendChild(text);
      li.appendChild(dismiss);
      problemList.appendChild(li);
    });
  }

  // A form whose write is waiting in the queue says so instead of offering the button again.
  function markQueued(queued) {
    var waiting = {};
    queued.forEach(function (i) { waiting[signature(i.url, i.fields)] = true; });
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      if (!QUEUEABLE.test(pathOf(form.action))) { return; }
      var isWaiting = waiting[signature(form.action, fieldsOf(form))];
      var note = form.querySelector(".queued-note");
      Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) {
        b.hidden = Boolean(isWaiting);
      });
      if (isWaiting && !note) {
        note = document.createElement("span");
        note.className = "queued-note";
        note.setAttribute("data-testid", "queued-note");
        note.setAttribute("role", "status");
        note.textContent = "Queued on this tablet: sent when the network is back";
        form.appendChild(note);
      } else if (!isWaiting && note) {
        note.remove();
      }
    });
  }

  // --- what needs the network -----------------------------------------------------------------
  var sheetsUrl = body.getAttribute("data-downtime-sheets-url");
  var sheetsCached = false;
  if (window.caches && sheetsUrl) {
    window.caches.match(sheetsUrl).then(function (hit) { sheetsCached = Boolean(hit); gate(); });
  }

  function gate() {
    var off = offline();
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      if (!NEEDS_NETWORK.test(pathOf(form.action))) { return; }
      Array.prototype.forEach.call(form.querySelectorAll("button, input[type=submit]"), function (b) {
        if (off && !b.hasAttribute("data-offline-disabled")) {
          b.setAttribute("data-offline-disabled", b.disabled ? "was" : "1");
          b.disabled = true;
        } else if (!off && b.hasAttribute("data-offline-disabled")) {
          b.disabled = b.getAttribute("data-offline-disabled") === "was";
          b.removeAttribute("data-offline-disabled");
        }
      });
      var note = form.querySelector(".needs-network");
      if (off && !note) {
        note = document.createElement("span");
        note.className = "needs-network";
        note.setAttribute("data-testid", "needs-network");
        note.appendChild(document.createTextNode("Needs the network: follow the downtime procedure ("));
        if (sheetsCached) {
          var link = document.createElement("a");
          link.href = sheetsUrl;
          link.textContent = "print the downtime sheet";
          note.appendChild(link);
        } else {
          note.appendChild(document.createTextNode("use the paper downtime sheet"));
        }
        note.appendChild(document.createTextNode(")"));
        form.appendChild(note);
      } else if (!off && note) {
        note.remove();
      }
    });
  }

  // --- the queue ------------------------------------------------------------------------------
  function enqueue(form, submitter) {
    var fields = fieldsOf(form, submitter);
    var version = fields.filter(function (f) { return f[0] === "expected_version"; })[0];
    var item = {
      url: pathOf(form.action),
      fields: fields,
      key: uuid(),
      actedAt: actedAt(new Date()),
      expectedVersion: version ? version[1] : null,
      userId: userId,
      label: ((submitter && submitter.textContent) || "a change").trim().replace(/\s+/g, " "),
    };
    return dbPromise.then(function (db) { return db.add("queue", item); }).then(render);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.action || !QUEUEABLE.test(pathOf(form.action)) || !offline()) { return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    form.removeAttribute("data-submitting");
    enqueue(form, event.submitter);
  }, true);

  function errorText(html, status) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var node = doc.querySelector("[data-testid=action-error]") || doc.querySelector(".errorlist");
    var text = node ? node.textContent.trim().replace(/\s+/g, " ") : "";
    return text || (status === 409 ? "Changed on another device: check the case and attest again." : "Refused (" + status + ").");
  }

  // Sends the queue in order. Sent (2xx, or the redirect a page's POST answers with): removed.
  // Refused (409 changed on another device, or another 4xx): moved to the problems list, shown until
  // someone dismisses it; never dropped silently. No answer, a 5xx or a lost session: kept, tried later.
  function replay() {
    if (replaying || !navigator.onLine) { return Promise.resolve(); }
    replaying = true;
    var sent = 0;
    return dbPromise.then(function (db) {
      return db.getAll("queue").then(function (items) {
        items = items.filter(function (i) { return i.userId === userId; });
        var chain = Promise.resolve(true);
        items.forEach(function (item) {
          chain = chain.then(function (go) { return go ? send(db, item) : false; });
        });
        return chain;
      });
    }).finally(function () {
      replaying = false;
      render();
    });

    function send(db, item) {
      var headers = {
        "Idempotency-Key": item.key,
        "X-Acted-At": item.actedAt,
        "X-CSRFToken": csrfToken(),
        "Content-Type": "application/x-www-form-urlencoded",
      };
      return fetch(item.url, {
        method: "POST", body: new URLSearchParams(item.fields).toString(), headers: headers, credentials: "same-origin",
      }).then(function (response) {
        serverDown = false;
        if (response.redirected && pathOf(response.url).indexOf("/login/") === 0) { return false; }
        if (response.ok) {
          sent += 1;
          return db.delete("queue", item.id).then(function () { return true; });
        }
        if (response.status >= 500 || [401, 403, 408, 423, 429].indexOf(response.status) >= 0) { return false; }
        return response.text().then(function (html) {
          var problem = Object.assign({}, item, { status: response.status, message: errorText(html, response.status) });
          delete problem.id;
          var tx = db.transaction(["queue", "problems"], "readwrite");
          tx.objectStore("problems").add(problem);
          tx.objectStore("queue").delete(item.id);
          return tx.done.then(function () { return true; });
        });
      }, function () {
        serverDown = true;
        return false;
      });
    }
  }

  function replayThenRefresh() {
    return replay().then(function () {
      // The case page shows the recorded attestations: fetch it again once the queue is empty.
      if (counts.queued === 0 && counts.problems === 0 && document.getElementById("case-live") &&
          window.sessionStorage.getItem("rightlevel-offline-sent") === "1") {
        window.sessionStorage.removeItem("rightlevel-offline-sent");
        window.location.reload();
      }
    });
  }

  function probe() {
    if (!swUrl) { return Promise.resolve(); }
    // Passive: a probe is not activity, so it never keeps an unattended session open.
    return fetch(swUrl, {
      method: "HEAD", cache: "no-store", credentials: "same-origin", headers: { "X-RightLevel-Passive": "1" },
    }).then(function () {
      var wasDown = serverDown;
      serverDown = false;
      if (wasDown || counts.queued) { return replayOnline(); }
      return render();
    }, function () { serverDown = true; return render(); });
  }

  function replayOnline() {
    return dbPromise.then(function (db) { return db.count("queue"); }).then(function (n) {
      if (n) { window.sessionStorage.setItem("rightlevel-offline-sent", "1"); }
      return replayThenRefresh();
    });
  }

  window.addEventListener("offline", function () { render(); });
  window.addEventListener("online", function () { serverDown = false; replayOnline(); });
  window.setInterval(function () { if (offline() || counts.queued) { probe(); } }, PROBE_MS);
  new MutationObserver(function () { gate(); }).observe(document.getElementById("main") || body, { childList: true, subtree: true });

  // For the browser tests and for support: what is waiting, and a way to send it now.
  window.RightLevelOffline = {
    queued: function () { return dbPromise.then(function (db) { return db.getAll("queue"); }); },
    problems: function () { return dbPromise.then(function (db) { return db.getAll("problems"); }); },
    restore: function (item) { return dbPromise.then(function (db) { return db.put("queue", item); }).then(render); },
    replay: replayOnline,
  };

  render().then(function () { if (navigator.onLine) { probe(); } });
})();
