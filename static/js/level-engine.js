// The page's handle on the offline level check (issue 18): starts level-engine-worker.js when
// first asked and answers with promises. window.RightLevelEngine.judge(basis, entries) is the
// verdict on this tablet (levelverify.verdict.judge_offline); .check(text) is what the server's
// level-check API answers for that request text (used by the browser tests and the benchmark).
(function () {
  "use strict";
  var body = document.body;
  var workerUrl = body.getAttribute("data-engine-worker-url");
  var config = {
    pyodideUrl: body.getAttribute("data-pyodide-url"),
    engineUrl: body.getAttribute("data-level-engine-url"),
  };
  if (!workerUrl || !config.pyodideUrl || !window.Worker) { return; }
  var worker = null;
  var pending = {};
  var next = 1;

  function start() {
    worker = new Worker(workerUrl, { type: "module" });
    worker.onmessage = function (event) {
      var answer = event.data;
      var waiting = pending[answer.id];
      if (!waiting) { return; }
      delete pending[answer.id];
      if (answer.ok) { waiting.resolve(answer); } else { waiting.reject(new Error(answer.error)); }
    };
    worker.onerror = function (event) {
      var error = new Error("The level engine stopped: " + (event.message || "unknown error"));
      Object.keys(pending).forEach(function (id) { pending[id].reject(error); delete pending[id]; });
      worker = null;
    };
  }

  function call(message) {
    if (!worker) { start(); }
    return new Promise(function (resolve, reject) {
      var id = next++;
      pending[id] = { resolve: resolve, reject: reject };
      worker.postMessage(Object.assign({ id: id, config: config }, message));
    });
  }

  window.RightLevelEngine = {
    load: function () { return call({ type: "load" }); },
    judge: function (basis, entries) {
      return call({ type: "judge", basis: basis, entries: entries }).then(function (a) { return a.result; });
    },
    check: function (text) { return call({ type: "check", text: text }); },
  };
})();
