// The grid's layout (frontend/src/lib/justify.js) at library scale: how long one layout of
// N photos takes, as the grid recomputes it on every resize and every page fetched.
//
//   node bench/bench_justify.mjs [photos=10000] [days=420] [runs=50]
//
// Photos of mixed shapes (every fifth upright), spread over `days` days (the timeline's
// groups), at 1860 px (a 1920 px window) and 343 px (a 375 px phone); baseline: the same
// photos as one group without headers (no timeline), in the same run.
import { performance } from 'node:perf_hooks';
import { layout, targetHeight } from '../frontend/src/lib/justify.js';

const [photos = 10000, days = 420, runs = 50] = process.argv.slice(2).map(Number);
const aspect = (i) => (i % 5 === 1 ? 0.75 : 4 / 3);
const perDay = Math.ceil(photos / days);
const groups = [];
for (let start = 0, d = 0; start < photos; start += perDay, d++) {
  const day = new Date(Date.UTC(2024, 0, 1) - d * 86_400_000).toISOString().slice(0, 10);
  groups.push({ start, count: Math.min(perDay, photos - start), day });
}

function time(options) {
  layout(options); // warm up
  const samples = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    layout(options);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(runs / 2)];
}

for (const width of [1860, 343]) {
  const base = { count: photos, aspect, width, target: targetHeight(width) };
  const flat = time(base);
  const timeline = time({ ...base, groups });
  const rows = layout({ ...base, groups }).rows.length;
  console.log(`${photos} photos, ${width} px: timeline ${timeline.toFixed(2)} ms (${rows} rows and headers), `
    + `plain rows ${flat.toFixed(2)} ms (median of ${runs})`);
}
