"""Great-circle distance and the latitude/longitude boxes that hold a circle or a box.

``near:`` and ``within:`` filter on an R*Tree of photo positions (a box lookup), then keep the
photos whose exact great-circle distance is in range. The boxes here are the first step: never
smaller than the truth (so nothing is lost), split in two where they cross the antimeridian
(an R*Tree knows nothing of longitude wrapping) and widened to every longitude when the circle
holds a pole. Distance is the haversine formula on a sphere of the Earth's mean radius, exact
to well under a metre at the radii people type and stable for tiny and antipodal distances.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088
"""The IUGG mean radius, the same one ``hachi.media.spherical`` measures with."""
HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM

Box = tuple[float, float, float, float]
"""(south, west, north, east) in degrees, west <= east: never across the antimeridian."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlam = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a))))


def sql_distance_km(
    lat1: float | None, lon1: float | None, lat2: float, lon2: float
) -> float | None:
    """``haversine_km`` as a SQL function: NULL for a photo without a position."""
    if lat1 is None or lon1 is None:
        return None
    try:
        return haversine_km(float(lat1), float(lon1), float(lat2), float(lon2))
    except (TypeError, ValueError):
        return None


def circle_boxes(lat: float, lon: float, radius_km: float) -> list[Box]:
    """Boxes that together hold every point within ``radius_km`` of (lat, lon)."""
    angle = radius_km / EARTH_RADIUS_KM  # radians of arc
    if angle >= math.pi:
        return [(-90.0, -180.0, 90.0, 180.0)]
    dlat = math.degrees(angle)
    south, north = lat - dlat, lat + dlat
    if south <= -90.0 or north >= 90.0:
        # The circle holds a pole: every longitude reaches it.
        return [(max(south, -90.0), -180.0, min(north, 90.0), 180.0)]
    # The widest longitude span is at the latitude where the circle is tangent to a
    # meridian: sin(dlon) = sin(angle) / cos(lat).
    ratio = math.sin(angle) / math.cos(math.radians(lat))
    if ratio >= 1.0:
        return [(south, -180.0, north, 180.0)]
    dlon = math.degrees(math.asin(ratio))
    return box_parts(south, lon - dlon, north, lon + dlon)


def box_parts(south: float, west: float, north: float, east: float) -> list[Box]:
    """A box whose west/east may lie outside [-180, 180] or have west > east (across the
    antimeridian), as one or two boxes inside [-180, 180]."""
    if east - west >= 360.0:
        return [(south, -180.0, north, 180.0)]
    west = (west + 180.0) % 360.0 - 180.0
    east = (east + 180.0) % 360.0 - 180.0
    if east == -180.0 and west > -180.0:
        east = 180.0
    parts = (
        [(south, west, north, east)]
        if west <= east
        else [(south, west, north, 180.0), (south, -180.0, north, east)]
    )
    # Longitudes 180 and -180 are one meridian: a box that reaches one side holds the other.
    edges = {w for _, w, _, _ in parts} | {e for _, _, _, e in parts}
    if -180.0 in edges and 180.0 not in edges:
        parts.append((south, 180.0, north, 180.0))
    if 180.0 in edges and -180.0 not in edges:
        parts.append((south, -180.0, north, -180.0))
    return parts


def in_box(lat: float, lon: float, south: float, west: float, north: float, east: float) -> bool:
    """Whether a point lies in a box as typed: west > east crosses the antimeridian."""
    if not south <= lat <= north:
        return False
    if west <= east:
        return west <= lon <= east
    return lon >= west or lon <= east
