// Shared by the browser tests: launch the system Chromium (never a downloaded one) with a
// fresh profile, collect anything that should fail a test (dialogs, console errors, CSP
// violations, page errors), and take screenshots at phone and desktop widths.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.HACHI_CHROMIUM || '/usr/bin/chromium';
export const WIDTHS = [
  { name: 'phone', width: 375, height: 812 },
  { name: 'desktop', width: 1920, height: 1080 },
];
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (run through tests/test_browser.py)`);
  return value;
}

// `options` adds to the browser context's (e.g. deviceScaleFactor for a 2x screen).
export async function openBrowser(options = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), 'hachi-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1920, height: 1080 },
    baseURL: env('HACHI_UI_URL'),
    ...options,
  });
  const problems = [];
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', async (dialog) => {
    problems.push(`a ${dialog.type()} dialog fired: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !isExpectedError(message)) {
      problems.push(`console error: ${message.text()} at ${message.location().url}`);
    }
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, problems, close };
}

// The login test deliberately sends a wrong password (401) and a malformed query (400),
// the search-by-photo test a photo to a server with no CLIP model (503), and a test opens
// a photo that does not exist (404, id 99999); the browser logs
// those responses as errors, which are not faults of the page.
function isExpectedError(message) {
  const url = message.location().url || '';
  const text = message.text();
  if (/status of 503/.test(text)) return /\/api\/search\/image/.test(url);
  if (/status of 404/.test(text)) return /\/api\/photos\/99999\b/.test(url); // asked for on purpose
  if (/status of 409/.test(text)) return /\/api\/albums$/.test(url); // a duplicate album name, on purpose
  return /status of (400|401)/.test(text) && /\/api\/(login|search|session)/.test(url);
}

// Logs in with the test password through the login page; callers wait for what they need.
export async function logIn(page) {
  await page.goto('/login');
  await page.getByLabel('Password').fill(env('HACHI_TEST_PASSWORD'));
  await page.getByRole('button', { name: 'Log in' }).click();
}

export async function screenshots(page, name) {
  const dir = env('HACHI_SCREENSHOTS');
  mkdirSync(dir, { recursive: true });
  const original = page.viewportSize();
  for (const size of WIDTHS) {
    await page.setViewportSize({ width: size.width, height: size.height });
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(dir, `${name}-${size.width}.png`) });
  }
  await page.setViewportSize(original);
}
