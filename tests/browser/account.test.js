// The Account page: signed-in devices with their last use, logging one out, logging out
// everywhere, and the API tokens. Run by tests/test_browser.py on a stack of its own.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, openBrowser, screenshots } from './harness.js';

const PASSWORD = env('HACHI_TEST_PASSWORD');
const TOKEN_NAME = env('HACHI_TOKEN_NAME');

let laptop;
let phone;

async function logIn(page) {
  await page.goto('/login');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => url.pathname === '/');
}

before(async () => {
  laptop = await openBrowser();
  phone = await openBrowser();
  await logIn(laptop.page);
  await logIn(phone.page);
});

after(async () => {
  await laptop?.close();
  await phone?.close();
});

test('the Account page lists both devices, this one marked, and the tokens', async () => {
  const page = laptop.page;
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('heading', { name: 'Signed-in devices' }).waitFor();
  const devices = page.getByTestId('session');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="session"]').length === 2);
  assert.equal(await devices.filter({ hasText: 'this device' }).count(), 1);
  assert.match(await devices.first().innerText(), /last used/);
  const token = page.getByTestId('token').filter({ hasText: TOKEN_NAME });
  await token.waitFor();
  assert.match(await token.innerText(), /never expires/);
  await screenshots(page, 'account');
});

test('logging the other device out ends its session at once', async () => {
  const page = laptop.page;
  const other = page.getByTestId('session').filter({ hasNotText: 'this device' });
  await other.getByRole('button', { name: /^Log out/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="session"]').length === 1);
  await phone.page.goto('/folders');
  await phone.page.waitForURL(/\/login\?next=/);
});

test('"Log out everywhere" ends this session too and shows the login page', async () => {
  const page = laptop.page;
  await page.getByRole('button', { name: 'Log out everywhere…' }).click();
  await page.getByRole('button', { name: 'Yes, log out everywhere' }).click();
  await page.waitForURL(/\/login/);
  await page.goto('/account');
  await page.waitForURL(/\/login\?next=/);
});

test('nothing went wrong in the pages along the way', () => {
  assert.deepEqual([...laptop.problems, ...phone.problems], []);
});
