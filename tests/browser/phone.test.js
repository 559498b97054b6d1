// The phone (issue 16, items 10–12) at 375 × 812: the photo full-bleed, swipes to step and
// to close, pinch and double-tap zoom, the details sheet; the bottom tab bar (and not on a
// desktop); toasts whose Undo really undoes; naming a face from its box; the indexing sign.
// Gestures are real pointer events dispatched on the viewer, as a touch screen sends them.
// Run by tests/test_browser.py on the small library, after ui.test.js and honest.test.js.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser, screenshots } from './harness.js';

const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1920, height: 1080 };
const SLOW_FOLDER = env('HACHI_SLOW_FOLDER');
let session;
let page;

before(async () => {
  session = await openBrowser();
  page = session.page;
  await page.setViewportSize(PHONE);
  await logIn(page);
  await page.getByTestId('result-count').waitFor();
});

after(async () => {
  await session?.close();
});

const dialog = () => page.getByRole('dialog');
const title = () => dialog().locator('#photo-title');
const scale = async () => Number(await page.getByTestId('media-stage').getAttribute('data-scale'));

// One or two fingers along straight paths: `paths` is a list of [from, to] points per
// finger; `ms` the gesture's length. Sent as touch pointer events, ~60 a second.
async function gesture(paths, ms = 120) {
  await page.evaluate(async ({ paths, ms }) => {
    const stage = document.querySelector('[data-testid=media-stage]');
    const send = (type, id, p) => (type === 'pointerdown' ? stage : window).dispatchEvent(new PointerEvent(type, {
      pointerId: id, pointerType: 'touch', isPrimary: id === 1, clientX: p.x, clientY: p.y,
      bubbles: true, cancelable: true, buttons: type === 'pointerup' ? 0 : 1,
    }));
    const sleep = (t) => new Promise((r) => setTimeout(r, t));
    paths.forEach(([from], i) => send('pointerdown', i + 1, from));
    const steps = Math.max(2, Math.round(ms / 16));
    for (let s = 1; s <= steps; s += 1) {
      await sleep(ms / steps);
      paths.forEach(([from, to], i) => send('pointermove', i + 1, {
        x: from.x + ((to.x - from.x) * s) / steps, y: from.y + ((to.y - from.y) * s) / steps,
      }));
    }
    paths.forEach(([, to], i) => send('pointerup', i + 1, to));
  }, { paths, ms });
}

// Two quick taps in one go (two calls could be too far apart on a loaded machine).
async function doubleTap(at) {
  await page.evaluate(async (p) => {
    const stage = document.querySelector('[data-testid=media-stage]');
    const send = (type) => (type === 'pointerdown' ? stage : window).dispatchEvent(new PointerEvent(type, {
      pointerId: 1, pointerType: 'touch', isPrimary: true, clientX: p.x, clientY: p.y, bubbles: true,
    }));
    for (let i = 0; i < 2; i += 1) {
      send('pointerdown');
      await new Promise((r) => setTimeout(r, 40));
      send('pointerup');
      await new Promise((r) => setTimeout(r, 60));
    }
  }, at);
}

async function openFirstPhoto() {
  await page.goto('/?q=sort%3Aoldest');
  await page.locator('.grid a.tile').nth(1).waitFor();
  const names = await page.locator('.grid a.tile').evaluateAll((tiles) => tiles.map((t) => t.title));
  await page.locator('.grid a.tile').first().click();
  await title().filter({ hasText: names[0] }).waitFor();
  await dialog().locator('img.preview.ready').waitFor();
  return names;
}

test('the photo fills the width of a phone, with its details in a sheet that opens', async () => {
  await openFirstPhoto();
  const stage = await page.getByTestId('media-stage').boundingBox();
  const photo = await dialog().locator('img.preview').boundingBox();
  assert.ok(photo.width >= PHONE.width - 1, `photo ${photo.width} px wide`);
  assert.ok(stage.height >= PHONE.height * 0.9, `stage ${stage.height} px high`);
  const sheet = page.getByTestId('details-sheet');
  assert.equal(await sheet.getAttribute('data-open'), 'false');
  const peek = await sheet.boundingBox();
  assert.ok(PHONE.height - peek.y < 120, `the closed sheet shows ${PHONE.height - peek.y} px`);
  await screenshots(page, 'lightbox');
  await page.setViewportSize(PHONE);
  await page.getByRole('button', { name: 'Show details' }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid=details-sheet]')?.dataset.open === 'true');
  await page.waitForTimeout(400); // the sheet slides up
  const open = await sheet.boundingBox();
  assert.ok(open.y < PHONE.height * 0.4, `the open sheet starts at ${open.y} px`);
  await dialog().getByText('Camera').first().waitFor({ state: 'visible' });
  await page.screenshot({ path: `${env('HACHI_SCREENSHOTS')}/lightbox-sheet-375.png` });
  await page.getByRole('button', { name: 'Hide details' }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid=details-sheet]')?.dataset.open === 'false');
});

test('a swipe left shows the next photo, a swipe right the previous one', async () => {
  const names = await openFirstPhoto();
  await gesture([[{ x: 320, y: 400 }, { x: 60, y: 410 }]]);
  await title().filter({ hasText: names[1] }).waitFor();
  await dialog().locator('img.preview.ready').waitFor();
  await gesture([[{ x: 60, y: 400 }, { x: 320, y: 395 }]]);
  await title().filter({ hasText: names[0] }).waitFor();
  // a short, slow drag springs back: still the same photo
  await dialog().locator('img.preview.ready').waitFor();
  await gesture([[{ x: 200, y: 400 }, { x: 170, y: 400 }]], 600);
  await page.waitForTimeout(400);
  assert.equal(await title().textContent(), names[0]);
});

test('pinch zooms in, double tap zooms out and back in', async () => {
  await openFirstPhoto();
  assert.equal(await scale(), 1);
  await gesture([
    [{ x: 160, y: 400 }, { x: 90, y: 400 }],
    [{ x: 215, y: 400 }, { x: 285, y: 400 }],
  ], 200);
  const pinched = await scale();
  assert.ok(pinched > 2.5 && pinched <= 4, `scale ${pinched} after the pinch`);
  // a one-finger drag now pans, and does not step to another photo
  const before = await title().textContent();
  await gesture([[{ x: 300, y: 400 }, { x: 100, y: 400 }]]);
  await page.waitForTimeout(300);
  assert.equal(await title().textContent(), before);
  await doubleTap({ x: 187, y: 400 });
  await page.waitForFunction(() => document.querySelector('[data-testid=media-stage]').dataset.scale === '1.000');
  await page.waitForTimeout(100);
  await doubleTap({ x: 187, y: 400 });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=media-stage]').dataset.scale) > 2);
  await page.keyboard.press('0');
  await page.waitForFunction(() => document.querySelector('[data-testid=media-stage]').dataset.scale === '1.000');
  await page.keyboard.press('+');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=media-stage]').dataset.scale) > 1);
});

test('a swipe down closes the photo', async () => {
  await openFirstPhoto();
  await gesture([[{ x: 187, y: 250 }, { x: 190, y: 650 }]], 160);
  await dialog().waitFor({ state: 'detached' });
  assert.equal(new URL(page.url()).pathname, '/');
});

test('a bottom tab bar on a phone, with More for the rest; none on a desktop', async () => {
  await page.goto('/people');
  const tabbar = page.getByTestId('tabbar');
  await tabbar.waitFor({ state: 'visible' });
  const box = await tabbar.boundingBox();
  assert.ok(box.y + box.height >= PHONE.height - 1, 'at the bottom');
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), false);
  const people = tabbar.getByRole('link', { name: 'People' });
  assert.equal(await people.getAttribute('aria-current'), 'page');
  await tabbar.getByRole('button', { name: 'More' }).click();
  await tabbar.getByRole('link', { name: 'Folders' }).click();
  await page.waitForURL((url) => url.pathname === '/folders');
  assert.equal(await tabbar.getByRole('link', { name: 'Folders' }).isVisible(), false, 'More closes on navigation');
  await screenshots(page, 'tabbar');
  await page.setViewportSize(DESKTOP);
  assert.equal(await tabbar.isVisible(), false);
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).isVisible(), true);
  await page.setViewportSize(PHONE);
});

// A POST from the page itself, so it carries the page's Origin as the app's own do.
function post(url, body) {
  return page.evaluate(async ({ url, body }) => {
    const response = await fetch(url, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body ?? {}),
    });
    return { status: response.status, text: await response.text() };
  }, { url, body });
}

async function firstPerson() {
  return (await (await page.request.get('/api/people')).json()).people[0];
}

test('Undo in the toast after a rename brings the old name back', async () => {
  const person = await firstPerson();
  await page.goto('/people');
  const card = page.locator(`.people .person[data-person-id="${person.id}"]`);
  await card.getByRole('button', { name: /Rename|add a name/ }).click();
  const input = card.getByRole('textbox');
  await input.fill('Toast Tester');
  await input.press('Enter');
  const toast = page.getByTestId('toast').filter({ hasText: 'Renamed to Toast Tester.' });
  await toast.waitFor();
  const renamed = await (await page.request.get(`/api/people/${person.id}`)).json();
  assert.equal(renamed.name, 'Toast Tester');
  await screenshots(page, 'toast');
  await page.setViewportSize(PHONE);
  await toast.getByRole('button', { name: 'Undo' }).click();
  await page.getByTestId('toast').filter({ hasText: /again/ }).waitFor();
  const restored = await (await page.request.get(`/api/people/${person.id}`)).json();
  assert.equal(restored.name, person.name);
  await card.getByRole('button', { name: person.name ? `Rename ${person.name}` : 'Unnamed: add a name' }).waitFor();
});

test('Undo in the toast after a merge brings the merged person back', async () => {
  const before = (await (await page.request.get('/api/people')).json()).people;
  const [source, target] = before;
  await page.goto('/people');
  await page.locator(`#merge-${source.id}`).click();
  await page.locator('#merge-chooser-input').fill(target.name ?? '');
  await page.locator(`#merge-chooser-list [role=option]`).first().waitFor();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.locator('#merge-confirm').click();
  const toast = page.getByTestId('toast').filter({ hasText: /^Merged/ });
  await toast.waitFor();
  assert.equal((await page.request.get(`/api/people/${source.id}`)).status(), 404);
  await toast.getByRole('button', { name: 'Undo' }).click();
  await page.locator(`.people .person[data-person-id="${source.id}"]`).waitFor();
  const after = (await (await page.request.get('/api/people')).json()).people;
  const faces = (list) => Object.fromEntries(list.map((p) => [p.id, p.faces]));
  assert.deepEqual(faces(after), faces(before));
});

test('Undo after "Not this person" and after Hide puts the face and the person back', async () => {
  const person = await firstPerson();
  await page.goto(`/people/${person.id}`);
  const faces = page.locator('.faces .face');
  await faces.first().waitFor();
  const before = await faces.count();
  await faces.first().getByRole('button', { name: 'Not this person' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('.faces .face').length === n - 1, before);
  const toast = page.getByTestId('toast').filter({ hasText: /removed from/ });
  await toast.getByRole('button', { name: 'Undo' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('.faces .face').length === n, before);
  assert.equal((await (await page.request.get(`/api/people/${person.id}`)).json()).faces, person.faces);
  await page.getByRole('button', { name: 'Hide', exact: true }).click();
  const hidden = page.getByTestId('toast').filter({ hasText: /is hidden\./ });
  await hidden.getByRole('button', { name: 'Undo' }).click();
  await page.getByRole('button', { name: 'Hide', exact: true }).waitFor();
  assert.equal((await (await page.request.get(`/api/people/${person.id}`)).json()).hidden, false);
});

test('an unknown face is named right from its box on the photo', async () => {
  const person = await firstPerson();
  const [face] = (await (await page.request.get(`/api/people/${person.id}/faces`)).json()).faces;
  const rejected = await post(`/api/faces/${face.id}/reject`);
  assert.equal(rejected.status, 200, rejected.text);
  await page.setViewportSize(DESKTOP);
  await page.goto(`/photo/${face.photo_id}`);
  await dialog().locator('img.preview.ready').waitFor();
  const box = dialog().locator(`button[data-face-id="${face.id}"]`);
  await box.click();
  const chooser = page.getByRole('combobox', { name: 'Name this face' });
  await chooser.waitFor();
  await chooser.fill('Boxed Person');
  await chooser.press('Enter');
  await page.getByTestId('toast').filter({ hasText: 'This is Boxed Person.' }).waitFor();
  await dialog().getByRole('link', { name: 'Photos of Boxed Person' }).waitFor();
  const named = await (await page.request.get(`/api/photos/${face.photo_id}`)).json();
  assert.equal(named.faces.find((f) => f.id === face.id).person_name, 'Boxed Person');
  await page.keyboard.press('Escape');
  await page.setViewportSize(PHONE);
});

test('the nav shows indexing as it runs, on any page, and links to Folders', async () => {
  const added = await post('/api/folders', { path: SLOW_FOLDER });
  assert.equal(added.status, 201, added.text);
  await page.goto('/people');
  const sign = page.getByTestId('indexing-indicator');
  await sign.waitFor({ timeout: 10000 });
  assert.match(await sign.textContent(), /\d+%/);
  assert.equal(await sign.getAttribute('href'), '/folders');
  const spinner = sign.getByTestId('spinner'); // the same spinner as "Searching…"
  assert.equal(await spinner.getAttribute('aria-hidden'), 'true');
  const turning = await spinner.evaluate((el) => getComputedStyle(el).animationName);
  const searching = await page.evaluate(() => [...document.styleSheets]
    .flatMap((sheet) => [...sheet.cssRules])
    .filter((rule) => rule instanceof CSSKeyframesRule && /rotate\(360deg\)/.test(rule.cssText))
    .map((rule) => rule.name));
  assert.deepEqual(searching, [turning]);
  await screenshots(page, 'indexing-indicator');
  await sign.waitFor({ state: 'detached', timeout: 120000 });
});

test('no console errors or CSP violations', () => {
  assert.deepEqual(session.problems, []);
});
