/* Wristband scan at sign-in (issue 17).
 *
 * A keyboard-wedge scanner types the barcode into the focused field and sends Enter: the form
 * submits itself, nothing to do here but keep the field focused. The camera reads the barcode
 * through the Barcode Detection API as the barcode-detector "ponyfill" provides it (ZXing in
 * WebAssembly, served from static/vendor: no CDN), the same reader on every tablet: some browsers
 * expose a native BarcodeDetector that cannot actually detect. The server parses and checks every
 * scan: this script never decides whether a wristband matches.
 */
(function () {
  "use strict";

  var FORMATS = ["data_matrix", "code_128", "code_39", "qr_code", "pdf417"];

  function setUp(form) {
    var input = form.querySelector('input[name="barcode"]');
    var source = form.querySelector("[data-wristband-source]");
    var cameraButton = form.querySelector("[data-wristband-camera]");
    var video = form.querySelector("[data-wristband-video]");
    var status = form.querySelector("[data-wristband-status]");
    var stream = null;
    var timer = null;

    // Ready for the scanner: nothing else on the page has the focus.
    if (!document.activeElement || document.activeElement === document.body) {
      input.focus({ preventScroll: true });
    }
    input.addEventListener("input", function () {
      source.value = "scanner";
    });

    var api = window.BarcodeDetectionAPI;
    if (!api || !api.BarcodeDetector || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return; // a scanner still works; the camera button stays hidden
    }
    cameraButton.hidden = false;

    function stop() {
      if (timer) window.clearTimeout(timer);
      timer = null;
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      video.hidden = true;
      cameraButton.textContent = "Use the camera";
    }

    function submitRead(value) {
      stop();
      input.value = value;
      source.value = "camera";
      status.textContent = "Wristband read: checking it…";
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }

    cameraButton.addEventListener("click", function () {
      if (stream) { stop(); status.textContent = ""; return; }
      var detector;
      try {
        detector = new api.BarcodeDetector({ formats: FORMATS });
      } catch (e) {
        status.textContent = "This tablet cannot read barcodes with its camera: use the scanner.";
        return;
      }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          video.hidden = false;
          cameraButton.textContent = "Stop the camera";
          status.textContent = "Hold the wristband's barcode in front of the camera.";
          return video.play();
        })
        .then(function scanFrame() {
          if (!stream) return;
          detector.detect(video).then(function (codes) {
            if (codes.length) { submitRead(codes[0].rawValue); return; }
            timer = window.setTimeout(scanFrame, 200);
          }, function () {
            timer = window.setTimeout(scanFrame, 400);
          });
        })
        .catch(function () {
          stop();
          status.textContent = "The camera is not available (permission refused?): use the scanner.";
        });
    });
    window.addEventListener("pagehide", stop);
  }

  function init() {
    var wasm = document.querySelector("[data-zxing-wasm]");
    if (wasm && window.BarcodeDetectionAPI && window.BarcodeDetectionAPI.setZXingModuleOverrides) {
      var url = wasm.getAttribute("data-zxing-wasm");
      window.BarcodeDetectionAPI.setZXingModuleOverrides({
        locateFile: function (path, prefix) { return path.endsWith(".wasm") ? url : prefix + path; },
      });
    }
    document.querySelectorAll("form[data-wristband]").forEach(setUp);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
