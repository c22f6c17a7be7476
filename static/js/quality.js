// Quality workspace: follow a running audit verification until it finishes, then reload.
(function () {
  "use strict";
  var box = document.getElementById("run-progress");
  if (!box || box.getAttribute("data-state") !== "running") { return; }
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("run-bar");
  var count = document.getElementById("run-count");
  var total = document.getElementById("run-total");
  var message = document.getElementById("run-message");

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json", "X-RightLevel-Passive": "1" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) { window.location.href = "/login/?timeout=1"; return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (status) {
        if (!status) { window.setTimeout(poll, 3000); return; }
        bar.max = Math.max(status.total_events, 1);
        bar.value = status.checked_events;
        bar.textContent = status.checked_events + " of " + status.total_events;
        count.textContent = status.checked_events;
        total.textContent = status.total_events;
        if (status.state === "running") { window.setTimeout(poll, 1500); return; }
        message.textContent = status.state === "ok" ? "Finished: the trail is intact." : "Finished: see the result below.";
        window.location.reload();
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
