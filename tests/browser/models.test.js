// The model comes by itself, and is chosen on the Folders page: the server fetches the
// library's missing CLIP model from a local mirror (held halfway by the test until the
// page has shown the progress), then the chooser lists it with a second installed model;
// choosing the other one re-embeds the library, and semantic search runs on it.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { env, logIn, openBrowser, screenshots } from './harness.js';

const DEFAULT_MODEL = env('HACHI_DEFAULT_MODEL');
const OTHER_MODEL = env('HACHI_OTHER_MODEL');
const RELEASE_FILE = env('HACHI_RELEASE_FILE');

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

test('the Folders page shows the download, then the chooser lists the model', async () => {
  await page.goto('/folders');
  const download = page.getByTestId('model-download');
  await download.filter({ hasText: `Downloading ${DEFAULT_MODEL}` }).waitFor();
  assert.equal(await download.getAttribute('data-state'), 'downloading');
  assert.ok(await download.getByRole('progressbar').count());
  await screenshots(page, 'model-download');
  writeFileSync(RELEASE_FILE, 'go'); // the mirror sends the rest
  await download.waitFor({ state: 'detached', timeout: 60_000 });
  const chooser = page.getByLabel('CLIP model used for semantic search');
  await chooser.waitFor();
  assert.equal(await chooser.inputValue(), DEFAULT_MODEL);
  const options = await chooser.locator('option').evaluateAll((o) => o.map((e) => e.value));
  assert.deepEqual(options.sort(), [DEFAULT_MODEL, OTHER_MODEL].sort());
  assert.equal(session.problems.length, 0, session.problems.join('\n'));
});

test('choosing another model re-embeds the library and search uses it', async () => {
  await page.goto('/folders');
  const chooser = page.getByLabel('CLIP model used for semantic search');
  await chooser.selectOption(OTHER_MODEL);
  await page.getByRole('button', { name: 'Use this model' }).click();
  await page.getByTestId('job-state').filter({ hasText: /^Finished$/ }).waitFor({ timeout: 60_000 });
  assert.equal(await page.getByRole('button', { name: 'Use this model' }).isDisabled(), true);
  await screenshots(page, 'model-chosen');
  await page.goto(`/?q=${encodeURIComponent('a red circle')}`);
  await page.getByTestId('result-count').filter({ hasText: /^\d+ photos?$/ }).waitFor();
  const first = await page.locator('.grid a.tile').first().getAttribute('title');
  assert.ok(first.startsWith('red_circle_'), first);
  assert.equal(session.problems.length, 0, session.problems.join('\n'));
});
