"""Read the few simple properties Hachi needs from an XMP packet.

XMP is RDF/XML, but photo tools write it in only two shapes for simple values: an attribute
(``exif:FNumber="28/10"``) or an element (``<exif:FNumber>28/10</exif:FNumber>``, maybe with an
``rdf:Seq``/``rdf:Alt`` holding ``rdf:li`` items). Matching those shapes with regular
expressions tolerates the truncated, badly escaped and non-well-formed packets found in the
wild, where a strict XML parser would drop everything; it also cannot be made to expand
entities. Prefixes are resolved through the packet's own ``xmlns`` declarations so a writer
that picks unusual prefixes still reads correctly.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MAX_XMP_BYTES = 4 * 1024 * 1024  # the XMP standard's own ceiling for a packet in a JPEG

NAMESPACES = {
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
}
_XMLNS_RE = re.compile(r"""xmlns:([\w.\-]+)\s*=\s*["']([^"']*)["']""")
_LI_RE = re.compile(r"<rdf:li(?:\s[^>]*)?>([^<]*)</rdf:li>", re.S)


@dataclass(frozen=True)
class XmpPacket:
    """A decoded packet plus the prefix each namespace is bound to in it."""

    text: str
    prefixes: dict[str, list[str]]

    def get(self, qualified: str) -> str | None:
        """Value of 'ns:Name' (ns is a key of NAMESPACES), first list item for arrays."""
        ns, _, name = qualified.partition(":")
        for prefix in self.prefixes.get(ns, []):
            value = _find(self.text, f"{prefix}:{name}")
            if value is not None:
                return value
        return None


def parse_xmp(raw: bytes) -> XmpPacket | None:
    """Decode a packet (UTF-8 or UTF-16, as the XMP spec allows) and map its prefixes."""
    if not raw:
        return None
    text = _decode(raw[:MAX_XMP_BYTES])
    prefixes: dict[str, list[str]] = {}
    declared = {uri: prefix for prefix, uri in _XMLNS_RE.findall(text)}
    for ns, uri in NAMESPACES.items():
        found = [p for u, p in declared.items() if u == uri]
        prefixes[ns] = found + ([ns] if ns not in found else [])
    return XmpPacket(text, prefixes)


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xfe\xff", b"\x00<")) or raw[:200].count(b"\x00") > 50:
        encoding = "utf-16-be" if raw[:2] in (b"\xfe\xff", b"\x00<", b"\x00 ") else "utf-16-le"
        return raw.decode(encoding, errors="replace").lstrip("\ufeff")
    return raw.decode("utf-8", errors="replace")


def _find(text: str, qname: str) -> str | None:
    name = re.escape(qname)
    attribute = re.search(rf"""\s{name}\s*=\s*(?:"([^"]*)"|'([^']*)')""", text)
    if attribute:
        return _unescape(
            attribute.group(1) if attribute.group(1) is not None else attribute.group(2)
        )
    element = re.search(rf"<{name}(?:\s[^>]*)?>(.*?)</{name}\s*>", text, re.S)
    if element is None:
        return None
    body = element.group(1)
    item = _LI_RE.search(body)
    return _unescape(item.group(1) if item else body)


def _unescape(value: str) -> str | None:
    value = html.unescape(value).strip()
    return value or None


def parse_xmp_coordinate(text: str | None) -> float | None:
    """XMP GPS coordinates: 'DDD,MM,SSk' or 'DDD,MM.mmk' (k is N, S, E or W)."""
    if not text:
        return None
    text = text.strip()
    hemisphere = text[-1:].upper()
    parts = text[:-1].split(",") if hemisphere in "NSEW" else text.split(",")
    try:
        numbers = [float(part) for part in parts if part.strip()]
    except ValueError:
        return None
    if not 1 <= len(numbers) <= 3:
        return None
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    return -degrees if hemisphere in ("S", "W") else degrees
