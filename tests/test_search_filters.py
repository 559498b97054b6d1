"""The filter registry is the one spec: the parser, the SQL, the file types, the
autocomplete kinds and the web UI's filter list all agree with it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from hachi.catalog import conditions
from hachi.catalog.conditions import Match
from hachi.catalog.suggest import suggestions
from hachi.config import Settings
from hachi.library import Library
from hachi.media.formats import (
    FILE_TYPE_NAMES,
    IMAGE_MIME_BY_EXTENSION,
    MIMES_BY_TYPE,
    PHOTO_EXTENSIONS,
    RAW_EXTENSIONS,
    RAW_MIME_BY_EXTENSION,
    VIDEO_EXTENSIONS,
    VIDEO_MIME_BY_EXTENSION,
)
from hachi.search import ranking
from hachi.search.filters import FILTERS, SUGGEST_KINDS, FilterKey
from hachi.search.query import parse_query

FRONTEND = Path(__file__).resolve().parents[1] / "frontend" / "src"
MIME_OF_EXTENSION = {**IMAGE_MIME_BY_EXTENSION, **RAW_MIME_BY_EXTENSION}


def _js_list(path: Path, name: str) -> list[str]:
    found = re.search(rf"\b{name} = \[(.*?)\];", path.read_text(), re.S)
    assert found, f"{name} not found in {path}"
    return re.findall(r"'([^']*)'", found[1])


def _js_object(path: Path, name: str) -> dict[str, str]:
    found = re.search(rf"\b{name} = \{{(.*?)\}};", path.read_text(), re.S)
    assert found, f"{name} not found in {path}"
    return dict(re.findall(r"(\w+): '([^']*)'", found[1]))


# -- the registry and the UI ---------------------------------------------------------------


def test_every_key_has_a_spec() -> None:
    assert list(FILTERS) == list(FilterKey)
    assert all(spec.key is key for key, spec in FILTERS.items())


def test_the_ui_lists_the_registry_keys_and_aliases() -> None:
    expected = [name for spec in FILTERS.values() for name in (spec.key.value, *spec.aliases)]
    assert _js_list(FRONTEND / "lib" / "querytext.js", "FILTER_KEYS") == expected


def test_the_ui_completes_the_values_the_registry_completes() -> None:
    querytext = FRONTEND / "lib" / "querytext.js"
    expected = {
        name: spec.suggest
        for spec in FILTERS.values()
        if spec.suggest
        for name in (spec.key.value, *spec.aliases)
    }
    assert _js_object(querytext, "SUGGEST_KIND") == expected
    kinds = {spec.suggest: spec.key.value for spec in FILTERS.values() if spec.suggest}
    assert _js_object(querytext, "FILTER_FOR_KIND") == kinds
    bar = FRONTEND / "components" / "SearchBar.svelte"
    assert set(_js_list(bar, "SERVER_SUGGEST_KINDS")) == set(SUGGEST_KINDS)


def test_the_ui_asks_for_at_most_max_more() -> None:
    source = (FRONTEND / "lib" / "search.svelte.js").read_text()
    found = re.search(r"export const MAX_MORE = (\d+);", source)
    assert found and int(found[1]) == ranking.MAX_MORE


def test_every_suggest_kind_is_answered(settings: Settings) -> None:
    with Library(settings) as library:
        for kind in SUGGEST_KINDS:
            assert suggestions(library.conn, "a", kind, 5) == []


SAMPLE_VALUES = {
    FilterKey.AFTER: "2019", FilterKey.BEFORE: "2019-06", FilterKey.YEAR: "2020-01-02",
    FilterKey.TYPE: "jpg", FilterKey.ORIENTATION: "portrait", FilterKey.SIMILAR: "7",
    FilterKey.FACES: "2+", FilterKey.NEAR: "1,2,3km", FilterKey.WITHIN: "1,2,3,4",
    FilterKey.DURATION: ">30s", FilterKey.DAY: "07-14", FilterKey.DUPLICATE: "any",
    FilterKey.STACK: "off",
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "key"), [(n, s.key) for s in FILTERS.values() for n in (s.key.value, *s.aliases)]
)
def test_every_key_and_alias_parses_to_its_filter(name: str, key: FilterKey) -> None:
    query = parse_query(f"{name}:{SAMPLE_VALUES.get(key, 'word')}")
    assert [f.key for f in query.filters] == [key]


def test_every_match_has_sql() -> None:
    used = {
        match
        for spec in FILTERS.values()
        for match in (spec.match, spec.match_all, spec.match_only)
        if match is not None
    }
    assert used == set(Match)
    assert all(match in conditions._BUILDERS for match in Match)


# -- type: and the formats Hachi indexes ------------------------------------------------------


def test_type_accepts_exactly_the_indexed_formats() -> None:
    extensions = {e.removeprefix(".") for e in PHOTO_EXTENSIONS | VIDEO_EXTENSIONS}
    assert set(FILE_TYPE_NAMES) == extensions | {"raw", "video"}
    for ext in PHOTO_EXTENSIONS:
        assert MIME_OF_EXTENSION[ext] in MIMES_BY_TYPE[FILE_TYPE_NAMES[ext[1:]]], ext
    for ext, mime in VIDEO_MIME_BY_EXTENSION.items():
        assert mime in MIMES_BY_TYPE[FILE_TYPE_NAMES[ext[1:]]], ext
        assert mime in MIMES_BY_TYPE["video"], ext
    assert MIMES_BY_TYPE["raw"] == {RAW_MIME_BY_EXTENSION[e] for e in RAW_EXTENSIONS}
    photo_types = {FILE_TYPE_NAMES[e[1:]] for e in PHOTO_EXTENSIONS} | {"raw"}
    assert not any(MIMES_BY_TYPE[t] & MIMES_BY_TYPE["video"] for t in photo_types)


PILLOW_FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".png": "PNG",
    ".webp": "WEBP", ".gif": "GIF", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
    ".avif": "AVIF", ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF",
}  # fmt: skip


def _write_pillow(folder: Path) -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    for i, (ext, fmt) in enumerate(PILLOW_FORMATS.items()):
        Image.new("RGB", (40 + i, 30), (10 * i, 80, 120)).save(folder / f"made{ext}", fmt)


def _copy_corpus_raws(corpus: Path, folder: Path) -> None:
    for path in sorted((corpus / "exif").iterdir()):
        if path.suffix.lower() in RAW_EXTENSIONS:
            shutil.copy(path, folder / f"raw-{path.name}")


@pytest.fixture(scope="module")
def formats_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    from tests.photo_factory import CORPUS

    base = tmp_path_factory.mktemp("formats")
    folder = base / "photos"
    folder.mkdir()
    assert set(PILLOW_FORMATS) == set(IMAGE_MIME_BY_EXTENSION), "a new format needs a file here"
    _write_pillow(folder)
    if CORPUS.is_dir():
        _copy_corpus_raws(CORPUS, folder)
    settings = Settings.from_env({}, home=base / "home", workers=2)
    with Library(settings) as library:
        library.add_folder(str(folder))
        library.index_pending(with_models=False)
        yield library


def _ids(library: Library, q: str) -> dict[str, int]:
    """Every matching file: the made files are one picture in many formats, which search
    would otherwise stack into one hit (near-duplicates)."""
    return {r["name"]: r["id"] for r in library.search(f"{q} stack:off", limit=1000)["results"]}


@pytest.mark.parametrize("ext", sorted(PILLOW_FORMATS))
def test_type_finds_a_made_photo_of_each_format(formats_library: Library, ext: str) -> None:
    assert f"made{ext}" in _ids(formats_library, f"type:{ext[1:]}")


def test_type_finds_the_corpus_raws(formats_library: Library, corpus: Path) -> None:
    """The corpus RAWs that index (the others are truncated samples, recorded as failed),
    x3f and iiq among them: both were once accepted by ``type:`` but matched nothing."""
    raws = set(_ids(formats_library, "type:raw"))
    assert {"raw-SigmaDP2.x3f", "raw-PhaseOne.iiq", "raw-DNG.dng"} <= raws
    for name in raws:
        assert name in _ids(formats_library, f"type:{Path(name).suffix[1:]}"), name
    assert not raws & set(_ids(formats_library, "-type:raw"))


@pytest.mark.parametrize("ext", sorted(PHOTO_EXTENSIONS))
def test_type_matches_the_mime_each_extension_is_indexed_as(
    formats_library: Library, ext: str
) -> None:
    """Every extension, RAWs without a corpus file included: a catalog row with the mime a
    file of that extension is recorded with is found by ``type:<ext>`` (and by ``type:raw``
    exactly when it is a RAW)."""
    conn = formats_library.conn
    photo_id = _ids(formats_library, "file:made.png")["made.png"]
    conn.execute("UPDATE photos SET mime = ? WHERE id = ?", (MIME_OF_EXTENSION[ext], photo_id))
    try:
        assert photo_id in _ids(formats_library, f"type:{ext[1:]}").values()
        in_raw = photo_id in _ids(formats_library, "type:raw").values()
        assert in_raw == (ext in RAW_EXTENSIONS)
    finally:
        conn.execute("UPDATE photos SET mime = 'image/png' WHERE id = ?", (photo_id,))
