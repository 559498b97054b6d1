// Videos in the UI: found by a moment (the blue square starts 3 s in), shown with a
// duration badge, played from that moment through Caddy's byte ranges, and the strip of
// sampled moments jumps within it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser, screenshots } from './harness.js';

const VIDEO = env('HACHI_VIDEO_NAME');
const SHOT_S = Number(env('HACHI_SHOT_S'));

let session;
let page;

before(async () => {
  session = await openBrowser();
  page = session.page;
  await logIn(page);
  await page.getByTestId('result-count').waitFor();
});

after(async () => {
  await session?.close();
});

const player = () => page.getByTestId('video-player');
const videoTime = () => player().evaluate((v) => v.currentTime);

async function waitForTime(check, what) {
  const deadline = Date.now() + 15_000;
  let now = await videoTime();
  while (!check(now)) {
    if (Date.now() > deadline) throw new Error(`video time ${now}: expected ${what}`);
    await page.waitForTimeout(100);
    now = await videoTime();
  }
  return now;
}

test('a search for the later shot finds the video, with its length on the tile', async () => {
  await page.goto(`/?q=${encodeURIComponent('a blue square')}`);
  const tile = page.locator(`.grid a.tile[title="${VIDEO}"]`);
  await tile.waitFor();
  assert.equal((await tile.getByTestId('duration-badge').innerText()).replace(/\s+/g, ' '), '▶ 0:06');
});

test('the video plays from the moment that matched, and the moments strip jumps', async () => {
  await page.locator(`.grid a.tile[title="${VIDEO}"]`).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('#photo-title').filter({ hasText: VIDEO }).waitFor();
  await player().waitFor();
  assert.equal(await dialog.getByTestId('video-facts').innerText(), '0:06 · 192×144 · 10 fps · vp8');
  const start = Number(await player().getAttribute('data-start'));
  assert.ok(start >= SHOT_S - 0.25 && start < 2 * SHOT_S, `starts at ${start}`);
  await player().evaluate((v) => v.readyState >= 1 || new Promise((r) => v.addEventListener('loadedmetadata', r, { once: true })));
  await waitForTime((t) => Math.abs(t - start) < 0.5, `about ${start}`);
  await player().evaluate((v) => { v.muted = true; return v.play(); });
  await waitForTime((t) => t > start + 0.3, 'playback to advance');
  await screenshots(page, 'video');
  const strip = dialog.getByRole('list', { name: 'Moments in this video' });
  await strip.getByRole('button', { name: '0:00' }).click();
  await waitForTime((t) => t < SHOT_S - 0.5, 'a jump back to the first moment');
  await player().evaluate((v) => v.pause());
});

test('the file comes in byte ranges through Caddy', async () => {
  const id = page.url().match(/\/photo\/(\d+)/)[1];
  const response = await page.request.get(`/api/photos/${id}/video`, { headers: { Range: 'bytes=0-99' } });
  assert.equal(response.status(), 206);
  assert.equal((await response.body()).length, 100);
  assert.match(response.headers()['content-range'], /^bytes 0-99\/\d+$/);
  assert.match(response.headers()['content-type'], /^video\/webm/);
  const anonymous = await page.request.get(`/api/photos/${id}/video`, { headers: { Cookie: '' } });
  assert.equal(anonymous.status(), 401);
  assert.deepEqual(session.problems, []);
});
