"""Compare hachi.media.exif with ExifTool, field by field, over the shared EXIF corpus.

ExifTool runs once over the whole folder. Every disagreement must be listed, with a reason,
in KNOWN_DIFFERENCES; the tests fail on a new disagreement and also on a listed one that no
longer happens, so the list stays an honest account of where we differ and why.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hachi.media.exif import PhotoMetadata, read_metadata
from tests.photo_factory import require_corpus

CORPUS = Path(__file__).parents[1].parent / "shared" / "corpus" / "exif"
PHOTO_EXTENSIONS = {
    ".jpg", ".jpeg", ".jps", ".tif", ".tiff", ".btf", ".png", ".webp", ".heic", ".heif",
    ".avif", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf",
    ".orf", ".rw2", ".pef", ".srw", ".mrw", ".x3f", ".iiq", ".3fr", ".erf", ".kdc", ".mef",
    ".mos", ".raw", ".rwl",
}  # fmt: skip
RELATIVE_TOLERANCE = 1e-4
GPS_TOLERANCE = 1e-6  # degrees, about 10 cm
EXIFTOOL_TIMEOUT_S = 120

# (file, field) -> why our answer differs from ExifTool's plain `-j -n -fast` output.
MAKERNOTE = "ExifTool prefers the maker-note value; we read only standard EXIF/XMP tags"
UNPARSED_FORMAT = "proprietary container we do not parse (rare format, no EXIF block)"
ZERO_IS_UNKNOWN = "the file stores 0, which EXIF uses for 'unknown'; we report None"
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("BigTIFF.btf", "width"): "BigTIFF (64-bit offsets) is not read; no camera writes it",
    ("BigTIFF.btf", "height"): "BigTIFF (64-bit offsets) is not read; no camera writes it",
    ("Casio.jpg", "iso"): MAKERNOTE + " (Casio maker note; the EXIF ISO tag is absent)",
    ("Casio2.jpg", "iso"): MAKERNOTE + " (Casio maker note; the EXIF ISO tag is absent)",
    ("CasioQVCI.jpg", "taken_at"): "date is only in Casio's QVCI APP segment, not EXIF/XMP",
    ("DNG.dng", "lens"): "ExifTool calls XMP aux:Lens 'Lens', not 'LensModel'; we use it",
    ("DNG.dng", "tz_offset"): "XMP exif:DateTimeOriginal states the same time with -04:00;"
    " we borrow that zone, ExifTool keeps EXIF's zone-less value",
    ("ExifTool.jpg", "exposure_time"): MAKERNOTE + " (Canon CIFF/PictureInfo blocks)",
    ("ExifTool.jpg", "make"): "ExifTool prefers an embedded Canon CIFF block over EXIF",
    ("ExifTool.jpg", "model"): "ExifTool prefers an embedded Canon CIFF block over EXIF",
    ("ExifTool.jpg", "taken_at"): "ExifTool prefers an embedded Canon CIFF block over EXIF",
    ("FLIR.jpg", "lens"): MAKERNOTE + " (FLIR thermal camera record)",
    ("FLIR.jpg", "taken_at"): MAKERNOTE + " (FLIR record has sub-seconds, EXIF has none)",
    ("FLIR.jpg", "tz_offset"): MAKERNOTE + " (FLIR record has a zone, EXIF has none)",
    ("GPS.jpg", "focal_length"): ZERO_IS_UNKNOWN,
    ("GPS.jpg", "iso"): ZERO_IS_UNKNOWN,
    ("IPTC.jpg", "taken_at"): "IPTC DateCreated gives a day without a time; we keep it as"
    " midnight (better than the file mtime), ExifTool forms no DateTimeOriginal from it",
    ("Kodak.jpg", "aperture"): MAKERNOTE + " (Kodak maker note)",
    ("Kodak.jpg", "exposure_time"): MAKERNOTE + " (Kodak maker note)",
    ("Kodak.jpg", "iso"): MAKERNOTE + " (Kodak maker note; the EXIF ISO tag is absent)",
    ("Pentax.jpg", "iso"): "with -n ExifTool prints the Pentax maker note's ISO index (6);"
    " EXIF says ISO 100, which is right",
    ("PhaseOne.iiq", "height"): "IIQ keeps the sensor size in a proprietary directory;"
    " the TIFF IFD0 we read describes a 1x1 placeholder",
    ("PhaseOne.iiq", "width"): "IIQ keeps the sensor size in a proprietary directory;"
    " the TIFF IFD0 we read describes a 1x1 placeholder",
    ("PhaseOne.iiq", "lens"): MAKERNOTE + " (Phase One directory)",
    ("CanonRaw.crw", "taken_at"): UNPARSED_FORMAT + " (Canon CIFF, 2000-2004 cameras)",
    ("CanonRaw.crw", "make"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("CanonRaw.crw", "model"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("CanonRaw.crw", "focal_length"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("CanonRaw.crw", "aperture"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("CanonRaw.crw", "exposure_time"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("CanonRaw.crw", "iso"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("CanonRaw.crw", "width"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("CanonRaw.crw", "height"): UNPARSED_FORMAT + " (Canon CIFF)",
    ("KyoceraRaw.raw", "taken_at"): UNPARSED_FORMAT + " (Kyocera)",
    ("KyoceraRaw.raw", "make"): UNPARSED_FORMAT + " (Kyocera)",
    ("KyoceraRaw.raw", "model"): UNPARSED_FORMAT + " (Kyocera)",
    ("KyoceraRaw.raw", "lens"): UNPARSED_FORMAT + " (Kyocera)",
    ("KyoceraRaw.raw", "focal_length"): UNPARSED_FORMAT + " (Kyocera)",
    ("KyoceraRaw.raw", "aperture"): UNPARSED_FORMAT + " (Kyocera)",
    ("KyoceraRaw.raw", "exposure_time"): UNPARSED_FORMAT + " (Kyocera)",
    ("KyoceraRaw.raw", "iso"): UNPARSED_FORMAT + " (Kyocera)",
    ("Sigma.x3f", "taken_at"): UNPARSED_FORMAT + " (old Sigma X3F without embedded EXIF)",
    ("Sigma.x3f", "make"): UNPARSED_FORMAT + " (old Sigma X3F)",
    ("Sigma.x3f", "model"): UNPARSED_FORMAT + " (old Sigma X3F)",
    ("Sigma.x3f", "focal_length"): UNPARSED_FORMAT + " (old Sigma X3F)",
    ("Sigma.x3f", "aperture"): UNPARSED_FORMAT + " (old Sigma X3F)",
    ("Sigma.x3f", "exposure_time"): UNPARSED_FORMAT + " (old Sigma X3F)",
    ("Sigma.x3f", "iso"): UNPARSED_FORMAT + " (old Sigma X3F)",
    ("Sigma.x3f", "width"): UNPARSED_FORMAT + " (old Sigma X3F)",
    ("Sigma.x3f", "height"): UNPARSED_FORMAT + " (old Sigma X3F)",
}


def _exiftool_records() -> dict[str, dict[str, Any]]:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not on PATH (CI installs it; apt install libimage-exiftool-perl)")
    require_corpus(CORPUS)
    run = subprocess.run(
        ["exiftool", "-j", "-n", "-fast", str(CORPUS)],
        capture_output=True,
        timeout=EXIFTOOL_TIMEOUT_S,
        check=False,  # exiftool exits 1 when some file in the folder is unreadable
    )
    records = json.loads(run.stdout)
    return {Path(r["SourceFile"]).name: r for r in records if "Error" not in r}


@pytest.fixture(scope="module")
def records() -> dict[str, dict[str, Any]]:
    return _exiftool_records()


@pytest.fixture(scope="module")
def differences(records: dict[str, dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(file, field) -> (ours, ExifTool's) for every photo ExifTool can read."""
    found: dict[tuple[str, str], tuple[Any, Any]] = {}
    for name, record in sorted(records.items()):
        if Path(name).suffix.lower() not in PHOTO_EXTENSIONS:
            continue
        ours = read_metadata((CORPUS / name).read_bytes(), name)
        for field, theirs in expected_fields(record).items():
            mine = getattr(ours, field)
            if not same(field, mine, theirs):
                found[(name, field)] = (mine, theirs)
    return found


def expected_fields(record: dict[str, Any]) -> dict[str, Any]:
    """ExifTool's answer for each PhotoMetadata field (taken_source is ours alone)."""
    taken_at, tz_offset = exiftool_taken(record)
    return {
        "taken_at": taken_at,
        "tz_offset": tz_offset,
        "make": text(record.get("Make")),
        "model": text(record.get("Model")),
        "lens": text(record.get("LensModel")) or descriptive(record.get("Lens")),
        "focal_length": number(record.get("FocalLength")),
        "aperture": number(record.get("FNumber")),
        "exposure_time": number(record.get("ExposureTime")),
        "iso": number(record.get("ISO")),
        "latitude": number(record.get("GPSLatitude")),
        "longitude": number(record.get("GPSLongitude")),
        "altitude": number(record.get("GPSAltitude")),
        "orientation": number(record.get("Orientation")),
        "width": number(record.get("ImageWidth")),
        "height": number(record.get("ImageHeight")),
    }


DATE_FIELDS = (
    ("DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal"),
    ("CreateDate", "SubSecTimeDigitized", "OffsetTimeDigitized"),
    ("ModifyDate", "SubSecTime", "OffsetTime"),
)
EXIFTOOL_DATE = re.compile(
    r"^(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$"
)


def exiftool_taken(record: dict[str, Any]) -> tuple[str | None, int | None]:
    """First readable date of DateTimeOriginal, CreateDate, ModifyDate, as ISO + offset."""
    for date_tag, subsec_tag, offset_tag in DATE_FIELDS:
        match = EXIFTOOL_DATE.match(str(record.get(date_tag, "")))
        if match is None or match.group(1) == "0000":
            continue
        y, mo, d, h, mi, s, fraction, zone = match.groups()
        subsec = record.get(subsec_tag)
        if fraction is None and subsec is not None and str(subsec).strip().isdigit():
            fraction = "." + str(subsec).strip()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}{fraction or ''}", minutes(zone or record.get(offset_tag))
    return None, None


def minutes(zone: Any) -> int | None:
    if not isinstance(zone, str) or not re.fullmatch(r"Z|[+-]\d\d:\d\d", zone):
        return None
    if zone == "Z":
        return 0
    sign = -1 if zone[0] == "-" else 1
    return sign * (int(zone[1:3]) * 60 + int(zone[4:6]))


def text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def descriptive(value: Any) -> str | None:
    """ExifTool's Lens is numeric for some makers ('18 70 3.5 4.5'); only a name counts."""
    value = text(value)
    return value if value and re.search(r"[A-Za-z]", value) else None


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def same(field: str, mine: Any, theirs: Any) -> bool:
    if mine is None or theirs is None:
        return mine is None and theirs is None
    if isinstance(theirs, float):
        tolerance = GPS_TOLERANCE if field in ("latitude", "longitude") else 0.0
        return math.isclose(float(mine), theirs, rel_tol=RELATIVE_TOLERANCE, abs_tol=tolerance)
    return mine == theirs


def test_every_difference_from_exiftool_is_known(
    differences: dict[tuple[str, str], tuple[Any, Any]],
) -> None:
    unknown = {key: value for key, value in differences.items() if key not in KNOWN_DIFFERENCES}
    report = "\n".join(f"{k}: ours={v[0]!r} exiftool={v[1]!r}" for k, v in sorted(unknown.items()))
    assert not unknown, f"unlisted differences from ExifTool:\n{report}"


def test_every_known_difference_still_occurs(
    differences: dict[tuple[str, str], tuple[Any, Any]],
) -> None:
    stale = sorted(set(KNOWN_DIFFERENCES) - set(differences))
    assert not stale, f"KNOWN_DIFFERENCES lists agreements, remove them: {stale}"


def test_corpus_covers_the_main_photo_formats(records: dict[str, dict[str, Any]]) -> None:
    """Guard against a corpus or filter change that silently compares almost nothing."""
    names = {name for name in records if Path(name).suffix.lower() in PHOTO_EXTENSIONS}
    suffixes = {Path(name).suffix.lower() for name in names}
    assert {".jpg", ".tif", ".png", ".webp", ".heic", ".cr2", ".cr3", ".nef", ".dng"} <= suffixes
    assert len(names) >= 50


def test_read_metadata_returns_the_dataclass_for_every_corpus_file() -> None:
    """Every file of the corpus, photo or not (PDF, MP3, ZIP...), reads without raising."""
    require_corpus(CORPUS)
    for path in sorted(CORPUS.iterdir()):
        assert isinstance(read_metadata(path.read_bytes(), path.name), PhotoMetadata)
