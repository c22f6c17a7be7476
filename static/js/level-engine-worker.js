// The level check on the tablet (issue 18): a module worker that runs the server's own engine,
// levelverify's pure Python modules (fetched as /offline/level-engine.zip), in Pyodide. Off the
// page's thread, so that loading the interpreter never freezes the checklist. Messages:
//   {id, type: "load", config}                 -> {id, ok}
//   {id, type: "judge", config, basis, entries} -> {id, ok, result, ms}   (levelverify.verdict.judge_offline)
//   {id, type: "check", config, text}           -> {id, ok, result, ms}   (the API's answer: status and body)
// config: {pyodideUrl, engineUrl}, the same on every message (the first one loads).
let loading = null;

function load(config) {
  if (!loading) {
    loading = (async () => {
      const { loadPyodide } = await import(config.pyodideUrl + "pyodide.mjs");
      const pyodide = await loadPyodide({
        indexURL: config.pyodideUrl,
        packageBaseUrl: config.pyodideUrl,
        stdout: () => {},
        stderr: (text) => console.warn(text),
      });
      const response = await fetch(config.engineUrl, { credentials: "same-origin" });
      if (!response.ok) { throw new Error("The level engine could not be loaded (" + response.status + ")."); }
      pyodide.unpackArchive(await response.arrayBuffer(), "zip", { extractDir: "/rightlevel" });
      pyodide.runPython("import sys\nsys.path.insert(0, '/rightlevel')\nimport levelverify.verdict");
      const verdict = pyodide.pyimport("levelverify.verdict");
      return { judge: verdict.judge_offline_json, check: verdict.check_json };
    })();
    loading.catch(() => { loading = null; });
  }
  return loading;
}

self.onmessage = async (event) => {
  const message = event.data || {};
  try {
    const engine = await load(message.config);
    if (message.type === "load") {
      self.postMessage({ id: message.id, ok: true });
      return;
    }
    const started = performance.now();
    let out;
    if (message.type === "judge") {
      out = engine.judge(JSON.stringify(message.basis), JSON.stringify(message.entries || []));
    } else if (message.type === "check") {
      out = engine.check(message.text);
    } else {
      throw new Error("Unknown request: " + message.type);
    }
    self.postMessage({ id: message.id, ok: true, result: JSON.parse(out), ms: performance.now() - started });
  } catch (error) {
    self.postMessage({ id: message.id, ok: false, error: String(error && error.message || error) });
  }
};
