// The viewer's gesture arithmetic (frontend/src/lib/gestures.js) on its own: when a drag
// steps or closes, how zoom keeps the point under the fingers, how far a zoomed photo pans.
// Run by tests/test_browser.py; needs node only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLOSE_SHARE, FLICK_SPEED, IDENTITY, MAX_SCALE, SWIPE_SHARE, VIDEO_CONTROLS_PX, clampView,
  dragOutcome, onVideoControls, zoomAbout,
} from '../../frontend/src/lib/gestures.js';

const box = { w: 400, h: 800 };
const drag = (axis, distance, speed, more = {}) =>
  dragOutcome({ axis, distance, speed, box, hasPrev: true, hasNext: true, ...more });

test('a long or fast horizontal drag steps; a short slow one springs back', () => {
  assert.equal(drag('x', -box.w * SWIPE_SHARE - 1, -0.1), 'next');
  assert.equal(drag('x', box.w * SWIPE_SHARE + 1, 0.1), 'prev');
  assert.equal(drag('x', -20, -(FLICK_SPEED + 0.1)), 'next', 'a flick');
  assert.equal(drag('x', -20, -0.1), null);
  assert.equal(drag('x', -200, 0.5), null, 'dragged far, then thrown back: stays');
  assert.equal(drag('x', -200, -1, { hasNext: false }), null, 'nothing after the last photo');
});

test('a drag down closes when far or fast enough; up never does', () => {
  assert.equal(drag('y', box.h * CLOSE_SHARE + 1, 0.1), 'close');
  assert.equal(drag('y', 30, FLICK_SPEED + 0.1), 'close');
  assert.equal(drag('y', 30, 0.1), null);
  assert.equal(drag('y', -300, -2), null);
});

test('zooming keeps the photo point under the fingers where it was', () => {
  const at = { x: 50, y: -80 };
  const zoomed = zoomAbout(IDENTITY, 3, at);
  // the point that was under `at` (at itself, unzoomed) is still there: at = x + 3 * at
  assert.deepEqual({ x: zoomed.x + 3 * at.x, y: zoomed.y + 3 * at.y }, at);
  const moved = zoomAbout(zoomed, 2, at, { x: 0, y: 0 });
  const u = { x: (at.x - zoomed.x) / 3, y: (at.y - zoomed.y) / 3 };
  assert.deepEqual({ x: moved.x + 2 * u.x, y: moved.y + 2 * u.y }, { x: 0, y: 0 });
});

test('a zoomed photo pans only as far as its edges, and zoom stays within 1 and the maximum', () => {
  const square = 1; // a square photo in a 400 × 800 box: 400 × 400 on screen
  assert.deepEqual(clampView({ scale: 0.5, x: 10, y: 10 }, box, square), IDENTITY);
  const big = clampView({ scale: 10, x: 9999, y: -9999 }, box, square);
  assert.equal(big.scale, MAX_SCALE);
  assert.equal(big.x, (400 * MAX_SCALE - 400) / 2);
  assert.equal(big.y, -(400 * MAX_SCALE - 800) / 2);
  const two = clampView({ scale: 2, x: 0, y: 300 }, box, square);
  assert.equal(two.y, 0, 'at 2× the square photo is exactly as tall as the box: no vertical pan');
});

test("a touch on a video's bottom band is on its own controls, elsewhere on the video is not", () => {
  const video = { left: 0, right: 375, top: 50, bottom: 650, width: 375, height: 600 };
  assert.equal(onVideoControls({ x: 200, y: 640 }, video), true);
  assert.equal(onVideoControls({ x: 10, y: 650 - VIDEO_CONTROLS_PX + 1 }, video), true);
  assert.equal(onVideoControls({ x: 200, y: 650 - VIDEO_CONTROLS_PX - 1 }, video), false);
  assert.equal(onVideoControls({ x: 200, y: 300 }, video), false);
  assert.equal(onVideoControls({ x: 200, y: 700 }, video), false, 'below the video');
  const small = { left: 0, right: 100, top: 0, bottom: 40, width: 100, height: 40 };
  assert.equal(onVideoControls({ x: 50, y: 5 }, small), true, 'a short video is all controls');
});
