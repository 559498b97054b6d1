// No password set: log in with a one-time link, set a password from the banner the UI
// shows, log out, log back in with it; the spent link then opens a page that says what
// to do (not raw JSON). Run by tests/test_browser.py on a stack with no password.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { env, openBrowser, screenshots } from './harness.js';

const LINK = env('HACHI_LOGIN_LINK');
const PASSWORD = 'a password set in the browser';
let browser;

before(async () => {
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
});

test('a link login offers to set the first password', async () => {
  const page = browser.page;
  await page.goto(LINK);
  await page.waitForURL((url) => url.pathname === '/');
  const banner = page.getByRole('complementary', { name: 'Set a password' });
  await banner.waitFor();
  assert.match(await banner.innerText(), /hachi login-link/);
  await screenshots(page, 'first-password');
  await banner.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await banner.getByLabel('Again').fill(PASSWORD);
  await banner.getByRole('button', { name: 'Save password' }).click();
  await banner.waitFor({ state: 'detached' });
});

test('after logging out, the new password lets the user back in', async () => {
  const page = browser.page;
  await page.getByRole('button', { name: /Log out/ }).click();
  await page.waitForURL(/\/login/);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => url.pathname === '/');
});

test('the spent link opens a page that says how to get a new one', async () => {
  const page = browser.page;
  await page.goto(LINK);
  await page.waitForURL(/\/login\?link=spent/);
  const alert = page.getByRole('alert').filter({ hasText: 'already used' });
  await alert.waitFor();
  assert.match(await alert.innerText(), /hachi login-link/);
  assert.equal(await page.locator('pre').count(), 0, 'no raw JSON');
  await screenshots(page, 'spent-link');
});

test('nothing went wrong in the pages along the way', () => {
  assert.deepEqual(browser.problems, []);
});
