// Justified rows, as photo apps lay out a grid: every photo keeps its shape, each row is
// scaled so that it fills the width exactly, rows stay near a target height, and the last
// row of a group keeps the target height instead of being blown up. Pure: numbers in,
// numbers out, so it is cheap to run for 10,000 photos on every resize (about a
// millisecond) and the grid only has to draw the rows in view.
//
// Groups (the timeline's days) start on a new row under their headers; a month header
// comes before the first day of each month.

export const UNKNOWN_ASPECT = 1.5; // a photo not fetched yet is drawn as a 3:2 placeholder
export const MIN_ASPECT = 0.4; // a panorama or a sliver is cropped to this range
export const MAX_ASPECT = 3;
export const MONTH_HEADER = 48;
export const DAY_HEADER = 30;

export function aspectOf(item) {
  if (!item || !item.width || !item.height) return UNKNOWN_ASPECT;
  return Math.min(MAX_ASPECT, Math.max(MIN_ASPECT, item.width / item.height));
}

// The row height a grid of `width` pixels aims at: ~220 px on a desktop, and on a phone
// small enough that three 3:2 photos share a row.
export function targetHeight(width) {
  return width < 600 ? Math.max(64, Math.round(width * 0.24)) : 220;
}

// `count` photos, `aspect(i)` the shape of photo i; `groups` [{start, count, day}] in order,
// or null for one group without headers. A day whose photos fit in less than one row at
// the target height shares its line with the days beside it (each under its own header),
// as photo apps do, rather than leaving most of a row empty. Returns
//   rows: by y, [{y, h, from, to}] (photos from..to-1 on one line) or
//         [{y, h, x, w, header: {kind, day}}];
//   x, y, w, h: Float64Arrays, photo i's box; row: Int32Array, its row; height: the total.
export function layout({ count, aspect, width, target, gap = 4, groups = null }) {
  const out = {
    aspect, width, target, gap, rows: [], top: 0, line: null,
    x: new Float64Array(count), y: new Float64Array(count), w: new Float64Array(count),
    h: new Float64Array(count), row: new Int32Array(count),
  };
  let month = null;
  for (const group of groups ?? [{ start: 0, count, day: null }]) {
    const end = Math.min(count, group.start + group.count);
    if (group.day && group.day.slice(0, 7) !== month) {
      month = group.day.slice(0, 7);
      endLine(out);
      header(out, 'month', group.day, 0, width, MONTH_HEADER);
      out.top += MONTH_HEADER;
    }
    if (group.day && shareLine(out, group.start, end, group.day)) continue;
    endLine(out);
    if (group.day) {
      header(out, 'day', group.day, 0, width, DAY_HEADER);
      out.top += DAY_HEADER;
    }
    out.top = justify(group.start, end, out) + gap;
  }
  endLine(out);
  const { rows, x, y, w, h, row } = out;
  return { rows, x, y, w, h, row, height: Math.max(0, out.top - gap) };
}

function header(out, kind, day, x, w, h) {
  out.rows.push({ y: out.top, h, x, w, header: { kind, day } });
}

// A day narrower than a row goes on the current line (or starts one); false if it is wider.
function shareLine(out, start, end, day) {
  const { aspect, width, target, gap } = out;
  let natural = gap * (end - start - 1);
  for (let i = start; i < end; i++) natural += aspect(i) * target;
  if (natural > width) return false;
  const spacing = gap * 4;
  let line = out.line;
  if (line && line.x + spacing + natural > width) {
    endLine(out);
    line = null;
  }
  if (!line) line = out.line = { top: out.top, x: -spacing, from: start, to: start };
  const left = line.x + spacing;
  out.rows.push({ y: line.top, h: DAY_HEADER, x: left, w: natural, header: { kind: 'day', day } });
  let x = left;
  for (let i = start; i < end; i++) {
    const w = aspect(i) * target;
    out.x[i] = x;
    out.y[i] = line.top + DAY_HEADER;
    out.w[i] = w;
    out.h[i] = target;
    x += w + gap;
  }
  line.x = left + natural;
  line.to = end;
  return true;
}

function endLine(out) {
  const { line } = out;
  if (!line) return;
  const rowIndex = out.rows.length;
  for (let i = line.from; i < line.to; i++) out.row[i] = rowIndex;
  out.rows.push({ y: line.top + DAY_HEADER, h: out.target, from: line.from, to: line.to });
  out.top = line.top + DAY_HEADER + out.target + out.gap;
  out.line = null;
}

// Lays photos [start, end) in rows from `out.top`; returns the y below the last row.
function justify(start, end, out) {
  const { aspect, width, target, gap } = out;
  let first = start;
  let sum = 0;
  let top = out.top;
  for (let i = start; i < end; i++) {
    const a = aspect(i);
    const n = i - first + 1;
    const fitted = (width - gap * (n - 1)) / (sum + a); // the height if photo i ends the row
    if (fitted <= target) {
      // Row full: end it with photo i, or before it, whichever height is nearer the target.
      const without = n > 1 ? (width - gap * (n - 2)) / sum : Infinity;
      if (Math.abs(without - target) < Math.abs(fitted - target)) {
        top = place(out, first, i, without, top);
        first = i;
        sum = a;
      } else {
        top = place(out, first, i + 1, fitted, top);
        first = i + 1;
        sum = 0;
      }
    } else {
      sum += a;
    }
  }
  if (first < end) top = place(out, first, end, target, top); // the last row is not stretched
  return top - gap;
}

function place(out, from, to, height, top) {
  const rowIndex = out.rows.length;
  let left = 0;
  for (let i = from; i < to; i++) {
    const width = out.aspect(i) * height;
    out.x[i] = left;
    out.y[i] = top;
    out.w[i] = width;
    out.h[i] = height;
    out.row[i] = rowIndex;
    left += width + out.gap;
  }
  out.rows.push({ y: top, h: height, from, to });
  return top + height + out.gap;
}

// The index of the first row whose bottom is below `y` (binary search over rows by y).
export function rowAt(rows, y) {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].y + rows[mid].h < y) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo);
}

// The timeline's days as groups with their first photo's index (the running sum).
export function groupsOf(days, total) {
  const groups = [];
  let start = 0;
  for (const { day, count } of days) {
    groups.push({ start, count, day });
    start += count;
  }
  if (start < total) groups.push({ start, count: total - start, day: null });
  return groups;
}
