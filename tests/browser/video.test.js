// Videos in the UI: found by a moment (the blue square starts 3 s in), shown with a
// duration badge, played from that moment through Caddy's byte ranges, and the strip of
// sampled moments (a picture of each) jumps within it, by mouse or keyboard. On a phone, a
// swipe across the video steps to the next item, but not one that starts on the video's
// own controls or on the strip.
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
  await strip.getByRole('button', { name: 'moment at 0:00' }).click();
  await waitForTime((t) => t < SHOT_S - 0.5, 'a jump back to the first moment');
  await player().evaluate((v) => v.pause());
});

test('each moment in the strip is a picture of it, and the keyboard jumps too', async () => {
  const strip = page.getByRole('dialog').getByRole('list', { name: 'Moments in this video' });
  const pictures = strip.getByRole('img');
  assert.deepEqual(await pictures.evaluateAll((imgs) => imgs.map((i) => i.alt)), ['moment at 0:00', 'moment at 0:03']);
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('.moments img')];
    return imgs.length === 2 && imgs.every((img) => img.complete && img.naturalWidth > 0);
  });
  // the second picture is the blue square: its middle is blue, the first one's is not
  const blue = await pictures.evaluateAll((imgs) => imgs.map((img) => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0);
    const [r, , b] = g.getImageData(img.naturalWidth / 2, img.naturalHeight / 2, 1, 1).data;
    return b > r + 60;
  }));
  assert.deepEqual(blue, [false, true]);
  const src = await pictures.nth(1).getAttribute('src');
  const response = await page.request.get(src);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['cache-control'], /immutable/);
  const second = strip.getByRole('button', { name: 'moment at 0:03' });
  await second.focus();
  await page.keyboard.press('Enter');
  await waitForTime((t) => t >= SHOT_S - 0.25, 'a jump to the second moment from the keyboard');
  await page.locator('.moments button[aria-current="true"] img[alt="moment at 0:03"]').waitFor();
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

// One finger from `from` to `to` as a touch screen sends it: the press lands on whatever
// element is at that point (a <video> for its own controls), the moves and lift on the page.
async function swipe(from, to) {
  return page.evaluate(async ({ from, to }) => {
    const target = document.elementFromPoint(from.x, from.y);
    const send = (type, el, p) => el.dispatchEvent(new PointerEvent(type, {
      pointerId: 7, pointerType: 'touch', isPrimary: true, clientX: p.x, clientY: p.y,
      bubbles: true, cancelable: true, composed: true, buttons: type === 'pointerup' ? 0 : 1,
    }));
    send('pointerdown', target, from);
    for (let s = 1; s <= 8; s += 1) {
      await new Promise((r) => setTimeout(r, 15));
      send('pointermove', window, { x: from.x + ((to.x - from.x) * s) / 8, y: from.y + ((to.y - from.y) * s) / 8 });
    }
    send('pointerup', window, to);
    return target.tagName.toLowerCase() + (target.closest('[data-no-swipe]') ? ' in the strip' : '');
  }, { from, to });
}

test('on a phone, a swipe on the video steps, one starting on its controls or the strip does not', async () => {
  await page.setViewportSize({ width: 375, height: 812 });
  await page.goto(`/?q=${encodeURIComponent('a blue square')}`);
  const tile = page.locator(`.grid a.tile[title="${VIDEO}"]`);
  await tile.waitFor();
  assert.ok(await page.locator('.grid a.tile').count() > 1, 'an item after the video');
  const names = await page.locator('.grid a.tile').evaluateAll((tiles) => tiles.map((t) => t.title));
  assert.notEqual(names.indexOf(VIDEO), names.length - 1, 'the video is not the last result');
  await tile.click();
  const title = page.getByRole('dialog').locator('#photo-title');
  await title.filter({ hasText: VIDEO }).waitFor();
  await player().waitFor();
  await page.waitForTimeout(400);
  await page.screenshot({ path: `${env('HACHI_SCREENSHOTS')}/video-phone-375.png` });
  const box = await player().boundingBox();
  const controls = { x: box.x + box.width * 0.75, y: box.y + box.height - 20 };
  assert.equal(await swipe(controls, { x: controls.x - 250, y: controls.y }), 'video');
  await page.waitForTimeout(600);
  assert.equal(await title.textContent(), VIDEO, 'a drag along the video\'s controls stays on the video');
  const moment = await page.getByRole('button', { name: 'moment at 0:03' }).boundingBox();
  const onStrip = { x: moment.x + moment.width / 2, y: moment.y + moment.height / 2 };
  assert.equal(await swipe(onStrip, { x: onStrip.x - 250, y: onStrip.y }), 'img in the strip');
  await page.waitForTimeout(600);
  assert.equal(await title.textContent(), VIDEO, 'a drag along the moments strip stays on the video');
  const middle = { x: box.x + box.width * 0.85, y: box.y + box.height / 2 };
  assert.equal(await swipe(middle, { x: middle.x - 250, y: middle.y }), 'video');
  await title.filter({ hasNotText: VIDEO }).waitFor();
  assert.equal(await title.textContent(), names[names.indexOf(VIDEO) + 1]);
});

test('nothing went wrong in the page after the swipes', () => {
  assert.deepEqual(session.problems, []);
});
