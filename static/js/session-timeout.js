// Visible countdown to the automatic logoff. Clicks and page loads reach the server as activity;
// typing does not make a request, so it is reported to the server (at most every few seconds).
// At zero the page goes to the sign-in screen, which then returns to this page.
(function () {
  "use strict";
  var body = document.body;
  var total = parseInt(body.getAttribute("data-inactivity-timeout") || "0", 10);
  var target = document.getElementById("session-countdown");
  if (!total || !target) { return; }
  var deadline = Date.now() + total * 1000;
  var activityUrl = body.getAttribute("data-activity-url");
  var pingEvery = Math.min(10000, total * 250);  // ms; well inside the timeout
  var lastPing = Date.now();
  function reset() { deadline = Date.now() + total * 1000; }
  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }
  function typed() {
    reset();
    if (!activityUrl || Date.now() - lastPing < pingEvery) { return; }
    lastPing = Date.now();
    fetch(activityUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } })
      .catch(function () { /* offline: the next request counts anyway */ });
  }
  document.addEventListener("keydown", typed, true);
  document.addEventListener("input", typed, true);
  document.body.addEventListener("htmx:afterRequest", function (evt) {
    var headers = (evt.detail && evt.detail.requestConfig && evt.detail.requestConfig.headers) || {};
    if (!headers["X-RightLevel-Passive"]) { reset(); }
  });
  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    var minutes = Math.floor(left / 60);
    var seconds = String(left % 60).padStart(2, "0");
    target.textContent = "Auto sign-out in " + minutes + ":" + seconds;
    target.classList.toggle("countdown-warning", left <= 60);
    if (left === 0) {
      var next = window.location.pathname + window.location.search;
      window.location.href = body.getAttribute("data-logout-url") + "&next=" + encodeURIComponent(next);
      return;
    }
    window.setTimeout(tick, 1000);
  }
  tick();
})();
