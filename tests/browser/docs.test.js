// The API reference at /docs/api: drawn offline from the server's own OpenAPI document,
// it shows every operation (method and path, parameters, responses) and every schema.
// Run by tests/test_browser.py; CSP violations or console errors fail the last test.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, openBrowser, screenshots } from './harness.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
let session;
let page;

before(async () => {
  session = await openBrowser();
  page = session.page;
  await page.goto('/login');
  await page.getByLabel('Password').fill(env('HACHI_TEST_PASSWORD'));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => url.pathname === '/');
});

after(async () => {
  await session?.close();
});

test('the Account page links to the API reference', async () => {
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('link', { name: 'API reference' }).click();
  await page.waitForURL((url) => url.pathname === '/docs/api');
  await page.getByRole('heading', { name: 'API reference' }).waitFor();
});

test('every operation and schema of the OpenAPI document is rendered', async () => {
  const doc = await (await page.request.get('/api/openapi.json')).json();
  const expected = Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`));
  await page.getByTestId('operation').first().waitFor();
  const shown = await page.getByTestId('operation').evaluateAll((ops) => ops.map((o) => o.dataset.operation));
  assert.deepEqual([...shown].sort(), [...expected].sort());
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS.filter((m) => item[m])) {
      const op = page.locator(`[data-operation="${method.toUpperCase()} ${path}"]`);
      const text = await op.innerText();
      assert.ok(text.includes(item[method].summary.replaceAll('`', '')), `${method} ${path}: summary`);
      for (const p of item[method].parameters || []) assert.ok(text.includes(p.name), `${method} ${path}: ${p.name}`);
      for (const status of Object.keys(item[method].responses)) assert.ok(text.includes(status), `${method} ${path}: ${status}`);
    }
  }
  const schemas = await page.getByTestId('schema').count();
  assert.equal(schemas, Object.keys(doc.components.schemas).length);
  await screenshots(page, 'api-reference');
});

test('a schema link jumps within the page', async () => {
  await page.locator('[data-operation="GET /api/search"] a[href="#schema-SearchResponse"]').first().click();
  await page.waitForURL((url) => url.pathname === '/docs/api' && url.hash === '#schema-SearchResponse');
  await page.locator('#schema-SearchResponse').waitFor();
});

test('nothing went wrong in the page along the way', () => {
  assert.deepEqual(session.problems, []);
});
