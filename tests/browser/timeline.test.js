// The timeline and the justified grid, in Chromium against the real stack: rows that keep
// each photo's shape and fill the width, three landscapes a row on a phone, the 2x tile on a
// 2x screen, month and day headers in date order, the scrubber's jump, "On this day".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser, screenshots } from './harness.js';

const TOTAL = Number(env('HACHI_EXPECT_TOTAL'));
const TODAY = env('HACHI_TODAY');
const ON_THIS_DAY = env('HACHI_ON_THIS_DAY').split(',').sort();
const GAP = 4;

let session;
let page;

before(async () => {
  session = await openBrowser();
  page = session.page;
  await logIn(page);
  await page.locator(`.grid[data-count="${TOTAL}"]`).waitFor();
});

after(async () => {
  await session?.close();
});

const getJson = async (path) => (await page.request.get(path)).json();

// Every rendered tile: its photo, box on screen, and the photo's shape from the API.
async function tiles() {
  const hits = (await getJson(`/api/search?q=&limit=500`)).results;
  const byId = new Map(hits.map((h) => [String(h.id), h]));
  const boxes = await page.evaluate(() =>
    [...document.querySelectorAll('.grid .cell a.tile')].map((a) => {
      const r = a.getBoundingClientRect();
      return { id: a.getAttribute('href').match(/\/photo\/(\d+)/)[1], x: r.x, y: r.y, w: r.width, h: r.height };
    }),
  );
  return boxes.map((b) => ({ ...b, hit: byId.get(b.id) }));
}

// Tiles by row (same top), in order.
function rows(boxes) {
  const out = new Map();
  for (const b of boxes) {
    const key = Math.round(b.y);
    if (!out.has(key)) out.set(key, []);
    out.get(key).push(b);
  }
  return [...out.values()].map((row) => row.sort((a, b) => a.x - b.x));
}

async function gridWidth() {
  return page.evaluate(() => document.querySelector('.grid').getBoundingClientRect().width);
}

test('each tile keeps its photo\'s shape, and full rows fill the width', async () => {
  await page.setViewportSize({ width: 1920, height: 1080 });
  await page.goto('/?q=');
  await page.locator(`.grid[data-count="${TOTAL}"] a.tile`).first().waitFor();
  const boxes = await tiles();
  assert.ok(boxes.length >= 10, `${boxes.length} tiles rendered`);
  let checked = 0;
  for (const b of boxes) {
    const ratio = Math.min(3, Math.max(0.4, b.hit.width / b.hit.height));
    assert.ok(Math.abs(b.w / b.h - ratio) < 0.02, `${b.hit.name}: ${b.w}x${b.h}, photo ${b.hit.width}x${b.hit.height}`);
    checked += 1;
  }
  const width = await gridWidth();
  let full = 0;
  for (const row of rows(boxes)) {
    const used = row.reduce((s, b) => s + b.w, 0) + GAP * (row.length - 1);
    assert.ok(used <= width + 1, `a row overflows: ${used} > ${width}`);
    if (Math.abs(used - width) <= 1) full += 1;
    else assert.ok(row[0].h >= 200, 'only a day\'s last row is left short, at the target height');
  }
  await page.goto(`/?q=${encodeURIComponent('year:2023-03-05')}`); // one day of 12 photos
  await page.locator('.grid[data-count="12"] a.tile').first().waitFor();
  for (const row of rows(await tiles()).slice(0, -1)) {
    const used = row.reduce((s, b) => s + b.w, 0) + GAP * (row.length - 1);
    assert.ok(Math.abs(used - width) <= 1, `a full row is ${used} px of ${width}`);
    full += 1;
  }
  assert.ok(full >= 2, `${full} full rows`);
  console.log(`justified: ${checked} tiles checked, ${full} full rows at ${width} px`);
});

test('a 375 px phone gets at least three landscapes a row', async () => {
  await page.setViewportSize({ width: 375, height: 812 });
  await page.goto(`/?q=${encodeURIComponent('year:2023-03-05')}`);
  await page.locator('.grid[data-count="12"] a.tile').first().waitFor();
  const perRow = rows(await tiles()).map((r) => r.length);
  assert.ok(perRow.length >= 2, `rows: ${perRow}`);
  for (const n of perRow.slice(0, -1)) assert.ok(n >= 3, `rows on a phone: ${perRow}`);
  console.log(`phone rows of 3:2 photos: ${perRow.join(', ')}`);
  await page.setViewportSize({ width: 1920, height: 1080 });
});

test('a 2x screen gets the 2x tiles, a 1x screen the small ones', async () => {
  const sharp = await openBrowser({ deviceScaleFactor: 2 });
  try {
    await logIn(sharp.page);
    const img = sharp.page.locator('.grid a.tile img').first();
    await img.waitFor();
    await sharp.page.waitForFunction(() => document.querySelector('.grid a.tile img')?.complete);
    assert.match(await img.evaluate((el) => el.currentSrc), /\.grid2x\.webp$/);
    assert.deepEqual(sharp.problems, []);
  } finally {
    await sharp.close();
  }
  await page.goto('/');
  const img = page.locator('.grid a.tile img').first();
  await page.waitForFunction(() => document.querySelector('.grid a.tile img')?.complete);
  assert.match(await img.evaluate((el) => el.currentSrc), /\.grid\.webp$/);
});

async function headerDays() {
  return page.evaluate(() => ({
    months: [...document.querySelectorAll('h2.month')].map((h) => h.dataset.day.slice(0, 7)),
    days: [...document.querySelectorAll('.day[data-day]')].map((h) => h.dataset.day),
    texts: [...document.querySelectorAll('h2.month')].map((h) => h.textContent),
  }));
}

test('month and day headers follow the order of the results', async () => {
  await page.goto('/');
  await page.locator('h2.month').first().waitFor();
  const newest = await headerDays();
  assert.ok(newest.months.length >= 5, `${newest.months.length} months`);
  assert.deepEqual(newest.months, [...new Set(newest.months)].sort().reverse());
  assert.deepEqual(newest.days, [...newest.days].sort().reverse());
  assert.equal(newest.days[0], '2024-07-14');
  assert.match(newest.texts[0], /2024/);
  await page.goto(`/?q=${encodeURIComponent('sort:oldest')}`);
  await page.locator('.grid[data-q="sort:oldest"]').waitFor();
  const oldest = await headerDays();
  assert.deepEqual(oldest.days, [...oldest.days].sort());
  assert.equal(oldest.days[0], '2019-07-14');
  await page.goto(`/?q=${encodeURIComponent('busy')}`); // ranked by relevance: no timeline
  await page.locator('.grid[data-q="busy"] a.tile').first().waitFor();
  assert.equal(await page.locator('h2.month').count(), 0);
  assert.equal(await page.getByTestId('scrubber').count(), 0);
  await screenshots(page, 'grid');
});

test('the scrubber jumps to a year and shows its months', async () => {
  await page.setViewportSize({ width: 1920, height: 600 });
  await page.goto('/');
  await page.locator('h2.month').first().waitFor();
  const scrubber = page.getByRole('navigation', { name: 'Timeline' });
  await scrubber.getByRole('button', { name: '2020', exact: true }).click();
  await page.waitForFunction(() => {
    const top = [...document.querySelectorAll('.grid .cell a.tile')]
      .find((a) => a.getBoundingClientRect().top >= 0);
    return top && /, 2020-/.test(top.getAttribute('aria-label'));
  });
  assert.equal(await scrubber.locator('button[aria-current="true"].year').textContent(), '2020');
  const months = await scrubber.locator('button.month').evaluateAll((bs) => bs.map((b) => b.dataset.month));
  assert.ok(months.length >= 2 && months.every((m) => m.startsWith('2020-')), `months: ${months}`);
  await scrubber.locator(`button.month[data-month="${months[months.length - 1]}"]`).click();
  await page.waitForFunction((month) => {
    const top = [...document.querySelectorAll('.grid .cell a.tile')]
      .find((a) => a.getBoundingClientRect().top >= 0);
    return top && top.getAttribute('aria-label').includes(`, ${month}-`);
  }, months[months.length - 1]);
  await page.setViewportSize({ width: 1920, height: 1080 });
  await scrubber.getByRole('button', { name: '2022', exact: true }).click();
  await scrubber.locator('button.month[data-month="2022-05"]').click();
  await page.locator('.day[data-day="2022-05-17"]').waitFor();
  await screenshots(page, 'timeline-scrolled');
});

test('"On this day" shows past years\' photos of today\'s date, not this year\'s', async () => {
  await page.goto(`/?today=${TODAY}`);
  const strip = page.getByTestId('on-this-day');
  await strip.waitFor();
  assert.equal(await strip.getAttribute('data-query'), `day:${TODAY.slice(5)} before:${TODAY.slice(0, 4)}`);
  const labels = await strip.locator('li a').evaluateAll((as) => as.map((a) => a.getAttribute('aria-label')));
  assert.deepEqual(labels.map((l) => l.split(',')[0]).sort(), ON_THIS_DAY);
  assert.ok(labels.some((l) => l.endsWith('1 year ago')) && labels.some((l) => l.endsWith('5 years ago')));
  await page.locator('.grid a.tile').first().waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshots(page, 'timeline');
  await page.goto('/?today=2024-02-30'); // not a date: the browser's own today, no error
  await page.locator('.grid a.tile').first().waitFor();
});

test('nothing went wrong in the page along the way', () => {
  assert.deepEqual(session.problems, []);
});
