// The arithmetic of the photo viewer's gestures, apart from the DOM so it reads (and is
// tested) on its own. A view is { scale, x, y }: the photo scaled about the stage's centre,
// then moved by (x, y) pixels. Points are relative to the stage's centre.

export const MAX_SCALE = 4;
export const DOUBLE_TAP_SCALE = 2.5;
export const SWIPE_SHARE = 0.22; // of the stage's width: a slow drag this far steps
export const CLOSE_SHARE = 0.18; // of its height: a slow drag down this far closes
export const FLICK_SPEED = 0.45; // px per ms: a flick this fast steps or closes at any distance
export const DRAG_SLOP = 8; // px before a touch counts as a drag, not a tap
export const DOUBLE_TAP_MS = 300;
export const VIDEO_CONTROLS_PX = 64; // the band at the bottom of a <video> its own controls cover

// Elements that take a touch for themselves: a gesture starting on one is theirs (a tap,
// a scroll, a drag along a slider), never a swipe to the next photo. Controls marked
// `data-swipe` lie over the photo as part of it (face boxes): swipes pass through them.
export const CONTROLS = 'a, button, input, select, textarea, summary, label, [role=button], ' +
  '[role=slider], [contenteditable], [data-no-swipe]';

// Whether a point (client coordinates) lies on a <video>'s own controls: browsers draw
// them along its bottom edge (the timeline, play, volume, full screen), inside the element,
// so the page sees the touch on the <video> itself. `rect` is its bounding box.
export function onVideoControls(point, rect) {
  return point.x >= rect.left && point.x <= rect.right && point.y <= rect.bottom &&
    point.y >= rect.bottom - Math.min(VIDEO_CONTROLS_PX, rect.height);
}

export const IDENTITY = Object.freeze({ scale: 1, x: 0, y: 0 });

// Keep the photo covering what it can: no panning past its edges, no zoom below 1.
// `box` is the stage { w, h }; `aspect` the photo's width / height (null: fill the box).
export function clampView(view, box, aspect) {
  const scale = Math.min(MAX_SCALE, Math.max(1, view.scale));
  if (scale === 1) return { ...IDENTITY };
  let fw = box.w;
  let fh = box.h;
  if (aspect) {
    if (box.w / box.h > aspect) fw = box.h * aspect;
    else fh = box.w / aspect;
  }
  const mx = Math.max(0, (fw * scale - box.w) / 2);
  const my = Math.max(0, (fh * scale - box.h) / 2);
  return { scale, x: Math.min(mx, Math.max(-mx, view.x)), y: Math.min(my, Math.max(-my, view.y)) };
}

// Zoom to `scale` keeping the photo point under `from` (in `view`) under `to` afterwards:
// a pinch whose fingers also move, or a double tap (from = to).
export function zoomAbout(view, scale, from, to = from) {
  const ux = (from.x - view.x) / view.scale;
  const uy = (from.y - view.y) / view.scale;
  return { scale, x: to.x - scale * ux, y: to.y - scale * uy };
}

// What a finished one-finger drag does: 'next', 'prev', 'close' or null (spring back).
// `speed` is px/ms along the drag's axis, signed like the distance.
export function dragOutcome({ axis, distance, speed, box, hasPrev, hasNext }) {
  if (axis === 'x') {
    const far = Math.abs(distance) > box.w * SWIPE_SHARE || Math.abs(speed) > FLICK_SPEED;
    if (!far || Math.sign(speed || distance) !== Math.sign(distance)) return null;
    if (distance < 0 && hasNext) return 'next';
    if (distance > 0 && hasPrev) return 'prev';
    return null;
  }
  if (axis === 'y' && distance > 0 && (distance > box.h * CLOSE_SHARE || speed > FLICK_SPEED)) return 'close';
  return null;
}

export const distance = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);
export const midpoint = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
