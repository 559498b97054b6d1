// End-to-end: the real Hachi server behind the real Caddy, driven through Chromium.
// Run by tests/test_browser.py, which builds the library and passes its facts in env vars.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, openBrowser, screenshots } from './harness.js';

const PASSWORD = env('HACHI_TEST_PASSWORD');
const NASTY = env('HACHI_NASTY_NAME');
const ADD_FOLDER = env('HACHI_ADD_FOLDER');
const TOTAL = Number(env('HACHI_EXPECT_TOTAL'));
const CANON = Number(env('HACHI_EXPECT_CANON'));
const ADDED = Number(env('HACHI_EXPECT_ADDED'));
const JOB_TIMEOUT_MS = 60_000;

let session;
let page;

before(async () => {
  session = await openBrowser();
  page = session.page;
});

after(async () => {
  await session?.close();
});

const resultCount = () => page.getByTestId('result-count');
const searchInput = () => page.getByRole('combobox', { name: 'Search photos' });

test('an anonymous visitor is sent to the login page; a wrong password is refused', async () => {
  await page.goto('/');
  await page.waitForURL(/\/login\?next=/);
  await screenshots(page, 'login');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'wrong password' }).waitFor();
});

test('logging in shows the whole library, newest first', async () => {
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => url.pathname === '/');
  await resultCount().filter({ hasText: `${TOTAL} photos` }).waitFor();
  const tiles = await page.locator('.grid a.tile').count();
  assert.equal(tiles, TOTAL);
  await page.getByText('semantic search is off').first().waitFor();
});

test('a typed filter becomes a removable chip and narrows the results', async () => {
  await searchInput().click();
  await searchInput().pressSequentially('camera:canon ');
  const chip = page.locator('.chip', { hasText: 'camera:canon' });
  await chip.waitFor();
  assert.equal(await searchInput().inputValue(), '');
  await searchInput().press('Enter');
  await page.waitForURL(/q=camera%3Acanon/);
  await resultCount().filter({ hasText: `${CANON} photos` }).waitFor();
  await screenshots(page, 'search');
  await page.getByRole('button', { name: 'Remove filter camera:canon' }).click();
  assert.equal(await chip.count(), 0);
});

test('autocomplete turns a place prefix into a chip with the keyboard', async () => {
  await searchInput().fill('');
  await searchInput().pressSequentially('place:par');
  const option = page.getByRole('option', { name: /Paris/ });
  await option.waitFor();
  await searchInput().press('ArrowDown');
  assert.equal(await option.getAttribute('aria-selected'), 'true');
  await searchInput().press('Enter');
  await page.locator('.chip', { hasText: 'place:Paris' }).waitFor();
  await searchInput().press('Enter');
  await page.waitForURL(/q=place%3AParis/);
  const count = Number((await resultCount().textContent()).split(' ')[0]);
  assert.ok(count > 0 && count < TOTAL, `place:Paris should match some photos, got ${count}`);
});

test('a malformed query underlines the offending token', async () => {
  await page.goto('/');
  await resultCount().filter({ hasText: `${TOTAL} photos` }).waitFor();
  await searchInput().fill('beach bogus:1');
  await searchInput().press('Enter');
  const squiggle = page.locator('.squiggle');
  await squiggle.waitFor();
  assert.equal(await squiggle.textContent(), 'bogus:');
  await page.getByRole('alert').filter({ hasText: 'unknown filter' }).waitFor();
  assert.equal(await searchInput().getAttribute('aria-invalid'), 'true');
  await screenshots(page, 'query-error');
  // A bad value inside a chip marks the chip instead.
  await searchInput().fill('after:2019-13');
  await searchInput().press('Enter');
  await page.locator('.chip.bad', { hasText: 'after:2019-13' }).waitFor();
});

test('the photo view steps through the results with the arrow keys', async () => {
  await page.goto('/?q=sort%3Aoldest');
  await resultCount().filter({ hasText: `${TOTAL} photos` }).waitFor();
  const names = await page.locator('.grid a.tile').evaluateAll((tiles) => tiles.map((t) => t.title));
  await page.locator('.grid a.tile').first().click();
  const dialog = page.getByRole('dialog');
  const title = dialog.locator('#photo-title');
  await title.filter({ hasText: names[0] }).waitFor();
  await dialog.getByText('Camera').first().waitFor();
  await dialog.locator('img.preview.ready').waitFor();
  await screenshots(page, 'photo');
  await page.keyboard.press('ArrowRight');
  await title.filter({ hasText: names[1] }).waitFor();
  await page.keyboard.press('ArrowRight');
  await title.filter({ hasText: names[2] }).waitFor();
  await page.keyboard.press('ArrowLeft');
  await title.filter({ hasText: names[1] }).waitFor();
  assert.match(page.url(), /\/photo\/\d+\?q=sort%3Aoldest/);
  const download = dialog.getByRole('link', { name: 'Download original' });
  assert.match(await download.getAttribute('href'), /^\/api\/photos\/\d+\/original$/);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(new URL(page.url()).pathname, '/');
});

test('the grid is usable with the keyboard alone, with a visible focus ring', async () => {
  await page.locator('.grid a.tile').first().focus();
  await page.keyboard.press('ArrowRight');
  const focused = await page.evaluate(() => document.activeElement.closest('[data-index]')?.dataset.index);
  assert.equal(focused, '1');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Shift+Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await page.keyboard.press('Enter');
  await page.getByRole('dialog').waitFor();
  await page.keyboard.press('Escape');
});

test('a file named like HTML renders as plain text and runs nothing', async () => {
  await page.goto(`/?q=${encodeURIComponent('file:onerror')}`);
  await resultCount().filter({ hasText: '1 photo' }).waitFor();
  const tile = page.locator('.grid a.tile');
  assert.equal(await tile.getAttribute('title'), `${NASTY}.jpg`);
  await tile.click();
  const title = page.getByRole('dialog').locator('#photo-title');
  await title.filter({ hasText: `${NASTY}.jpg` }).waitFor();
  assert.equal(await title.textContent(), `${NASTY}.jpg`);
  const pathText = await page.getByRole('dialog').locator('dd', { hasText: `/${NASTY}.jpg` }).textContent();
  assert.ok(pathText.endsWith(`/${NASTY}.jpg`), pathText);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await page.keyboard.press('Escape');
});

test('adding a folder (named like HTML) shows live progress to the end and its failures', async () => {
  await page.goto('/folders');
  await page.getByLabel(/Add a folder of photos/).fill(ADD_FOLDER);
  await page.getByRole('button', { name: 'Add and index' }).click();
  const state = page.getByTestId('job-state');
  await state.waitFor();
  await state.filter({ hasText: 'Finished' }).waitFor({ timeout: JOB_TIMEOUT_MS });
  const processed = await page.getByTestId('job-processed').textContent();
  assert.match(processed, new RegExp(`^${ADDED + 1} of ${ADDED + 1} files`));
  // The added folder's own name is HTML-like: it must show literally, and run nothing.
  const folder = page.getByTestId('folder-path').filter({ hasText: ADD_FOLDER });
  assert.equal(await folder.textContent(), ADD_FOLDER);
  assert.ok(ADD_FOLDER.endsWith(NASTY));
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await page.getByRole('cell', { name: /broken\.jpg/ }).waitFor();
  await screenshots(page, 'folders');
  await page.goto('/');
  await resultCount().filter({ hasText: `${TOTAL + ADDED} photos` }).waitFor();
});

test('places and years pages are searches in one click', async () => {
  await page.goto('/places');
  await page.getByRole('link', { name: /Paris/ }).waitFor();
  await screenshots(page, 'places');
  await page.getByRole('link', { name: /Paris/ }).click();
  await page.locator('.chip', { hasText: 'place:Paris' }).waitFor();
  await page.goto('/years');
  const years = await page.locator('.cards a .name').allTextContents();
  assert.ok(years.length >= 2, 'several years expected');
  assert.deepEqual(years, [...years].sort().reverse());
  await screenshots(page, 'years');
  await page.getByRole('link', { name: new RegExp(years[0]) }).click();
  await page.locator('.chip', { hasText: `year:${years[0]}` }).waitFor();
});

test('nothing went wrong in the page along the way', () => {
  assert.deepEqual(session.problems, []);
});
