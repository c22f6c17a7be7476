// Offline (issue 18): registers the service worker, shows the offline banner, queues the tablet's
// attestations, evidence and level images in IndexedDB while the network (or the server) is away
// and sends them, in order, when it is back; judges the case on the tablet meanwhile (the server's
// own engine, in level-engine-worker.js), and says what cannot be done offline. iPad Safari has no Background Sync, so the
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
  var QUEUEABLE = /^\/cases\/(\d+)\/do\/(attest|attest-phase|consent|marking|imaging|anatomy|localization)$/;
  // Evidence that changes the verdict: judged on the tablet while it waits.
  var EVIDENCE = { consent: 1, marking: 1, imaging: 1, anatomy: 1, localization: 1 };
  var ATTESTING = { attest: 1, "attest-phase": 1 };
  var NEEDS_NETWORK = /^(\/cases\/\d+\/do\/(sign|confirm|adverse|time-out|plan|scan|treated|durable-mark|in-room|sign-out)|\/switch-user\/)$/;
  var PROBE_MS = 5000;
  var serverDown = false;
  var replaying = false;
  var counts = { queued: 0, problems: 0 };
  var tabletVerdict = null;  // the verdict on this tablet while this case's entries wait
  var basisNode = document.getElementById("level-basis");

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

  function isVersionField(name) { return name === "expected_version" || /-expected_version$/.test(name); }

  function versionOf(fields) {
    var found = fields.filter(function (f) { return isVersionField(f[0]); })[0];
    return found ? found[1] : null;
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
      return judgeHere(queued);
    });
  }

  // --- the verdict on this tablet ---------------------------------------------------------------
  // While this case's evidence waits on the tablet, the case is judged here by the server's own
  // engine, from the request and workflow findings the server last judged (the page's basis) with
  // the waiting entries applied. A stop is a stop; a pass says it was checked on this tablet only,
  // until the server has re-checked. If the engine cannot run, the tablet says so: never a pass.
  var verdictPanel = document.getElementById("offline-verdict");

  function basis() {
    var node = document.getElementById("level-basis");
    try { return node ? JSON.parse(node.textContent) : null; } catch (e) { return null; }
  }

  function entriesFor(queued, caseId) {
    return queued.filter(function (i) { return i.caseId === caseId && EVIDENCE[i.kind]; }).map(function (i) {
      var fields = {};
      i.fields.forEach(function (f) {
        var name = f[0].indexOf(i.kind + "-") === 0 ? f[0].slice(i.kind.length + 1) : f[0];
        fields[name] = f[1];
      });
      return { kind: i.kind, fields: fields };
    });
  }

  function judgeHere(queued) {
    var b = basis();
    verdictPanel = document.getElementById("offline-verdict");
    if (!b || !verdictPanel) { return Promise.resolve(); }
    var caseId = String(b["case"]);
    var entries = entriesFor(queued, caseId);
    if (!entries.length) {
      tabletVerdict = null;
      verdictPanel.hidden = true;
      toggleJudging(false);
      gateAttest();
      return Promise.resolve();
    }
    if (!window.RightLevelEngine) { return Promise.resolve(showVerdict(null, "This tablet cannot run the level check.")); }
    return window.RightLevelEngine.judge(b, entries).then(function (result) {
      showVerdict(result, null);
      claim(queued, caseId, result.verdict);
      window.sessionStorage.setItem("rightlevel-tablet-verdict", JSON.stringify({
        "case": caseId, verdict: result.verdict, basisVerdictId: b.verdict_id,
      }));
    }, function (error) { showVerdict(null, String(error.message || error)); });
  }

  // The verdict shown goes with the newest of the case's waiting evidence: the server compares
  // it with its own once that write is applied, and a difference stops the case on every device.
  function claim(queued, caseId, verdict) {
    var last = queued.filter(function (i) { return i.caseId === caseId && EVIDENCE[i.kind]; }).pop();
    if (!last || last.tabletVerdict === verdict) { return; }
    dbPromise.then(function (db) {
      var tx = db.transaction("queue", "readwrite");
      return tx.store.get(last.id).then(function (found) {  // not put back once sent
        if (found) { found.tabletVerdict = verdict; return tx.store.put(found); }
      }).then(function () { return tx.done; });
    });
  }

  function findingItems(findings, severity) {
    return findings.filter(function (f) { return f.severity === severity; }).map(function (f) {
      var li = document.createElement("li");
      var strong = document.createElement(severity === "stop" ? "strong" : "span");
      strong.textContent = (severity === "warning" ? "⚠ " : "") + f.message;
      li.appendChild(strong);
      if (f.action && severity !== "warning") {
        li.appendChild(document.createElement("br"));
        var what = document.createElement("span");
        what.className = "resolution";
        what.textContent = "What to do: " + f.action;
        li.appendChild(what);
      }
      return li;
    });
  }

  function toggleJudging(on) {
    var live = document.getElementById("case-live");
    if (live) { live.classList.toggle("tablet-judging", on); }
  }

  function showVerdict(result, failure) {
    var verdict = result ? result.verdict : "stop";
    var changed = verdict !== tabletVerdict;
    tabletVerdict = verdict;
    verdictPanel.hidden = false;
    toggleJudging(true);
    verdictPanel.className = "verdict-strip offline-verdict verdict-" + verdict;
    verdictPanel.setAttribute("data-verdict", verdict);
    verdictPanel.replaceChildren();
    var word = document.createElement("p");
    word.className = "verdict-word";
    var words = {
      pass: "PASS, checked on this tablet",
      stop: "STOP, checked on this tablet: do not proceed",
      incomplete: "INCOMPLETE, checked on this tablet",
    };
    word.textContent = (verdict === "pass" ? "✔ " : verdict === "stop" ? "✖ " : "◔ ") + words[verdict];
    verdictPanel.appendChild(word);
    var note = document.createElement("p");
    note.className = "offline-verdict-note";
    note.textContent = failure
      ? "The level check could not run on this tablet (" + failure + "): treat the case as stopped until the server has checked it."
      : "With the evidence kept on this tablet. The server checks again when it has received it; until then this is not the server's verdict.";
    verdictPanel.appendChild(note);
    if (result) {
      [["stop", "findings"], ["incomplete", "findings"], ["warning", "findings warnings"]].forEach(function (pair) {
        var items = findingItems(result.findings || [], pair[0]);
        if (!items.length) { return; }
        if (pair[0] === "incomplete") {
          var title = document.createElement("p");
          title.className = "findings-title";
          title.textContent = "Still needed:";
          verdictPanel.appendChild(title);
        }
        var list = document.createElement("ul");
        list.className = pair[1];
        items.forEach(function (li) { list.appendChild(li); });
        verdictPanel.appendChild(list);
      });
    }
    if (changed) {
      // Saved from a form further down: the new verdict is brought to the nurse's eyes.
      verdictPanel.setAttribute("tabindex", "-1");
      verdictPanel.scrollIntoView({ block: "center" });
      verdictPanel.focus({ preventScroll: true });
    }
    gateAttest();
  }

  // Disable a button for one reason (the attribute ``mark``) and give it back as it was when the
  // reason goes. (The two reasons hold different forms: the network's and the attestations.)
  function hold(button, mark, on) {
    if (on && !button.hasAttribute(mark)) {
      button.setAttribute(mark, button.disabled ? "was" : "1");
      button.disabled = true;
    } else if (!on && button.hasAttribute(mark)) {
      button.disabled = button.getAttribute(mark) === "was";
      button.removeAttribute(mark);
    }
  }

  // A stop on the tablet holds the checklist as the server's stop does: nothing more is attested.
  function gateAttest() {
    var held = tabletVerdict === "stop";
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      var match = QUEUEABLE.exec(pathOf(form.action));
      if (!match || !ATTESTING[match[2]]) { return; }
      Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) {
        hold(b, "data-tablet-stop", held);
      });
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
        hold(b, "data-offline-disabled", off);
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
  function chosenFile(form) {
    return Array.prototype.some.call(form.querySelectorAll("input[type=file]"), function (input) {
      return input.files && input.files.length > 0;
    });
  }

  function enqueue(form, submitter) {
    var fields = fieldsOf(form, submitter);
    var match = QUEUEABLE.exec(pathOf(form.action));
    var item = {
      url: pathOf(form.action),
      caseId: match[1],
      kind: match[2],
      fields: fields,
      key: uuid(),
      actedAt: actedAt(new Date()),
      expectedVersion: versionOf(fields),
      seenVersion: versionOf(fields),
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
    if (chosenFile(form)) {
      // A scan cannot wait on the tablet: say so rather than send the form without it.
      var note = form.querySelector(".needs-network") || document.createElement("p");
      note.className = "needs-network error";
      note.setAttribute("data-testid", "needs-network");
      note.setAttribute("role", "alert");
      note.textContent = "The scanned file needs the network: remove it to keep this record on the tablet now, " +
        "and attach the scan when the network is back.";
      form.appendChild(note);
      return;
    }
    enqueue(form, event.submitter);
  }, true);

  function errorText(html, status) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    function clean(t) { return t.trim().replace(/\s+/g, " "); }
    var node = doc.querySelector("[data-testid=action-error]") || doc.querySelector(".errorlist");
    var text = node ? clean(node.textContent) : "";
    if (!text) {
      // A form refused field by field (a level the anatomy does not have...): each field's label and reason.
      var parts = Array.prototype.map.call(doc.querySelectorAll("form .error[role=alert], .field.field-error"), function (el) {
        var label = el.querySelector("label");
        var why = Array.prototype.map.call(el.querySelectorAll(".field-error-text"), function (e) { return clean(e.textContent); });
        return label ? clean(label.textContent) + ": " + why.join(" ") : clean(el.textContent);
      });
      text = parts.join("; ");
    }
    return text || (status === 409 ? "Changed on another device: check the case and attest again." : "Refused (" + status + ").");
  }

  // Sends the queue in order (each case's writes in the order they were made). Sent (2xx, or the redirect a page's POST answers with): removed.
  // Refused (409 changed on another device, or another 4xx): moved to the problems list, shown until
  // someone dismisses it; never dropped silently. No answer, a 5xx or a lost session: kept, tried later.
  function replay() {
    if (replaying || !navigator.onLine) { return Promise.resolve(); }
    replaying = true;
    var sent = 0;
    var moved = {};
    return dbPromise.then(function (db) {
      return Promise.all([db.getAll("queue"), db.get("meta", "moved")]).then(function (all) {
        var items = all[0].filter(function (i) { return i.userId === userId; });
        moved = (all[1] && all[1].value) || {};
        // In order within a case; the cases side by side (they are independent, and a tablet back
        // from a downtime may hold several). A chain stops at a write that must wait.
        var byCase = {};
        items.forEach(function (item) { (byCase[item.caseId || ""] = byCase[item.caseId || ""] || []).push(item); });
        var chains = Object.keys(byCase).map(function (caseId) {
          var chain = Promise.resolve(true);
          byCase[caseId].forEach(function (item) {
            chain = chain.then(function (go) { return go ? send(db, item) : false; });
          });
          return chain;
        });
        return Promise.all(chains).then(function () {
          return db.count("queue").then(function (n) { if (!n) { return db.delete("meta", "moved"); } });
        });
      });
    }).finally(function () {
      replaying = false;
      render();
    });

    // The version a write expects: the one the tablet saw, unless this tablet's own earlier writes
    // (sent just before, in this order) moved it on; a change from anyone else still is a 409.
    function movedKey(item) { return item.caseId + ":" + item.seenVersion; }

    function rebase(db, item) {
      var now = item.caseId && moved[movedKey(item)];
      if (!now || now === item.expectedVersion) { return Promise.resolve(item); }
      item.fields = item.fields.map(function (f) { return isVersionField(f[0]) ? [f[0], now] : f; });
      item.expectedVersion = now;
      return db.put("queue", item).then(function () { return item; });
    }

    function send(db, queued) {
      return rebase(db, queued).then(function (item) { return post(db, item); });
    }

    function post(db, item) {
      var headers = {
        "Idempotency-Key": item.key,
        "X-Acted-At": item.actedAt,
        "X-CSRFToken": csrfToken(),
        "X-RightLevel-Queue": "1",
        "Content-Type": "application/x-www-form-urlencoded",
      };
      if (item.tabletVerdict) { headers["X-Tablet-Verdict"] = item.tabletVerdict; }
      return fetch(item.url, {
        method: "POST", body: new URLSearchParams(item.fields).toString(), headers: headers, credentials: "same-origin",
      }).then(function (response) {
        serverDown = false;
        if (response.redirected && pathOf(response.url).indexOf("/login/") === 0) { return false; }
        if (response.ok) {
          sent += 1;
          var version = response.headers.get("X-Evidence-Version");
          if (version && item.caseId) { moved[movedKey(item)] = version; }
          var done = db.transaction(["queue", "meta"], "readwrite");
          done.objectStore("queue").delete(item.id);
          done.objectStore("meta").put({ name: "moved", value: moved });
          return done.done.then(function () { return true; });
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

  // Offline on a case page: the level engine is started before it is needed (loading takes a
  // few seconds on a tablet, from the service worker's cache).
  var warmed = false;
  function warm() {
    if (warmed || !offline() || !basis() || !window.RightLevelEngine) { return; }
    warmed = true;
    window.RightLevelEngine.load().catch(function (error) { warmed = false; window.console.warn(error); });
  }

  // Back online, the server re-checked what this tablet judged: if the two differ, the tablet says
  // so (the server's verdict is the one every device shows).
  function compareWithServer() {
    var b = basis();
    var said = window.sessionStorage.getItem("rightlevel-tablet-verdict");
    if (!b || !said || counts.queued) { return; }
    said = JSON.parse(said);
    if (said["case"] !== String(b["case"]) || said.basisVerdictId === b.verdict_id) { return; }
    window.sessionStorage.removeItem("rightlevel-tablet-verdict");
    var notice = document.getElementById("tablet-recheck");
    if (!notice) { return; }
    var words = { pass: "PASS", stop: "STOP", incomplete: "INCOMPLETE" };
    notice.hidden = false;
    notice.className = "tablet-recheck verdict-" + b.verdict;
    notice.textContent = said.verdict === b.verdict
      ? "The server has re-checked the evidence kept on this tablet: " + words[b.verdict] + ", as this tablet said."
      : "The server has re-checked the evidence kept on this tablet: " + words[b.verdict] + ". This tablet had said " +
        words[said.verdict] + ": the server's verdict is the one that counts; read it to the team.";
  }

  var lastBasis = basisNode ? basisNode.textContent : null;
  window.addEventListener("offline", function () { render().then(warm); });
  window.addEventListener("online", function () { serverDown = false; replayOnline(); });
  window.setInterval(function () { if (offline() || counts.queued) { probe().then(warm); } }, PROBE_MS);
  new MutationObserver(function () {
    gate();
    gateAttest();
    var node = document.getElementById("level-basis");
    // The live sync swapped the case's header in: judge again into the new panel.
    if ((node && node.textContent !== lastBasis) || document.getElementById("offline-verdict") !== verdictPanel) {
      lastBasis = node ? node.textContent : null;
      render().then(compareWithServer);
    }
  }).observe(document.getElementById("main") || body, { childList: true, subtree: true });

  // For the browser tests and for support: what is waiting, and a way to send it now.
  window.RightLevelOffline = {
    queued: function () { return dbPromise.then(function (db) { return db.getAll("queue"); }); },
    problems: function () { return dbPromise.then(function (db) { return db.getAll("problems"); }); },
    restore: function (item) { return dbPromise.then(function (db) { return db.put("queue", item); }).then(render); },
    replay: replayOnline,
    tabletVerdict: function () { return tabletVerdict; },
  };

  render().then(function () {
    compareWithServer();
    warm();
    if (navigator.onLine) { probe(); }
  });
})();
