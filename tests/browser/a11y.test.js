// Accessibility: axe-core on every page, at phone and desktop widths, in the light and the
// dark theme (prefers-color-scheme), failing on any violation; then the keyboard paths axe
// cannot see: the skip link, focus kept inside the open photo and given back when it
// closes. Per-page results land in artifacts/a11y.json.
// Run by tests/test_browser.py on a small library with face photos (People has content).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser } from './harness.js';

// The page's CSP forbids inline scripts, and addScriptTag({ path }) inlines; evaluating the
// source through the DevTools protocol is not subject to the CSP.
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SIZES = [
  { width: 375, height: 812 },
  { width: 1440, height: 900 },
];
const SCHEMES = ['light', 'dark'];
const TAB_PRESSES = 40;
const SHOWN_NODES = 3; // per rule, in a failure message

let session;
let page;
const results = [];

before(async () => {
  session = await openBrowser();
  page = session.page;
});

after(async () => {
  const dir = env('HACHI_ARTIFACTS');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'a11y.json'), JSON.stringify(results, null, 2) + '\n');
  await session?.close();
});

async function axe() {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    // Every rule axe runs by default, plus WCAG 2.2's 24 px target size (off by default).
    const rules = { 'target-size': { enabled: true } };
    const found = await window.axe.run(document, { resultTypes: ['violations'], rules });
    return found.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
    }));
  });
}

// Opens `url` at every size and scheme, waits for `ready`, runs axe; returns the failures.
async function audit(name, url, ready) {
  const failures = [];
  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
    for (const size of SIZES) {
      await page.setViewportSize(size);
      await page.goto(typeof url === 'function' ? url() : url);
      await ready();
      await page.waitForLoadState('networkidle');
      const violations = await axe();
      results.push({ page: name, width: size.width, scheme, violations: violations.length,
                     rules: violations.map((v) => `${v.id} ×${v.nodes.length}`) });
      for (const v of violations) {
        const more = v.nodes.length > SHOWN_NODES ? `\n    … and ${v.nodes.length - SHOWN_NODES} more` : '';
        failures.push(`${name} ${size.width}px ${scheme}: ${v.id} (${v.impact}) ${v.help}\n    ${v.nodes.slice(0, SHOWN_NODES).join('\n    ')}${more}`);
      }
    }
  }
  return failures;
}

const checkPage = (name, url, ready) => test(`axe finds nothing on ${name}`, async () => {
  const failures = await audit(name, url, ready);
  assert.deepEqual(failures, [], failures.join('\n'));
});

const visible = (selector) => () => page.locator(selector).first().waitFor();
let photoId;
let personId;

checkPage('login', '/login', visible('input[type=password]'));

test('logging in', async () => {
  await logIn(page);
  await page.waitForURL((url) => url.pathname === '/');
  const people = (await (await page.request.get('/api/people')).json()).people;
  assert.ok(people.length > 0, 'the face photos make people');
  personId = people[0].id;
  await page.locator('.grid a.tile').first().waitFor();
  photoId = Number((await page.locator('.grid a.tile').first().getAttribute('href')).match(/\/photo\/(\d+)/)[1]);
});

checkPage('search', '/?q=sort%3Aoldest', visible('.grid a.tile img'));
// The library's home: "On this day" (its photo of 2020-05-01, a year before ?today=) above
// the timeline, its headers and its scrubber.
checkPage('home', '/?today=2021-05-01', visible('[data-testid=on-this-day] a img'));
checkPage('photo', () => `/photo/${photoId}?q=sort%3Aoldest`, visible('.viewer img.preview.ready'));
checkPage('people', '/people', visible('.people .person'));
checkPage('person', () => `/people/${personId}`, visible('.faces .face'));
checkPage('folders', '/folders', visible('ul.folders li'));
checkPage('places', '/places', visible('.cards a'));
checkPage('years', '/years', visible('.cards a'));
checkPage('places-country', '/places?country=France', visible('.cards a'));
checkPage('account', '/account', visible('main h1'));
checkPage('map', '/map', visible('[data-testid=map][data-ready=true] .cluster'));
checkPage('api', '/docs/api', visible('[data-testid=operation]'));
checkPage('duplicates', '/duplicates', visible('.duplicates .groups, .duplicates .empty'));
test('making albums', async () => {
  const origin = new URL(env('HACHI_UI_URL')).origin;
  for (const data of [{ name: 'Holiday' }, { name: 'Oldest', query: 'sort:oldest' }]) {
    const made = await page.request.post('/api/albums', { data, headers: { Origin: origin } });
    assert.equal(made.status(), 201, await made.text());
  }
});
checkPage('albums', '/albums', visible('.albums .album'));
checkPage('search-selection', '/?q=sort%3Aoldest', async () => {
  await page.getByTestId('select-box').first().click();
  await page.getByTestId('selection-bar').waitFor();
});
// States a visit alone does not reach: the open autocomplete, a query error, the 404s.
const searchInput = () => page.getByRole('combobox', { name: 'Search photos' });
checkPage('search-suggestions', '/', async () => {
  await page.locator('.grid a.tile').first().waitFor();
  await searchInput().pressSequentially('place:par');
  await page.getByRole('option', { name: /Paris/ }).waitFor();
});
checkPage('search-error', '/?q=beach%20bogus%3A1', () =>
  page.getByRole('alert').filter({ hasText: 'unknown filter' }).waitFor());
checkPage('photo-missing', '/photo/99999', visible('.viewer [role=alert]'));
checkPage('not-found', '/no-such-page', visible('main h1'));

async function focused() {
  return page.evaluate(() => {
    const el = document.activeElement;
    return { tag: el?.tagName ?? null, id: el?.id ?? '', inViewer: !!el?.closest('.viewer'), href: el?.getAttribute?.('href') ?? null };
  });
}

for (const [where, url, ready] of [
  ['People', '/people', '.people .person'],
  ['Search with a query', '/?q=sort%3Aoldest', '.grid a.tile'],
]) {
  test(`the skip link moves focus to the main content (${where}), leaving the URL alone`, async () => {
    await page.setViewportSize(SIZES[1]);
    await page.goto(url);
    await page.locator(ready).first().waitFor();
    const before = page.url();
    const skip = page.getByRole('link', { name: 'Skip to content' });
    if (await page.evaluate(() => document.activeElement === document.body)) {
      await page.keyboard.press('Tab');
      assert.equal(await skip.evaluate((el) => el === document.activeElement), true, 'the first Tab reaches the skip link');
    }
    for (let time = 0; time < 2; time += 1) { // and again: a second use works too
      await skip.focus();
      await page.keyboard.press('Enter');
      assert.equal((await focused()).id, 'main');
      assert.equal(page.url(), before, 'no #main in the URL, no navigation');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => !!document.activeElement.closest('main')), true, 'the next Tab is inside main');
    }
  });
}

test('the × of every filter chip is a target of at least 24 × 24 px', async () => {
  await page.goto('/?q=sort%3Aoldest%20year%3A2020');
  const buttons = page.locator('.chip-remove');
  await buttons.first().waitFor();
  for (const size of SIZES) {
    await page.setViewportSize(size);
    for (const box of await buttons.evaluateAll((els) => els.map((el) => el.getBoundingClientRect().toJSON()))) {
      assert.ok(box.width >= 24 && box.height >= 24, `${size.width}px: ${box.width} × ${box.height}`);
    }
  }
});

test('Tab stays inside the open photo; Escape gives focus back to the tile that opened it', async () => {
  await page.goto('/?q=sort%3Aoldest');
  const tile = page.locator('.grid a.tile').nth(1);
  await tile.waitFor();
  const href = await tile.getAttribute('href');
  await tile.focus();
  await page.keyboard.press('Enter');
  await page.locator('.viewer img.preview.ready').waitFor();
  for (let i = 0; i < TAB_PRESSES; i += 1) {
    await page.keyboard.press('Tab');
    const where = await focused();
    assert.ok(where.inViewer, `Tab ${i + 1} left the viewer for ${JSON.stringify(where)}`);
  }
  for (let i = 0; i < TAB_PRESSES; i += 1) {
    await page.keyboard.press('Shift+Tab');
    assert.ok((await focused()).inViewer, `Shift+Tab ${i + 1} left the viewer`);
  }
  await page.keyboard.press('Escape');
  await page.locator('.viewer').waitFor({ state: 'detached' });
  await page.waitForFunction((h) => document.activeElement?.getAttribute('href') === h, href);
});

test('Escape gives focus back to the tile after stepping to another photo', async () => {
  const tile = page.locator('.grid a.tile').first();
  await tile.focus();
  await page.keyboard.press('Enter');
  await page.locator('.viewer img.preview.ready').waitFor();
  // the open viewer holds focus (else the grid behind it would take the arrow key)
  await page.waitForFunction(() => document.activeElement?.closest('.viewer') != null);
  await page.keyboard.press('ArrowRight');
  await page.locator('.viewer .position', { hasText: /^2 \// }).waitFor();
  await page.keyboard.press('Escape');
  await page.locator('.viewer').waitFor({ state: 'detached' });
  const second = await page.locator('.grid a.tile').nth(1).getAttribute('href');
  await page.waitForFunction((h) => document.activeElement?.getAttribute('href') === h, second);
});

test('Merge: focus follows the chooser, the confirmation and the merged person', async () => {
  await page.goto('/people');
  const cards = page.locator('.people .person');
  await cards.nth(1).waitFor();
  const source = await cards.nth(0).getAttribute('data-person-id');
  const target = await cards.nth(1).getAttribute('data-person-id');
  await page.locator(`#merge-${source}`).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'merge-chooser-input');
  const failures = (await axe()).map((v) => `${v.id}: ${v.nodes.join('; ')}`);
  assert.deepEqual(failures, [], 'axe on the open chooser');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'merge-confirm');
  await page.keyboard.press('Enter');
  await page.locator(`.people .person[data-person-id="${source}"]`).waitFor({ state: 'detached' });
  await page.waitForFunction((id) => document.activeElement?.closest('.person')?.dataset.personId === id, target);
});

test('Forget…: focus goes to Keep, back to Forget…, then on past the forgotten folder', async () => {
  await page.goto('/folders');
  const forget = page.getByRole('button', { name: /^Forget folder / }).first();
  await forget.waitFor();
  const id = (await forget.getAttribute('id')).replace('forget-', '');
  await forget.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction((i) => document.activeElement?.id === `keep-${i}`, id);
  const failures = (await axe()).map((v) => `${v.id}: ${v.nodes.join('; ')}`);
  assert.deepEqual(failures, [], 'axe on the confirmation');
  await page.keyboard.press('Enter');
  await page.waitForFunction((i) => document.activeElement?.id === `forget-${i}`, id);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Yes, forget it');
  await page.keyboard.press('Enter');
  await page.locator(`#forget-${id}`).waitFor({ state: 'detached' });
  await page.waitForFunction(() => document.activeElement !== document.body && !!document.activeElement?.closest('main'));
});

test('no console errors or CSP violations on any page', () => {
  assert.deepEqual(session.problems, []);
});
