// Run by bench/bench_ui_first_thumbnails.py: opens the library's home view cold, logged in,
// ROUNDS times, and prints one JSON line with the milliseconds from navigation to the first
// 8 tiles' thumbnails drawn, at devicePixelRatio DPR.
import { logIn, openBrowser } from '../tests/browser/harness.js';

const ROUNDS = Number(process.env.ROUNDS || 5);
const DPR = Number(process.env.DPR || 1);
const session = await openBrowser({ deviceScaleFactor: DPR });
const { page } = session;
await logIn(page);
await page.locator('.grid a.tile img').first().waitFor();
const runs = [];
for (let i = 0; i < ROUNDS; i++) {
  await page.goto('about:blank');
  const started = Date.now();
  await page.goto('/');
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('.grid a.tile img')].slice(0, 8);
    return imgs.length === 8 && imgs.every((img) => img.complete && img.naturalWidth > 0);
  });
  runs.push(Date.now() - started);
}
await session.close();
console.log(JSON.stringify({ dpr: DPR, runs }));
