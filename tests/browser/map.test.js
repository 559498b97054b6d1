// The offline map: it draws the query's geotagged photos from shapes shipped in the bundle,
// clusters split as it zooms, a cluster click lists its photos, a drawn box becomes
// within:, a photo page shows its own small map, and no request leaves the served origin.
// Prints the map's bundle size and first-render time, saved to artifacts/map_perf.json.
// Run by tests/test_browser.py on a small library with photos in a few cities.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser, screenshots } from './harness.js';

const ORIGIN = new URL(env('HACHI_UI_URL')).origin;
const GEOTAGGED = Number(env('HACHI_EXPECT_GEOTAGGED'));
const PARIS = Number(env('HACHI_EXPECT_PARIS'));

let session;
let page;
const requests = [];
const figures = {};

before(async () => {
  session = await openBrowser();
  page = session.page;
  session.context.on('request', (request) => requests.push(request.url()));
});

after(async () => {
  const dir = env('HACHI_ARTIFACTS');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'map_perf.json'), JSON.stringify(figures, null, 2) + '\n');
  await session?.close();
});

const map = () => page.getByTestId('map');
const clusters = () => page.locator('[data-testid=map] .cluster');
const assetsLoaded = () => page.evaluate(() =>
  performance.getEntriesByType('resource')
    .filter((e) => e.name.includes('/assets/'))
    .map((e) => ({ name: e.name, encoded: e.encodedBodySize, decoded: e.decodedBodySize })));

async function photosOnMap() {
  return clusters().evaluateAll((els) => els.reduce((n, el) => n + Number(el.dataset.count), 0));
}

test('the map page draws every geotagged photo, lazily loaded, fast', async () => {
  await logIn(page);
  await page.waitForURL((url) => url.pathname === '/');
  await page.locator('.grid a.tile').first().waitFor();
  const before = new Set((await assetsLoaded()).map((e) => e.name));
  const started = Date.now();
  await page.getByRole('navigation').getByRole('link', { name: 'Map' }).click();
  await page.locator('[data-testid=map][data-ready=true] .cluster').first().waitFor();
  const shownMs = Date.now() - started;
  const chunk = (await assetsLoaded()).filter((e) => !before.has(e.name));
  assert.ok(chunk.some((e) => /world-.*\.js$/.test(e.name)), 'the map chunk loads on demand');
  figures.bundle_files = chunk.map((e) => path.basename(new URL(e.name).pathname));
  figures.bundle_bytes_decoded = chunk.reduce((n, e) => n + e.decoded, 0);
  figures.bundle_bytes_transferred = chunk.reduce((n, e) => n + e.encoded, 0);
  figures.first_render_ms_click_to_clusters = shownMs;
  figures.first_render_ms_page_script = Math.round(await page.evaluate(() => window.__hachiMap.firstRenderMs));
  console.log(`map bundle: ${figures.bundle_files.join(', ')}: ${figures.bundle_bytes_decoded} bytes ` +
              `(${figures.bundle_bytes_transferred} transferred)`);
  console.log(`map first render: ${shownMs} ms from the click to the clusters ` +
              `(${figures.first_render_ms_page_script} ms after the page's script started)`);
  await page.getByTestId('map-count').filter({ hasText: `${GEOTAGGED} photos on the map` }).waitFor();
  assert.equal(await photosOnMap(), GEOTAGGED);
  await screenshots(page, 'map');
});

test('the index page did not grow by the map: its shapes are only in the lazy chunk', async () => {
  const main = (await assetsLoaded()).filter((e) => /index-.*\.js$/.test(e.name));
  assert.equal(main.length, 1);
  figures.main_bundle_bytes_decoded = main[0].decoded;
  const text = await (await page.request.get(main[0].name)).text();
  assert.ok(!text.includes('"Polygon"') && !text.includes('geoMercator'), 'no map code in the main chunk');
});

test('clusters split as the map zooms in', async () => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('button', { name: 'Whole world' }).click();
  await page.waitForTimeout(100);
  const far = await clusters().count();
  const paris = page.locator('[data-testid=map] .cluster[aria-label*="48.8"]');
  await paris.first().waitFor();
  assert.equal(Number(await paris.first().getAttribute('data-count')), PARIS, 'Paris is one cluster from afar');
  await paris.first().click();
  await page.getByRole('heading', { name: `${PARIS} photos in this cluster` }).waitFor();
  assert.equal(await page.getByTestId('map-list').locator('li').count(), PARIS, 'the cluster opens as a grid');
  await page.waitForTimeout(100);
  const near = await clusters().count();
  assert.ok(near > 1, 'zoomed into Paris, its photos split into several clusters');
  assert.equal(await photosOnMap(), PARIS);
  figures.clusters_world = far;
  figures.clusters_zoomed_on_paris = near;
});

test('the keyboard pans and zooms the map', async () => {
  const list = page.getByTestId('map-list').locator('li');
  await page.getByRole('button', { name: 'Show all in view' }).click();
  await map().focus();
  const inView = await list.count();
  for (let i = 0; i < 6; i += 1) await page.keyboard.press('-');
  await page.waitForTimeout(100);
  assert.ok((await list.count()) >= inView);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'map');
});

test('drawing a box puts within: into the query and keeps only what is inside', async () => {
  await page.getByRole('button', { name: 'Whole world' }).click();
  await page.waitForTimeout(100);
  const paris = page.locator('[data-testid=map] .cluster[aria-label*="48.8"]').first();
  const box = await paris.boundingBox();
  await page.getByTestId('draw-area').click();
  await page.mouse.move(box.x - 8, box.y - 8);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 3 });
  await page.getByTestId('drawn-box').waitFor();
  await page.mouse.move(box.x + box.width + 8, box.y + box.height + 8, { steps: 3 });
  await page.mouse.up();
  await page.waitForURL(/\/map\?q=within%3A/);
  const q = new URL(page.url()).searchParams.get('q');
  assert.match(q, /^within:-?[\d.]+,-?[\d.]+,-?[\d.]+,-?[\d.]+$/);
  await page.getByTestId('map-count').filter({ hasText: `${PARIS} photos on the map` }).waitFor();
  const [south, west, north, east] = q.slice('within:'.length).split(',').map(Number);
  assert.ok(south < 48.86 && north > 48.86 && west < 2.35 && east > 2.35, q);
});

test('"Search this area" and the query bar keep other filters', async () => {
  await page.goto('/map?q=' + encodeURIComponent('camera:canon'));
  await page.locator('[data-testid=map][data-ready=true]').waitFor();
  await page.getByTestId('search-area').click();
  await page.waitForURL(/within%3A/);
  const q = new URL(page.url()).searchParams.get('q');
  assert.match(q, /^camera:canon within:/);
});

test('a geotagged photo shows its own small map', async () => {
  const points = await (await page.request.get('/api/search/points?q=')).json();
  const [id] = points.points[0];
  await page.goto(`/photo/${id}`);
  const mini = page.getByTestId('mini-map');
  await mini.waitFor();
  assert.ok(await mini.getByRole('img', { name: /Map: taken at/ }).isVisible());
  await page.waitForTimeout(200);
  await screenshots(page, 'photo-map');
});

test('no request left the served origin', async () => {
  assert.ok(requests.length > 10, 'requests were recorded');
  const elsewhere = requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') &&
                                             new URL(url).origin !== ORIGIN);
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(session.problems, []);
});
