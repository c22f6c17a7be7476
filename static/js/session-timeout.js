// Visible countdown to the automatic logoff; any key, click or touch counts as activity on the
// server at the next request, so the countdown restarts on each full page load.
(function () {
  "use strict";
  var body = document.body;
  var total = parseInt(body.getAttribute("data-inactivity-timeout") || "0", 10);
  var target = document.getElementById("session-countdown");
  if (!total || !target) { return; }
  var deadline = Date.now() + total * 1000;
  function reset() { deadline = Date.now() + total * 1000; }
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
    if (left === 0) { window.location.href = body.getAttribute("data-logout-url"); return; }
    window.setTimeout(tick, 1000);
  }
  tick();
})();
