"""Unit tests of hachi.media.exif on images generated here with Pillow (and hand-built blocks
for the broken metadata that Pillow refuses to write)."""

from __future__ import annotations

import io
import logging
import random
import statistics
import struct
import time
import zlib
from typing import Any

import pytest
from PIL import Image, TiffImagePlugin

from hachi.media.exif import PhotoMetadata, read_metadata

R = TiffImagePlugin.IFDRational
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, MODEL, ORIENTATION, DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
DATE_ORIGINAL, DATE_DIGITIZED = 0x9003, 0x9004
OFFSET_ORIGINAL, SUBSEC_ORIGINAL = 0x9011, 0x9291
EXPOSURE, FNUMBER, ISO, FOCAL, LENS = 0x829A, 0x829D, 0x8827, 0x920A, 0xA434
PERF_BUDGET_MS = 10.0  # generous for a shared CI core; the target on a desktop is < 3 ms


def jpeg(exif: Image.Exif | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, (200, 120, 40))
    image.save(buffer, "JPEG", **({"exif": exif} if exif is not None else {}))
    return buffer.getvalue()


def with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """Insert an APPn segment right after SOI."""
    return (
        data[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    )


def exif_with(ifd0: dict[int, Any] = {}, exif: dict[int, Any] = {}, gps: dict[int, Any] = {}):  # noqa: B006
    result = Image.Exif()
    result.update(ifd0)
    if exif:
        result.get_ifd(EXIF_IFD).update(exif)
    if gps:
        result.get_ifd(GPS_IFD).update(gps)
    return result


def dms(value: float) -> tuple[R, R, R]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 10000)
    return R(degrees, 1), R(minutes, 1), R(seconds, 10000)


def test_camera_jpeg_reads_every_field() -> None:
    meta = read_metadata(
        jpeg(
            exif_with(
                {MAKE: "Canon", MODEL: " Canon EOS R5 ", ORIENTATION: 6},
                {
                    DATE_ORIGINAL: "2021:06:01 12:34:56",
                    SUBSEC_ORIGINAL: "081",
                    OFFSET_ORIGINAL: "+05:30",
                    EXPOSURE: R(1, 250),
                    FNUMBER: R(28, 10),
                    ISO: 400,
                    FOCAL: R(50, 1),
                    LENS: "RF50mm F1.8 STM",
                },
            ),
            size=(64, 48),
        ),
        "IMG_0001.JPG",
    )
    assert meta == PhotoMetadata(
        taken_at="2021-06-01T12:34:56.081",
        tz_offset=330,
        taken_source="DateTimeOriginal",
        make="Canon",
        model="Canon EOS R5",
        lens="RF50mm F1.8 STM",
        focal_length=50.0,
        aperture=2.8,
        exposure_time=0.004,
        iso=400,
        orientation=6,
        width=64,
        height=48,
    )


@pytest.mark.parametrize(
    ("lat", "lat_ref", "lon", "lon_ref", "signed"),
    [
        (48.8584, "N", 2.2945, "E", (48.8584, 2.2945)),
        (40.6892, "N", 74.0445, "W", (40.6892, -74.0445)),
        (33.8568, "S", 151.2153, "E", (-33.8568, 151.2153)),
        (22.9519, "S", 43.2105, "W", (-22.9519, -43.2105)),
    ],
)
def test_gps_hemispheres(lat: float, lat_ref: str, lon: float, lon_ref: str, signed: Any) -> None:
    gps = {1: lat_ref, 2: dms(lat), 3: lon_ref, 4: dms(lon)}
    meta = read_metadata(jpeg(exif_with(gps=gps)))
    assert meta.latitude == pytest.approx(signed[0], abs=1e-6)
    assert meta.longitude == pytest.approx(signed[1], abs=1e-6)


@pytest.mark.parametrize(("ref", "expected"), [(b"\x00", 123.5), (b"\x01", -123.5)])
def test_altitude_above_and_below_sea_level(ref: bytes, expected: float) -> None:
    meta = read_metadata(jpeg(exif_with(gps={5: ref, 6: R(1235, 10)})))
    assert meta.altitude == pytest.approx(expected)


@pytest.mark.parametrize("value", range(1, 9))
def test_each_orientation(value: int) -> None:
    assert read_metadata(jpeg(exif_with({ORIENTATION: value}))).orientation == value


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_out_of_range_orientation_is_none(value: int) -> None:
    assert read_metadata(jpeg(exif_with({ORIENTATION: value}))).orientation is None


@pytest.mark.parametrize(
    "garbage", ["0000:00:00 00:00:00", "    :  :     ", "2021:13:45 25:00:00", "yesterday", ""]
)
def test_garbage_dates_are_none_and_fall_through(garbage: str) -> None:
    meta = read_metadata(
        jpeg(exif_with({DATETIME: "2020:01:02 03:04:05"}, {DATE_ORIGINAL: garbage}))
    )
    assert (meta.taken_at, meta.taken_source) == ("2020-01-02T03:04:05", "ModifyDate")
    only_garbage = read_metadata(jpeg(exif_with(exif={DATE_ORIGINAL: garbage})))
    assert only_garbage.taken_at is None and only_garbage.taken_source is None


def test_create_date_is_used_when_original_is_missing() -> None:
    meta = read_metadata(jpeg(exif_with(exif={DATE_DIGITIZED: "2019:05:06 07:08:09"})))
    assert (meta.taken_at, meta.taken_source, meta.tz_offset) == (
        "2019-05-06T07:08:09",
        "CreateDate",
        None,
    )


def test_gps_time_is_utc() -> None:
    gps = {7: (R(13, 1), R(14, 1), R(15, 1)), 29: "2018:02:03"}
    meta = read_metadata(jpeg(exif_with(gps=gps)))
    assert (meta.taken_at, meta.tz_offset, meta.taken_source) == (
        "2018-02-03T13:14:15",
        0,
        "GPSDateTime",
    )


def test_zero_denominators_give_none() -> None:
    exif = {EXPOSURE: R(1, 0), FNUMBER: R(0, 0), FOCAL: R(35, 0)}
    meta = read_metadata(jpeg(exif_with(exif=exif, gps={5: b"\x00", 6: R(5, 0)})))
    assert (meta.exposure_time, meta.aperture, meta.focal_length, meta.altitude) == (None,) * 4


def test_gps_without_refs_keeps_the_stored_values() -> None:
    meta = read_metadata(jpeg(exif_with(gps={2: dms(10.5), 4: dms(20.25)})))
    assert (meta.latitude, meta.longitude) == (pytest.approx(10.5), pytest.approx(20.25))


@pytest.mark.parametrize(("lat", "lon"), [(95.0, 10.0), (10.0, 181.0)])
def test_out_of_range_position_is_dropped(lat: float, lon: float) -> None:
    gps = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    meta = read_metadata(jpeg(exif_with(gps=gps)))
    assert (meta.latitude, meta.longitude) == (None, None)


def test_control_characters_are_cleaned() -> None:
    meta = read_metadata(jpeg(exif_with({MAKE: "NIKON\x07 CORP\x1b  ", MODEL: "\x00\x00"})))
    assert (meta.make, meta.model) == ("NIKON  CORP", None)


def test_xmp_only_jpeg() -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:e="http://ns.adobe.com/exif/1.0/" '
        b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        b'e:DateTimeOriginal="2019-07-04T10:20:30.5-07:00"'
        b' e:GPSLatitude="37,46.5N" e:GPSLongitude="122,25.2W" tiff:Make="Apple &amp; Co">'
        b"<e:FNumber>18/10</e:FNumber><e:ISOSpeedRatings><rdf:Seq><rdf:li>64</rdf:li></rdf:Seq>"
        b"</e:ISOSpeedRatings></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    data = with_segment(jpeg(), 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp)
    meta = read_metadata(data)
    assert (meta.taken_at, meta.tz_offset, meta.taken_source) == (
        "2019-07-04T10:20:30.5",
        -420,
        "XMP:DateTimeOriginal",
    )
    assert (meta.make, meta.aperture, meta.iso) == ("Apple & Co", 1.8, 64)
    assert meta.latitude == pytest.approx(37.775) and meta.longitude == pytest.approx(-122.42)


def test_iptc_date_and_time() -> None:
    iim = b"\x1c\x02\x37\x00\x0820200315" + b"\x1c\x02\x3c\x00\x0b142530+0100"
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iim)) + iim
    meta = read_metadata(with_segment(jpeg(), 0xED, b"Photoshop 3.0\x00" + resource))
    assert (meta.taken_at, meta.tz_offset, meta.taken_source) == (
        "2020-03-15T14:25:30",
        60,
        "IPTC:DateCreated",
    )


def test_png_webp_and_tiff_carry_exif() -> None:
    when = "2010:10:10 10:10:10"  # also in IFD0: Pillow's TIFF writer drops the EXIF IFD
    exif = exif_with({MAKE: "Fuji", ORIENTATION: 3, DATETIME: when}, {DATE_ORIGINAL: when})
    for fmt in ("PNG", "WEBP", "TIFF"):
        buffer = io.BytesIO()
        Image.new("RGB", (33, 21)).save(buffer, fmt, exif=exif)
        meta = read_metadata(buffer.getvalue(), f"x.{fmt.lower()}")
        assert (meta.make, meta.orientation, meta.taken_at, meta.width, meta.height) == (
            "Fuji",
            3,
            "2010-10-10T10:10:10",
            33,
            21,
        ), fmt


def test_png_imagemagick_raw_profile() -> None:
    payload = exif_with({MAKE: "Sony"}).tobytes()  # Pillow includes the 'Exif\0\0' header
    assert payload.startswith(b"Exif\x00\x00")
    text = b"\nexif\n" + str(len(payload)).encode() + b"\n" + payload.hex().encode()
    chunk_body = b"Raw profile type exif\x00\x00" + zlib.compress(text)
    chunk = struct.pack(">I", len(chunk_body)) + b"zTXt" + chunk_body + b"\x00" * 4
    buffer = io.BytesIO()
    Image.new("L", (5, 7)).save(buffer, "PNG")
    png = buffer.getvalue()
    data = png[:33] + chunk + png[33:]  # after the 8-byte signature and 25-byte IHDR chunk
    meta = read_metadata(data)
    assert (meta.make, meta.width, meta.height) == ("Sony", 5, 7)


def test_heic_exif_and_size() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    exif = exif_with({MAKE: "Apple", ORIENTATION: 1}, {DATE_ORIGINAL: "2023:04:05 06:07:08"})
    Image.new("RGB", (64, 32), (10, 200, 30)).save(buffer, "HEIF", exif=exif)
    meta = read_metadata(buffer.getvalue(), "IMG.jpg")  # a misleading name changes nothing
    assert (meta.make, meta.taken_at, meta.width, meta.height) == (
        "Apple",
        "2023-04-05T06:07:08",
        64,
        32,
    )


@pytest.mark.parametrize(
    "data", [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\xff\xff", b"GIF89a", b"\x00" * 99]
)
def test_junk_never_raises(data: bytes) -> None:
    meta = read_metadata(data)
    assert (meta.taken_at, meta.make, meta.latitude, meta.width) == (None, None, None, None)


def test_corrupted_exif_never_raises_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Random byte flips in the EXIF segment: no exception, no log record, no warning."""
    logging.getLogger("exifread").setLevel(logging.NOTSET)  # as in a fresh process
    original = jpeg(
        exif_with({MAKE: "Canon"}, {DATE_ORIGINAL: "2021:06:01 12:34:56"}, {2: dms(1.0)})
    )
    rng = random.Random(1234)
    caplog.set_level(logging.DEBUG)
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(2, 400)] = rng.randrange(256)
        assert isinstance(read_metadata(bytes(data)), PhotoMetadata)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_truncated_files_read_what_is_there() -> None:
    data = jpeg(exif_with({MAKE: "Canon"}, {DATE_ORIGINAL: "2021:06:01 12:34:56"}))
    for cut in range(0, len(data), 7):
        assert isinstance(read_metadata(data[:cut]), PhotoMetadata)


def test_typical_camera_jpeg_is_fast() -> None:
    exif = exif_with(
        {MAKE: "Canon", MODEL: "EOS", ORIENTATION: 1, DATETIME: "2021:06:01 12:34:56"},
        {DATE_ORIGINAL: "2021:06:01 12:34:56", EXPOSURE: R(1, 250), FNUMBER: R(28, 10)}
        | {ISO: 400, FOCAL: R(50, 1), LENS: "RF50mm", SUBSEC_ORIGINAL: "12"}
        | {0xA000 + i: 1 for i in range(1, 3)},
        {1: "N", 2: dms(48.0), 3: "E", 4: dms(2.0), 5: b"\x00", 6: R(35, 1)},
    )
    data = jpeg(exif, size=(1600, 1200))
    read_metadata(data)
    timings = []
    for _ in range(30):
        start = time.perf_counter()
        read_metadata(data)
        timings.append((time.perf_counter() - start) * 1000)
    assert statistics.median(timings) < PERF_BUDGET_MS
