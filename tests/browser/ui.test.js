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
const SEARCH_PHOTO = env('HACHI_SEARCH_PHOTO');
const JOB_TIMEOUT_MS = 60_000;
const FIRST_NAME = 'Ada Lovelace';
const NEW_NAME = 'Grace Hopper';

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
// The API as the logged-in page sees it (the browser context shares the session cookie).
const getJson = async (path) => (await page.request.get(path)).json();
const photos = (n) => new RegExp(`^${n} photos?$`);
// What search shows of a person: their photos, near-duplicates stacked into one hit each.
const shown = async (id) => (await getJson(`/api/search?q=${encodeURIComponent(`person:${id}`)}&limit=1`)).total;
const card = (id) => page.locator(`.people .person[data-person-id="${id}"]`);
let named; // the person renamed FIRST_NAME, as the API described them before

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
  // Every photo is loaded; the grid draws those in view (it is virtualised).
  await page.locator(`.grid[data-count="${TOTAL}"] a.tile`).first().waitFor();
  assert.equal(await page.locator('.grid .cell').first().getAttribute('aria-setsize'), String(TOTAL));
  await page.getByText('semantic search is off').first().waitFor();
});

test('a revisit of the grid asks for no thumbnail: content-addressed and immutable', async () => {
  const img = page.locator('.grid a.tile img').first();
  assert.match(await img.getAttribute('src'), /^\/api\/thumbs\/[0-9a-f]{32}\.grid\.webp$/);
  await img.evaluate((el) => el.decode());
  await page.goto('/years');
  await page.goto('/');
  await resultCount().filter({ hasText: `${TOTAL} photos` }).waitFor();
  await page.locator('.grid a.tile img').first().evaluate((el) => el.decode());
  const thumbs = await page.evaluate(() =>
    performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/api/thumbs/'))
      .map((e) => ({ name: e.name, transferSize: e.transferSize })));
  assert.ok(thumbs.length > 0, 'the grid shows thumbnails');
  assert.deepEqual(thumbs.filter((e) => e.transferSize > 0), [], 'all from the browser cache');
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

test('a person chip switches between any of, all of and only them', async () => {
  await searchInput().click();
  await searchInput().pressSequentially('person:ada,grace ');
  const chip = page.locator('.chip', { hasText: 'person:ada,grace' });
  await chip.waitFor();
  await searchInput().press('Enter');
  await page.waitForURL(/q=person%3Aada%2Cgrace/);
  const logic = page.getByRole('combobox', { name: 'How person:ada,grace combines its people' });
  assert.equal(await logic.inputValue(), 'any');
  await logic.selectOption('all');
  await page.waitForURL(/q=person%3Aada%2Bgrace/);
  await page.getByRole('combobox', { name: 'How person:ada+grace combines its people' })
    .selectOption('only');
  await page.waitForURL(/q=person%3A%3Dada%2Cgrace/);
  await page.locator('.chip', { hasText: 'person:=ada,grace' }).waitFor();
  await page.getByRole('button', { name: 'Remove filter person:=ada,grace' }).click();
  assert.equal(await page.locator('.chip').count(), 0);
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
  // The page shows the previous (finished) job until the new one is known: wait for the
  // new job's own count, then for its end.
  const processed = new RegExp(`^${ADDED + 1} of ${ADDED + 1} files`);
  await page.getByTestId('job-processed').filter({ hasText: processed }).waitFor({ timeout: JOB_TIMEOUT_MS });
  await page.getByTestId('job-state').filter({ hasText: 'Finished' }).waitFor({ timeout: JOB_TIMEOUT_MS });
  assert.match(await page.getByTestId('job-processed').textContent(), processed);
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
  await page.locator('.cards[data-level=country] a.main', { hasText: 'France' }).click();
  await page.locator('.cards[data-level=region], .cards[data-level=city]').waitFor();
  if (await page.locator('.cards[data-level=region]').count()) {
    await page.locator('.cards a.main').first().click(); // the photos in France are all in Paris
  }
  const paris = page.locator('.cards[data-level=city] a.main', { hasText: 'Paris' });
  await paris.waitFor();
  await screenshots(page, 'places');
  await paris.click();
  await page.locator('.chip', { hasText: 'place:Paris' }).waitFor();
  await page.goto('/years');
  await page.locator('.cards a .name').first().waitFor();
  const years = await page.locator('.cards a .name').allTextContents();
  assert.ok(years.length >= 2, 'several years expected');
  assert.deepEqual(years, [...years].sort().reverse());
  await screenshots(page, 'years');
  await page.getByRole('link', { name: new RegExp(years[0]) }).click();
  await page.locator('.chip', { hasText: `year:${years[0]}` }).waitFor();
});

test('searching with a photo says which command turns it on when no CLIP model is installed', async () => {
  await page.goto('/');
  await resultCount().waitFor();
  await page.locator('#photo-search-file').setInputFiles(SEARCH_PHOTO);
  await page.getByTestId('photo-query').filter({ hasText: 'obama_1.jpg' }).waitFor();
  const alert = page.getByRole('alert').filter({ hasText: 'semantic search' });
  await alert.waitFor();
  assert.match(await alert.locator('code').textContent(), /^hachi models pull \S+/);
  await page.getByRole('button', { name: 'Clear photo' }).click();
  await page.getByTestId('photo-query').waitFor({ state: 'detached' });
  await resultCount().waitFor();
});

test('the People page lists everyone the API lists', async () => {
  await page.goto('/people');
  const cards = page.locator('.people .person');
  await cards.first().waitFor();
  const listed = (await getJson('/api/people')).people;
  assert.ok(listed.length >= 3, `the face photos hold at least 3 recurring people, got ${listed.length}`);
  assert.deepEqual(
    await cards.evaluateAll((els) => els.map((el) => Number(el.dataset.personId))),
    listed.map((p) => p.id),
  );
  await page.locator('.people .cover img').first().evaluate((img) => img.decode());
  await screenshots(page, 'people');
});

test('renaming a person shows the name in the list, the search and the photo view', async () => {
  const first = page.locator('.people .person').first();
  named = await getJson(`/api/people/${await first.getAttribute('data-person-id')}`);
  assert.equal(named.name, null);
  await first.getByRole('button', { name: 'Unnamed: add a name' }).click();
  const input = first.getByRole('textbox', { name: 'Name for this person' });
  await input.fill(FIRST_NAME);
  await input.press('Enter');
  const rename = card(named.id).getByRole('button', { name: `Rename ${FIRST_NAME}` });
  await rename.waitFor();
  await page.waitForFunction((name) => document.activeElement?.textContent === name, FIRST_NAME);
  // Escape throws a half-typed name away.
  await rename.click();
  await card(named.id).getByRole('textbox').fill('Somebody Else');
  await page.keyboard.press('Escape');
  await rename.waitFor();
  await page.reload();
  await rename.waitFor();
  assert.equal((await getJson(`/api/people/${named.id}`)).name, FIRST_NAME);
  // The face searches for the person; their photo shows the name on the face box.
  await card(named.id).getByRole('link', { name: `Photos of ${FIRST_NAME}` }).click();
  await page.locator('.chip', { hasText: `person:"${FIRST_NAME}"` }).waitFor();
  await resultCount().filter({ hasText: photos(await shown(named.id)) }).waitFor();
  await page.locator('.grid a.tile').first().click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('img.preview.ready').waitFor();
  const box = dialog.getByRole('link', { name: `Photos of ${FIRST_NAME}` });
  assert.equal(await box.locator('.label').textContent(), FIRST_NAME);
  await dialog.getByTestId('photo-person').filter({ hasText: FIRST_NAME }).waitFor();
  await dialog.getByTestId('similar-off').filter({ hasText: 'hachi models pull' }).waitFor();
  await assertBoxOnImage(dialog, box);
  await screenshots(page, 'photo-faces');
  await box.click();
  await dialog.waitFor({ state: 'detached' });
  await resultCount().filter({ hasText: photos(await shown(named.id)) }).waitFor();
});

// The face box lies inside the picture as displayed (object-fit: contain), not the stage.
async function assertBoxOnImage(dialog, box) {
  const image = await dialog.locator('img.preview').evaluate((img) => {
    const r = img.getBoundingClientRect();
    const scale = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
    const w = img.naturalWidth * scale;
    const h = img.naturalHeight * scale;
    return { x: r.x + (r.width - w) / 2, y: r.y + (r.height - h) / 2, w, h };
  });
  const b = await box.boundingBox();
  assert.ok(b.width > 4 && b.height > 4, JSON.stringify(b));
  assert.ok(b.x >= image.x - 1 && b.y >= image.y - 1, JSON.stringify({ b, image }));
  assert.ok(b.x + b.width <= image.x + image.w + 1 && b.y + b.height <= image.y + image.h + 1);
}

test('"Not this person" takes a face away from the person, for good', async () => {
  await page.goto(`/people/${named.id}`);
  const faces = page.locator('.faces .face');
  await faces.first().waitFor();
  assert.equal(await faces.count(), named.faces);
  await page.locator('.faces img').first().evaluate((img) => img.decode());
  await screenshots(page, 'person');
  const face = faces.first();
  const faceId = Number(await face.getAttribute('data-face-id'));
  await face.getByRole('button', { name: 'Not this person' }).click();
  await page.locator(`.face[data-face-id="${faceId}"]`).waitFor({ state: 'detached' });
  assert.equal(await faces.count(), named.faces - 1);
  await page.waitForFunction(() => document.activeElement?.textContent === 'Not this person');
  const counts = new RegExp(`(^|\\s)${named.faces - 1} faces? in `);
  await page.locator('.head .muted', { hasText: counts }).waitFor();
  const left = (await getJson(`/api/people/${named.id}/faces`)).faces;
  assert.ok(!left.some((f) => f.id === faceId), 'the server still gives the face to the person');
  await page.reload();
  await faces.first().waitFor();
  assert.equal(await faces.count(), named.faces - 1);
});

test('"This is…" moves a face to a new person typed by name', async () => {
  const face = page.locator('.faces .face').first();
  const faceId = Number(await face.getAttribute('data-face-id'));
  await face.getByRole('button', { name: 'This is…' }).click();
  const chooser = page.getByRole('combobox', { name: /^Who is in / });
  await chooser.pressSequentially(NEW_NAME);
  await page.getByRole('option', { name: `New person “${NEW_NAME}”` }).waitFor();
  await screenshots(page, 'face-chooser');
  await chooser.press('Enter');
  await page.locator(`.face[data-face-id="${faceId}"]`).waitFor({ state: 'detached' });
  const everyone = (await getJson('/api/people?all=1')).people;
  const grace = everyone.find((p) => p.name === NEW_NAME);
  assert.ok(grace, 'a new person was made');
  const theirs = (await getJson(`/api/people/${grace.id}/faces`)).faces;
  assert.deepEqual(theirs.map((f) => [f.id, f.assigned_by]), [[faceId, 'user']]);
});

test('person: autocomplete offers the new name', async () => {
  await page.goto('/');
  await resultCount().waitFor();
  await searchInput().pressSequentially('person:ada');
  const option = page.getByRole('option', { name: new RegExp(FIRST_NAME) });
  await option.waitFor();
  await searchInput().press('ArrowDown');
  await searchInput().press('Enter');
  await page.locator('.chip', { hasText: `person:"${FIRST_NAME}"` }).waitFor();
  await searchInput().press('Enter');
  assert.equal((await getJson(`/api/people/${named.id}`)).photos, named.photos - 2);
  await resultCount().filter({ hasText: photos(await shown(named.id)) }).waitFor();
});

test('person: autocomplete completes the name after a comma and keeps the first', async () => {
  await page.goto('/');
  await resultCount().waitFor();
  await searchInput().pressSequentially('person:nobody,ada');
  const option = page.getByRole('option', { name: new RegExp(FIRST_NAME) });
  await option.waitFor();
  await searchInput().press('ArrowDown');
  await searchInput().press('Enter');
  await page.locator('.chip', { hasText: `person:nobody,"${FIRST_NAME}"` }).waitFor();
  await page.getByRole('button', { name: `Remove filter person:nobody,"${FIRST_NAME}"` }).click();
});

test('hiding, showing hidden people and merging on the People page', async () => {
  await page.goto('/people');
  const cards = page.locator('.people .person');
  await cards.first().waitFor();
  const before = await cards.count();
  const [target, source] = await cards.evaluateAll((els) => els.slice(1, 3).map((el) => el.dataset.personId));
  await card(source).getByRole('button', { name: /^Hide / }).click();
  await card(source).waitFor({ state: 'detached' });
  const toggle = page.getByLabel(/Show hidden people/);
  await toggle.check();
  await card(source).locator('.badge', { hasText: 'hidden' }).waitFor();
  await card(source).getByRole('button', { name: /^Unhide / }).click();
  await toggle.uncheck();
  await card(source).waitFor();
  const photosBefore = (await getJson(`/api/people/${target}`)).photos;
  const sourcePhotos = (await getJson(`/api/people/${source}`)).photos;
  await card(source).getByRole('button', { name: /^Merge / }).click();
  const chooser = page.getByRole('combobox', { name: /^Merge .* into$/ });
  await chooser.focus();
  const options = page.locator('#merge-chooser-list [role="option"]');
  const ids = await cards.evaluateAll((els) => els.map((el) => el.dataset.personId));
  const index = ids.filter((id) => id !== source).indexOf(target);
  for (let i = 0; i <= index; i++) await chooser.press('ArrowDown');
  assert.equal(await options.nth(index).getAttribute('aria-selected'), 'true');
  await chooser.press('Enter');
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  await card(source).waitFor({ state: 'detached' });
  assert.equal(await cards.count(), before - 1);
  const merged = await getJson(`/api/people/${target}`);
  assert.ok(merged.photos > photosBefore && merged.photos <= photosBefore + sourcePhotos);
});

test('a person named like HTML renders as plain text and runs nothing', async () => {
  const person = page.locator('.people .person').nth(1);
  const id = await person.getAttribute('data-person-id');
  await person.locator('button.name').click();
  const input = card(id).getByRole('textbox');
  await input.fill(NASTY);
  await input.press('Enter');
  const name = card(id).getByRole('button', { name: `Rename ${NASTY}` });
  await name.waitFor();
  assert.equal(await name.textContent(), NASTY);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await page.goto(`/people/${id}`);
  await page.locator('#person-heading').filter({ hasText: NASTY }).waitFor();
  assert.equal(await page.locator('#person-heading').textContent(), NASTY);
  await page.locator('.faces a.thumb').first().click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('img.preview.ready').waitFor();
  const label = dialog.locator('.face .label', { hasText: NASTY });
  assert.equal(await label.textContent(), NASTY);
  await page.keyboard.press('Escape');
  await page.goto('/');
  await resultCount().waitFor();
  await searchInput().pressSequentially('person:<img');
  await page.getByRole('option').filter({ hasText: NASTY }).waitFor();
  assert.equal(await page.locator('img[src="x"]').count(), 0);
});

let canon; // Canon photos now (the added folder brought more)
test('select results (click, shift-click, keys), add them to a new album, find it with album:', async () => {
  canon = (await getJson('/api/search?q=camera%3Acanon&limit=1')).total;
  assert.ok(canon >= 3);
  await page.goto('/?q=camera%3Acanon');
  await resultCount().filter({ hasText: photos(canon) }).waitFor();
  const boxes = page.getByTestId('select-box');
  await boxes.nth(0).click();
  await page.getByTestId('selected-count').filter({ hasText: '1 photo selected' }).waitFor();
  await boxes.nth(2).click({ modifiers: ['Shift'] });
  await page.getByTestId('selected-count').filter({ hasText: '3 photos selected' }).waitFor();
  await page.locator('.grid a.tile').nth(1).click(); // while selecting, a click selects
  await page.getByTestId('selected-count').filter({ hasText: '2 photos selected' }).waitFor();
  assert.equal(await page.getByRole('dialog').count(), 0, 'no photo opened');
  await page.locator('.grid a.tile').nth(1).focus();
  await page.keyboard.press('x');
  await page.getByTestId('selected-count').filter({ hasText: '3 photos selected' }).waitFor();
  const chosen = await page.locator('.grid a.tile').evaluateAll((els) =>
    els.slice(0, 3).map((el) => Number(el.getAttribute('href').match(/\/photo\/(\d+)/)[1])));
  await screenshots(page, 'selection');
  await page.getByRole('button', { name: 'Add to album' }).click();
  await page.getByLabel('Album').selectOption('new');
  await page.getByLabel('Name').fill(`  Trip ${NASTY} `);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Added 3 photos' }).waitFor();
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await page.getByRole('link', { name: 'Open the album' }).click();
  await resultCount().filter({ hasText: photos(3) }).waitFor();
  const shown = await page.locator('.grid a.tile').evaluateAll((els) =>
    els.map((el) => Number(el.getAttribute('href').match(/\/photo\/(\d+)/)[1])));
  assert.deepEqual(shown.sort(), chosen.sort());
  // Escape clears a selection made with the keyboard.
  await page.locator('.grid a.tile').first().focus();
  await page.keyboard.press(' ');
  await page.getByTestId('selection-bar').waitFor();
  await page.keyboard.press('Escape');
  await page.getByTestId('selection-bar').waitFor({ state: 'detached' });
});

test('"select all" acts on every result of the query, loaded or not', async () => {
  await page.goto('/?q=camera%3Acanon');
  await resultCount().filter({ hasText: photos(canon) }).waitFor();
  await page.getByTestId('select-box').first().click();
  await page.getByRole('button', { name: `Select all ${canon}` }).click();
  await page.getByTestId('selected-count').filter({ hasText: `${canon} photos selected` }).waitFor();
  await page.getByRole('button', { name: 'Add to album' }).click();
  await page.getByLabel('Album').selectOption({ label: `Trip ${NASTY}` });
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByRole('status').filter({ hasText: `(${canon} photos in it now)` }).waitFor();
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download zip' }).click();
  const zip = await (await download).path();
  const { readFileSync } = await import('node:fs');
  const bytes = readFileSync(zip);
  assert.equal(bytes.subarray(0, 2).toString(), 'PK');
  await page.getByRole('button', { name: 'Copy paths' }).click();
  const copied = page.getByRole('status').filter({ hasText: `Copied ${canon} paths` });
  const byHand = page.getByLabel('Paths (select and copy)');
  await copied.or(byHand).waitFor();
  if (await byHand.count()) assert.equal((await byHand.inputValue()).split('\n').length, canon);
});

test('the Albums page: a smart album from the current search, rename, open, delete', async () => {
  await page.goto('/?q=camera%3Acanon');
  await resultCount().filter({ hasText: photos(canon) }).waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Albums' }).click();
  await page.getByRole('heading', { name: 'Albums', level: 1 }).waitFor();
  const trip = page.getByRole('link', { name: `Trip ${NASTY}` });
  assert.equal(await trip.textContent(), `Trip ${NASTY}`);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  await page.getByTestId('album-name').fill('Canon shots');
  await page.getByLabel(/Smart/).check();
  assert.equal(await page.getByTestId('album-query').inputValue(), 'camera:canon');
  await page.getByRole('button', { name: 'Create album' }).click();
  await page.locator('.album', { hasText: 'Smart album: camera:canon' }).waitFor();
  await page.getByTestId('album-name').fill('canon SHOTS');
  await page.getByRole('button', { name: 'Create album' }).click();
  await page.getByRole('alert').filter({ hasText: 'already exists' }).waitFor();
  await screenshots(page, 'albums');
  await page.getByRole('button', { name: 'Rename Canon shots' }).click();
  await page.getByLabel('New name for Canon shots').fill('Every Canon');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('link', { name: 'Every Canon' }).click();
  await resultCount().filter({ hasText: photos(canon) }).waitFor();
  await page.locator('.chip', { hasText: 'album:' }).waitFor();
  await page.goto('/albums');
  await page.getByRole('button', { name: 'Delete Every Canon' }).click();
  await page.getByRole('button', { name: 'Yes, delete Every Canon' }).click();
  await page.getByRole('link', { name: 'Every Canon' }).waitFor({ state: 'detached' });
  const left = (await getJson('/api/albums')).albums.map((a) => a.name);
  assert.deepEqual(left, [`Trip ${NASTY}`]);
});

test('nothing went wrong in the page along the way', () => {
  assert.deepEqual(session.problems, []);
});
