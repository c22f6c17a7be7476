// Tap-to-count on the level image: each tap is kept in image pixels (so zoom, pan and page size
// do not change it), drawn as a numbered dot (0 = the reference), and the count is the taps after
// the reference. The taps travel to the server as JSON in the form; the server derives the count.
//
// Zoom and pan by touch: two fingers pinch (and move) the image; one finger drags it once zoomed
// in; a touch that does not move is a tap. The buttons zoom for gloved hands; the mouse wheel
// zooms at the pointer. The dots live inside the zoomed surface, so they stay on their vertebrae.
(function () {
  "use strict";
  const surface = document.getElementById("tap-surface");
  const image = document.getElementById("level-image");
  const input = document.getElementById("tap-input");
  const countOut = document.getElementById("tap-count");
  if (!surface || !image || !input) return;
  const columns = Number(surface.dataset.columns);
  const rows = Number(surface.dataset.rows);
  const MIN_SCALE = 1;
  const MAX_SCALE = 8;
  const TAP_SLOP = 8; // CSS pixels a touch may move and still be a tap
  let taps = [];
  try {
    taps = JSON.parse(input.value || "[]");
  } catch (e) {
    taps = [];
  }

  // The viewport clips the zoomed surface; the controls sit above it.
  const viewport = document.createElement("div");
  viewport.className = "tap-viewport";
  viewport.id = "tap-viewport";
  surface.parentNode.insertBefore(viewport, surface);
  viewport.appendChild(surface);
  const controls = document.createElement("div");
  controls.className = "tap-zoom";
  controls.innerHTML =
    '<button type="button" class="btn btn-secondary" id="zoom-in" aria-label="Zoom in">+</button>' +
    '<button type="button" class="btn btn-secondary" id="zoom-out" aria-label="Zoom out">−</button>' +
    '<button type="button" class="btn btn-secondary" id="zoom-fit">Whole image</button>' +
    '<span class="muted" id="zoom-level" aria-live="polite">100%</span>';
  viewport.parentNode.insertBefore(controls, viewport);

  let scale = 1;
  let tx = 0;
  let ty = 0;

  function clamp() {
    const w = surface.offsetWidth;
    const h = surface.offsetHeight;
    tx = Math.min(0, Math.max(w - w * scale, tx));
    ty = Math.min(0, Math.max(h - h * scale, ty));
  }

  function apply() {
    clamp();
    surface.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    surface.dataset.scale = String(scale);
    document.getElementById("zoom-level").textContent = Math.round(scale * 100) + "%";
    // Dots keep their size on screen whatever the zoom.
    surface.style.setProperty("--tap-dot-scale", String(1 / scale));
  }

  // Zoom to ``next`` keeping the point (px, py) of the viewport (CSS pixels) where it is.
  function zoomAt(next, px, py) {
    next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, next));
    const cx = (px - tx) / scale;
    const cy = (py - ty) / scale;
    scale = next;
    tx = px - cx * scale;
    ty = py - cy * scale;
    apply();
  }

  function viewportPoint(clientX, clientY) {
    const box = viewport.getBoundingClientRect();
    return [clientX - box.left, clientY - box.top];
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

  function tapAt(clientX, clientY) {
    // The image's box on screen is already zoomed and panned: the ratio gives image pixels.
    const box = image.getBoundingClientRect();
    const x = ((clientX - box.left) * columns) / box.width;
    const y = ((clientY - box.top) * rows) / box.height;
    if (x < 0 || y < 0 || x >= columns || y >= rows) return;
    taps.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
    draw();
  }

  // One gesture: from the first finger down to the last finger up.
  const pointers = new Map();
  let gesture = null;

  function pinchState() {
    const [a, b] = [...pointers.values()];
    return {
      distance: Math.hypot(a.x - b.x, a.y - b.y) || 1,
      mid: viewportPoint((a.x + b.x) / 2, (a.y + b.y) / 2),
    };
  }

  viewport.addEventListener("pointerdown", (event) => {
    if (event.button !== undefined && event.button > 0) return;
    try {
      viewport.setPointerCapture(event.pointerId);
    } catch (e) {
      // a synthetic pointer cannot be captured; the gesture still works
    }
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 1) {
      gesture = { tap: true, startX: event.clientX, startY: event.clientY, tx, ty, pinch: null };
    } else if (pointers.size === 2 && gesture) {
      gesture.tap = false;
      gesture.pinch = { ...pinchState(), scale, tx, ty };
    }
    event.preventDefault();
  });

  viewport.addEventListener("pointermove", (event) => {
    if (!pointers.has(event.pointerId) || !gesture) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size >= 2 && gesture.pinch) {
      const now = pinchState();
      const start = gesture.pinch;
      const next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, (start.scale * now.distance) / start.distance));
      // The content point under the starting midpoint follows the fingers' midpoint.
      const cx = (start.mid[0] - start.tx) / start.scale;
      const cy = (start.mid[1] - start.ty) / start.scale;
      scale = next;
      tx = now.mid[0] - cx * scale;
      ty = now.mid[1] - cy * scale;
      apply();
      return;
    }
    const dx = event.clientX - gesture.startX;
    const dy = event.clientY - gesture.startY;
    if (gesture.tap && Math.hypot(dx, dy) > TAP_SLOP) gesture.tap = false;
    if (!gesture.tap && scale > 1) {
      tx = gesture.tx + dx;
      ty = gesture.ty + dy;
      apply();
    }
  });

  function pointerEnd(event, cancelled) {
    if (!pointers.has(event.pointerId)) return;
    pointers.delete(event.pointerId);
    if (!gesture) return;
    if (pointers.size === 0) {
      if (gesture.tap && !cancelled) tapAt(event.clientX, event.clientY);
      gesture = null;
    } else if (pointers.size === 1) {
      // One finger left after a pinch: it pans from here, never taps.
      const [rest] = [...pointers.values()];
      gesture = { tap: false, startX: rest.x, startY: rest.y, tx, ty, pinch: null };
    }
  }
  viewport.addEventListener("pointerup", (event) => pointerEnd(event, false));
  viewport.addEventListener("pointercancel", (event) => pointerEnd(event, true));

  viewport.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const [px, py] = viewportPoint(event.clientX, event.clientY);
      zoomAt(scale * (event.deltaY < 0 ? 1.25 : 0.8), px, py);
    },
    { passive: false },
  );

  function zoomCentre(factor) {
    zoomAt(scale * factor, viewport.clientWidth / 2, viewport.clientHeight / 2);
  }
  document.getElementById("zoom-in").addEventListener("click", () => zoomCentre(1.5));
  document.getElementById("zoom-out").addEventListener("click", () => zoomCentre(1 / 1.5));
  document.getElementById("zoom-fit").addEventListener("click", () => {
    scale = 1;
    tx = 0;
    ty = 0;
    apply();
  });
  document.getElementById("tap-undo").addEventListener("click", () => {
    taps.pop();
    draw();
  });
  document.getElementById("tap-clear").addEventListener("click", () => {
    taps = [];
    draw();
  });
  window.addEventListener("resize", apply);
  apply();
  draw();
})();
