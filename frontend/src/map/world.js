// The world the maps draw, from data that ships inside this bundle: Natural Earth's
// 1:110m countries (npm world-atlas) projected with d3-geo. No tiles, no request: the map
// works offline and tells no server where the photos are. This module is only reached
// through dynamic imports (the map page, the photo page's small map), so the rest of the
// app does not carry it.
import { geoMercator, geoPath } from 'd3-geo';
import { feature, mesh } from 'topojson-client';
import countries from 'world-atlas/countries-110m.json';

// The projected world is a square of BASE units (Web Mercator, cut at ±85.05°);
// a view is that square scaled by k and shifted by (tx, ty) pixels.
export const BASE = 1024;
export const MAX_LAT = 85.05;
export const EARTH_KM = 6371.0088;

const projection = geoMercator()
  .scale(BASE / (2 * Math.PI))
  .translate([BASE / 2, BASE / 2])
  .precision(0.3);

let shapes = null;

// SVG path data of the land and the borders between countries, in BASE units; made once.
export function worldShapes() {
  if (!shapes) {
    const draw = geoPath(projection);
    const objects = countries.objects.countries;
    shapes = {
      land: draw(feature(countries, objects)),
      borders: draw(mesh(countries, objects, (a, b) => a !== b)),
    };
  }
  return shapes;
}

export function project(lat, lon) {
  const clamped = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat));
  return projection([lon, clamped]);
}

export function unproject(x, y) {
  const [lon, lat] = projection.invert([x, y]);
  return { lat, lon };
}
