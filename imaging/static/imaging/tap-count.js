// Tap-to-count on the level image: each tap is kept in image pixels (so zoom and page size do
// not change it), drawn as a numbered dot (0 = the reference), and the count is the taps after
// the reference. The taps travel to the server as JSON in the form; the server derives the count.
(function () {
  "use strict";
  const surface = document.getElementById("tap-surface");
  const image = document.getElementById("level-image");
  const input = document.getElementById("tap-input");
  const countOut = document.getElementById("tap-count");
  if (!surface || !image || !input) return;
  const columns = Number(surface.dataset.columns);
  const rows = Number(surface.dataset.rows);
  let taps = [];
  try {
    taps = JSON.parse(input.value || "[]");
  } catch (e) {
    taps = [];
  }

  function draw() {
    surface.querySelectorAll(".tap-dot").forEach((d) => d.remove());
    taps.forEach(([x, y], i) => {
      const dot = document.createElement("span");
      dot.className = "tap-dot" + (i === 0 ? " tap-reference" : "");
      dot.textContent = String(i);
      dot.style.left = (100 * x) / columns + "%";
      dot.style.top = (100 * y) / rows + "%";
      surface.appendChild(dot);
    });
    input.value = JSON.stringify(taps);
    countOut.textContent = String(Math.max(taps.length - 1, 0));
  }

  image.addEventListener("click", (event) => {
    const box = image.getBoundingClientRect();
    const x = ((event.clientX - box.left) * columns) / box.width;
    const y = ((event.clientY - box.top) * rows) / box.height;
    if (x < 0 || y < 0 || x >= columns || y >= rows) return;
    taps.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
    draw();
  });
  document.getElementById("tap-undo").addEventListener("click", () => {
    taps.pop();
    draw();
  });
  document.getElementById("tap-clear").addEventListener("click", () => {
    taps = [];
    draw();
  });
  draw();
})();
