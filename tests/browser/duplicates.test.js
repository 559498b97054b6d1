// The Duplicates page and stacked search results, on a library of generated scenes and their
// edits and bursts (tests/duplicate_holdout.py). Run by tests/test_browser.py.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser, screenshots } from './harness.js';

const MIN_GROUPS = Number(env('HACHI_EXPECT_GROUPS'));
const TOTAL = Number(env('HACHI_EXPECT_TOTAL'));

let session;
let page;
let listed; // /api/duplicates as the page's session sees it

before(async () => {
  session = await openBrowser();
  page = session.page;
  await logIn(page);
  await page.waitForURL((url) => url.pathname === '/');
});

after(async () => {
  if (session) assert.deepEqual(session.problems, []);
  await session?.close();
});

const getJson = async (path) => (await page.request.get(path)).json();

test('the Duplicates page shows every group side by side, its keeper marked and why', async () => {
  listed = await getJson('/api/duplicates');
  assert.ok(listed.groups.length >= MIN_GROUPS, `${listed.groups.length} groups`);
  await page.getByRole('link', { name: 'Duplicates' }).click();
  await page.getByRole('heading', { name: 'Duplicates', level: 1 }).waitFor();
  await page.locator('.group').first().waitFor();
  assert.equal(await page.locator('.group').count(), listed.groups.length);
  for (const group of listed.groups) {
    const shown = page.locator(`.group[data-group="${group.id}"]`);
    assert.equal(await shown.locator('.photo').count(), group.photos.length);
    const keeper = shown.locator('.photo.keep');
    assert.equal(await keeper.count(), 1);
    assert.equal(Number(await keeper.getAttribute('data-photo')), group.keep);
    assert.match(await keeper.innerText(), /Keep/);
    assert.match(await shown.getByRole('heading').innerText(), new RegExp(group.why_keep.slice(0, 20).replace(/[()]/g, '.')));
  }
  // Facts that tell the copies apart stand out: the resized copy's resolution, for one.
  assert.ok((await page.locator('.group .differs').count()) > 0);
  await page.getByTestId('duplicates-summary').filter({ hasText: `${listed.redundant} redundant` }).waitFor();
  await screenshots(page, 'duplicates');
});

test('the redundant paths export as CSV: every redundant photo, no keeper', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export redundant paths (CSV)' }).click(),
  ]);
  const lines = readFileSync(await download.path(), 'utf8').trim().split(/\r\n/);
  assert.equal(lines[0], 'path,id,group,kind,keep_id,keep_path,why_keep');
  assert.equal(lines.length - 1, listed.redundant);
  const ids = new Set(lines.slice(1).map((line) => Number(line.split(',')[1])));
  for (const group of listed.groups) {
    assert.ok(!ids.has(group.keep));
    for (const id of group.redundant) assert.ok(ids.has(id));
  }
  const [json] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'JSON' }).click(),
  ]);
  const body = JSON.parse(readFileSync(await json.path(), 'utf8'));
  assert.equal(body.redundant.length, listed.redundant);
});

test('search stacks each group into one tile with its count; stack:off shows every photo', async () => {
  await page.goto('/');
  const stacked = await getJson('/api/search?q=&limit=500');
  assert.equal(stacked.total, TOTAL - listed.redundant);
  await page.getByTestId('result-count').filter({ hasText: `${stacked.total} photos` }).waitFor();
  const badges = page.locator('.grid .stack-badge');
  await badges.first().waitFor();
  assert.equal(await badges.count(), listed.groups.length);
  const sizes = listed.groups.map((g) => `×${g.photos.length}`).sort();
  assert.deepEqual((await badges.allInnerTexts()).sort(), sizes);
  // The copies inside stacks are counted beside the tiles, so the numbers add up.
  const copies = `${listed.redundant} ${listed.redundant === 1 ? 'copy' : 'copies'} stacked`;
  await page.getByTestId('stacked-count').filter({ hasText: copies }).waitFor();
  await page.getByRole('link', { name: 'Show every photo' }).click();
  await page.getByTestId('result-count').filter({ hasText: `${TOTAL} photos` }).waitFor();
  assert.equal(new URL(page.url()).searchParams.get('q'), 'stack:off');
  assert.equal(await page.locator('.grid .stack-badge').count(), 0);
});
