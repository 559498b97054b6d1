// Photos grouped for the map: a screen-space grid, redone for every view, so clusters split
// as you zoom in. Zoomed out, a screen cell covers a continent; a second grid on the ground
// (cells of about CLUSTER_KM) splits it, so places far apart are never merged into one
// bubble, only drawn close together.
import { BASE, EARTH_KM } from './world.js';

export const MIN_CELL_PX = 30;
export const MAX_CELL_PX = 64;
export const CLUSTER_KM = 300;
const GROUND_DEG = CLUSTER_KM / 111.2; // degrees of latitude in CLUSTER_KM
export function cellSize(k) {
  const pxPerKm = (BASE * k) / (2 * Math.PI * EARTH_KM);
  return Math.max(MIN_CELL_PX, Math.min(MAX_CELL_PX, pxPerKm * CLUSTER_KM));
}

// points: [{ id, lat, lon, x, y }] in BASE units; view: { k, tx, ty, width, height }.
// Returns [{ key, x, y, count, ids, south, west, north, east }] for what is in view.
export function clusters(points, view) {
  const { k, tx, ty, width, height } = view;
  const cell = cellSize(k);
  const cells = new Map();
  for (const p of points) {
    const sx = p.x * k + tx;
    const sy = p.y * k + ty;
    if (sx < -cell || sy < -cell || sx > width + cell || sy > height + cell) continue;
    const ground = `${Math.floor(p.lat / GROUND_DEG)}:${Math.floor(p.lon / GROUND_DEG)}`;
    const key = `${Math.floor(sx / cell)}:${Math.floor(sy / cell)}:${ground}`;
    let c = cells.get(key);
    if (!c) {
      c = { key, sx: 0, sy: 0, count: 0, ids: [], south: 90, west: 180, north: -90, east: -180 };
      cells.set(key, c);
    }
    c.sx += sx;
    c.sy += sy;
    c.count += 1;
    c.ids.push(p.id);
    c.south = Math.min(c.south, p.lat);
    c.north = Math.max(c.north, p.lat);
    c.west = Math.min(c.west, p.lon);
    c.east = Math.max(c.east, p.lon);
  }
  return Array.from(cells.values(), (c) => ({ ...c, x: c.sx / c.count, y: c.sy / c.count }));
}
