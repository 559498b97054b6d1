// Honest counts and states (issue 16): place counts that equal what a click finds, a busy
// state while a slow search runs, a missing photo said so, dates and notices in words, and
// a folder picker that opens at the typed path and marks indexed folders.
// Run by tests/test_browser.py on the small library, after ui.test.js.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser, screenshots } from './harness.js';

const LIBRARY = env('HACHI_LIBRARY');
let session;
let page;

const resultCount = () => page.getByTestId('result-count');

before(async () => {
  session = await openBrowser();
  page = session.page;
  await logIn(page);
  await resultCount().waitFor();
});

after(async () => {
  await session?.close();
});

test('each place on the Places page finds as many photos as it says', async () => {
  // Every level: the countries, and each country's regions or cities.
  const cards = [];
  const levels = ['/places'];
  while (levels.length) {
    await page.goto(levels.shift());
    await page.locator('.cards li').first().waitFor();
    cards.push(...await page.locator('.cards li').evaluateAll((items) => items.map((li) => ({
      href: li.querySelector('a.search').getAttribute('href'),
      text: li.querySelector('.count').textContent,
    }))));
    levels.push(...await page.locator('.cards a.drill').evaluateAll((links) => links.map((a) => a.getAttribute('href'))));
  }
  assert.ok(cards.some((c) => c.href.includes('Tokyo')), JSON.stringify(cards));
  for (const card of cards) {
    await page.goto(card.href);
    await resultCount().filter({ hasText: card.text }).waitFor({ timeout: 5000 });
  }
});

test('place: autocomplete counts only the photos the other filters allow', async () => {
  const suggest = async (q) => (await (await page.request.get(`/api/suggest?kind=place&prefix=tok&q=${encodeURIComponent(q)}`)).json()).suggestions;
  const all = await suggest('');
  const none = await suggest('year:2019'); // the Tokyo photos are from 2021
  assert.equal(all.find((s) => s.value === 'Tokyo')?.count, 2);
  assert.equal(none.find((s) => s.value === 'Tokyo'), undefined);
});

test('the place: autocomplete in the bar counts within the filters already there', async () => {
  await page.goto('/');
  const input = page.getByRole('combobox', { name: 'Search photos' });
  await input.click();
  await input.pressSequentially('year:2019 place:par');
  const paris = page.getByRole('option', { name: /Paris/ });
  await paris.waitFor();
  assert.equal((await paris.locator('.count').textContent()).trim(), '3');
  await page.goto('/'); // a fresh bar
  await input.click();
  await input.pressSequentially('year:2021 place:to');
  const tokyo = page.getByRole('option', { name: /Tokyo/ });
  await tokyo.waitFor();
  assert.equal((await tokyo.locator('.count').textContent()).trim(), '2');
  await page.goto('/');
  await input.click();
  await input.pressSequentially('year:2019 place:to');
  await page.waitForTimeout(600); // the suggestions answer within the debounce and a request
  assert.equal(await page.getByRole('option', { name: /Tokyo/ }).count(), 0, 'no Tokyo photo from 2019');
});

test('a slow search dims the old results and says it is searching', async () => {
  await page.goto('/');
  await resultCount().waitFor();
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await page.route(/\/api\/search\?.*q=camera/, async (route) => {
    await held;
    await route.continue();
  });
  const input = page.getByRole('combobox', { name: 'Search photos' });
  await input.fill('camera:nikon');
  await input.press('Enter');
  await page.getByTestId('searching').waitFor();
  // the busy sign is the one shared spinner (the nav's indexing sign is the same one)
  await page.getByTestId('searching').getByTestId('spinner').waitFor();
  const spins = await page.evaluate(() => [...document.styleSheets]
    .flatMap((sheet) => [...sheet.cssRules])
    .filter((rule) => rule instanceof CSSKeyframesRule && /rotate\(360deg\)/.test(rule.cssText))
    .map((rule) => rule.name));
  assert.equal(spins.length, 1, `one spinning animation in the app's styles, not ${spins.join(', ')}`);
  const turning = await page.getByTestId('searching').getByTestId('spinner')
    .evaluate((el) => getComputedStyle(el).animationName);
  assert.equal(turning, spins[0]);
  assert.equal(await resultCount().count(), 0, 'the old count is not shown as the answer');
  assert.equal(await page.getByTestId('results').getAttribute('aria-busy'), 'true');
  await screenshots(page, 'searching');
  release();
  await resultCount().filter({ hasText: /photos?$/ }).waitFor();
  await page.getByTestId('searching').waitFor({ state: 'detached' });
  assert.equal(await page.getByTestId('results').getAttribute('aria-busy'), 'false');
  await page.unroute(/\/api\/search\?.*q=camera/);
});

test('a photo that does not exist says so instead of loading forever', async () => {
  await page.goto('/photo/99999');
  await page.getByRole('heading', { name: 'No such photo' }).waitFor();
  assert.equal(await page.getByText('Loading…').count(), 0);
});

test('the date source is said in words, not as a tag name', async () => {
  await page.goto('/?q=place%3ATokyo');
  await page.locator('.grid a.tile').first().click();
  const details = page.getByRole('dialog').locator('dl.details');
  await details.waitFor();
  const text = await details.innerText();
  assert.match(text, /camera \(EXIF\)/);
  assert.doesNotMatch(text, /DateTimeOriginal/);
  await page.keyboard.press('Escape');
});

test('"semantic search is off" is said once on the search page', async () => {
  await page.goto('/?q=sunset');
  await page.getByRole('list', { name: 'Notices' }).waitFor();
  await resultCount().waitFor();
  const notices = await page.getByRole('list', { name: 'Notices' }).locator('li').allTextContents();
  assert.equal(notices.filter((n) => n.startsWith('semantic search is off')).length, 1, notices.join(' | '));
});

test('the folder picker opens at the typed path and marks indexed folders', async () => {
  await page.goto('/folders');
  const field = page.getByLabel(/Add a folder of photos/);
  await field.fill(LIBRARY);
  await page.getByRole('button', { name: 'Browse…' }).click();
  const picker = page.getByRole('group', { name: 'Choose a folder' });
  await picker.locator('.where').filter({ hasText: LIBRARY }).waitFor();
  const people = picker.getByRole('button', { name: /^people\// });
  assert.match(await people.innerText(), /already indexed/);
  await screenshots(page, 'folder-picker');
});

test('nothing went wrong in the page along the way', () => {
  assert.deepEqual(session.problems, []);
});
