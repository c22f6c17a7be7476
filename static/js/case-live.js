// Case page: live sync across devices, the stop screen, and the "reads as" echo of typed levels.
(function () {
  "use strict";
  var live = document.getElementById("case-live");
  if (!live) { return; }
  var PASSIVE = { "X-RightLevel-Passive": "1" };
  var statusUrl = live.getAttribute("data-status-url");
  var liveUrl = live.getAttribute("data-live-url");
  var etag = null;
  var version = live.getAttribute("data-version");
  var notice = document.getElementById("sync-notice");

  // --- stop screen: shown for every new stop verdict until acknowledged by this person ----------
  // (keyed by the signed-in user: on a shared tablet the next person must read the stop aloud too)
  function bindStopOverlay() {
    var overlay = document.getElementById("stop-overlay");
    if (!overlay) { return; }
    var key = "rightlevel-stop-ack-" + overlay.getAttribute("data-ack-owner") + "-" +
      overlay.getAttribute("data-verdict-id");
    if (window.sessionStorage.getItem(key)) { overlay.hidden = true; return; }
    var button = document.getElementById("stop-ack");
    overlay.hidden = false;
    button.focus();
    button.addEventListener("click", function () {
      window.sessionStorage.setItem(key, "1");
      overlay.hidden = true;
      var header = document.getElementById("top");
      if (header) { header.setAttribute("tabindex", "-1"); header.focus(); }
    });
    overlay.addEventListener("keydown", function (event) {
      if (event.key === "Tab") { event.preventDefault(); button.focus(); }  // keep focus inside
    });
  }

  // --- no stray taps: a phase's attest button that has just appeared is inert for a moment, so
  // the second tap of a double tap cannot land on the next phase (the server checks this too) ---
  var GUARD_MS = 1500;
  function guardAttestButtons() {
    var buttons = document.querySelectorAll("button[data-guard]:not([data-guarded])");
    Array.prototype.forEach.call(buttons, function (button) {
      button.setAttribute("data-guarded", "1");
      button.disabled = true;
      button.classList.add("guarding");
      window.setTimeout(function () { button.disabled = false; button.classList.remove("guarding"); }, GUARD_MS);
    });
  }

  // --- double submits: a form of the case page is sent once (the server is idempotent too) -----
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.action || form.action.indexOf("/do/") < 0) { return; }
    if (form.getAttribute("data-submitting")) { event.preventDefault(); return; }
    form.setAttribute("data-submitting", "1");
  }, true);

  // --- live sync: a cheap status poll; when the case changed, the whole page is refetched and
  // swapped in part by part: the checklist, the evidence, the level images and the forms' context.
  // A list someone opened stays open, and a form someone opened or is typing in is kept as it is
  // (it still carries the version it was loaded with, so its save gets the "changed on another
  // device" answer instead of overwriting). -------------------------------------------------------
  function isDirty(form) {
    return Array.prototype.some.call(form.elements, function (el) {
      if (el.type === "hidden" || el.type === "submit" || el.type === "button") { return false; }
      if (el.type === "checkbox" || el.type === "radio") { return el.checked !== el.defaultChecked; }
      if (el.tagName === "SELECT") {
        return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      if (el.type === "file") { return el.files && el.files.length > 0; }
      return el.value !== el.defaultValue;
    });
  }

  function swapSection(id, doc) {
    var old = document.getElementById(id);
    var fresh = doc.getElementById(id);
    if (!old && !fresh) { return; }
    if (!fresh) { old.remove(); return; }
    var node = document.importNode(fresh, true);
    if (!old) { return; }
    var keep = {};
    Array.prototype.forEach.call(old.querySelectorAll("details.form-panel"), function (panel) {
      var form = panel.querySelector("form");
      if (form && (panel.open || isDirty(form) || panel.contains(document.activeElement))) {
        keep[form.getAttribute("action")] = panel;
      }
    });
    Array.prototype.forEach.call(node.querySelectorAll("details.form-panel"), function (panel) {
      var form = panel.querySelector("form");
      var key = form && form.getAttribute("action");
      if (key && keep[key]) { panel.replaceWith(keep[key]); }
    });
    // The read-back of this device's last save is this device's own (a background fetch never
    // carries it): it stays until the person's next page, whatever else changed meanwhile.
    var readback = old.querySelector("#readback");
    if (readback && !node.querySelector("#readback")) {
      var grid = node.querySelector(".evidence-grid");
      if (grid) { grid.before(readback); } else { node.prepend(readback); }
    }
    old.replaceWith(node);
  }

  function refresh() {
    var headers = Object.assign({ "Accept": "text/html" }, PASSIVE);
    return fetch(window.location.pathname, { credentials: "same-origin", headers: headers, cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.href = "/login/?timeout=1&next=" + encodeURIComponent(window.location.pathname); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var freshLive = doc.getElementById("case-live");
        if (!freshLive) { return; }
        var openFolds = Array.prototype.map.call(live.querySelectorAll("details.steps-fold[open]"), function (d) {
          var card = d.closest("article");
          return card ? card.id : null;
        });
        live.innerHTML = freshLive.innerHTML;
        openFolds.forEach(function (id) {
          var fold = id && document.querySelector("#" + id + " details.steps-fold");
          if (fold) { fold.open = true; }
        });
        ["evidence", "localization", "near-misses"].forEach(function (id) { swapSection(id, doc); });
        if (!document.getElementById("near-misses") && doc.getElementById("near-misses")) {
          document.getElementById("localization").after(document.importNode(doc.getElementById("near-misses"), true));
        }
        var inner = document.getElementById("case-live-inner");
        if (inner) { version = inner.getAttribute("data-version"); }
        guardAttestButtons();
        if (notice) {
          notice.hidden = false;
          window.setTimeout(function () { notice.hidden = true; }, 4000);
        }
        bindStopOverlay();
        bindPreviews();
        bindPickers();
        bindFileLimits();
      });
  }

  function poll() {
    var headers = Object.assign({ "Accept": "application/json" }, PASSIVE);
    if (etag) { headers["If-None-Match"] = etag; }
    fetch(statusUrl, { credentials: "same-origin", headers: headers, cache: "no-store" })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) { window.location.href = "/login/?timeout=1&next=" + encodeURIComponent(window.location.pathname); return null; }
        if (response.status === 304 || !response.ok) { return null; }
        etag = response.headers.get("ETag");
        return response.json();
      })
      .then(function (status) {
        if (status && String(status.version) !== String(version)) { return refresh(); }
        return null;
      })
      .catch(function () { /* network blip: try again at the next tick */ })
      .finally(function () { window.setTimeout(poll, 2000); });
  }

  // --- "reads as": echo how typed levels will be read, before saving ----------------------------
  function bindPreviews() {
    var inputs = document.querySelectorAll("form[data-preview-url] input.levels-input:not([data-bound])");
    Array.prototype.forEach.call(inputs, function (input) {
      input.setAttribute("data-bound", "1");
      var form = input.form;
      var target = document.getElementById(input.id + "-preview");
      var timer = null;
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          var url = new URL(form.getAttribute("data-preview-url"), window.location.href);
          url.searchParams.set(input.name, input.value);
          var procedure = form.querySelector("select[name$='procedure']");
          if (procedure) { url.searchParams.set("consent-procedure", procedure.value); }
          // Passive: the preview must not save the session (its last-activity stamp) while this
          // device's save is in flight, or it writes back a copy without the save's read-back.
          // Typing is counted as activity by session-timeout.js.
          fetch(url, { credentials: "same-origin", headers: PASSIVE })
            .then(function (response) { return response.ok ? response.text() : ""; })
            .then(function (html) { if (target) { target.innerHTML = html; } });
        }, 250);
      });
    });
  }

  // --- file size: refuse a too-large scan before the upload starts (the server refuses it too) -
  function bindFileLimits() {
    var inputs = document.querySelectorAll("input[type=file][data-max-bytes]:not([data-bound])");
    Array.prototype.forEach.call(inputs, function (input) {
      input.setAttribute("data-bound", "1");
      input.addEventListener("change", function () {
        var max = Number(input.getAttribute("data-max-bytes"));
        var file = input.files && input.files[0];
        var tooLarge = file && file.size > max;
        input.setCustomValidity(tooLarge ? input.getAttribute("data-too-large") : "");
        if (tooLarge) { input.reportValidity(); }
      });
    });
  }

  // --- level pickers: tap levels instead of typing them (several for a fusion) ------------------
  function bindPickers() {
    var buttons = document.querySelectorAll(".level-pick:not([data-bound])");
    function levelsOf(input) {
      return input.value.split(",").map(function (v) { return v.trim().toUpperCase(); }).filter(Boolean);
    }
    function sync(input) {
      var chosen = levelsOf(input);
      Array.prototype.forEach.call(document.querySelectorAll(".level-pick[data-target='" + input.id + "']"), function (b) {
        b.setAttribute("aria-pressed", chosen.indexOf(b.getAttribute("data-level")) >= 0 ? "true" : "false");
      });
    }
    Array.prototype.forEach.call(buttons, function (button) {
      var input = document.getElementById(button.getAttribute("data-target"));
      if (!input) { return; }
      button.setAttribute("data-bound", "1");
      sync(input);
      button.addEventListener("click", function () {
        var level = button.getAttribute("data-level");
        var chosen = levelsOf(input);
        var multiple = input.name.indexOf("label") < 0;  // an image label is one level
        var at = chosen.indexOf(level);
        if (at >= 0) { chosen.splice(at, 1); } else if (multiple) { chosen.push(level); } else { chosen = [level]; }
        input.value = chosen.join(", ");
        input.dispatchEvent(new Event("input", { bubbles: true }));
        sync(input);
      });
      input.addEventListener("input", function () { sync(input); });
    });
  }

  // --- feedback where the eyes are: bring the outcome of the last action into view, below the
  // sticky target header, and give it focus so a screen reader reads it -------------------------
  function showFeedback() {
    var feedback = document.querySelector("[data-feedback], .form-panel[open] .error, .form-panel[open] .field-error-text");
    if (!feedback) { return; }
    if (!feedback.hasAttribute("tabindex")) { feedback.setAttribute("tabindex", "-1"); }
    var overlay = document.getElementById("stop-overlay");
    feedback.scrollIntoView({ block: "center" });
    if (!overlay || overlay.hidden) { feedback.focus({ preventScroll: true }); }
  }

  bindStopOverlay();
  showFeedback();
  guardAttestButtons();
  bindPreviews();
  bindPickers();
  bindFileLimits();
  window.setTimeout(poll, 2000);
})();
