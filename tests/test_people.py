"""Faces and people through the whole pipeline on the labelled corpus, and the user's
decisions surviving rescans and full re-clustering."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hachi.config import Settings
from hachi.errors import BadRequest, Conflict, NotFound
from hachi.library import Library
from tests.photo_factory import require_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Library, dict, Path]]:
    from tests.photo_factory import CORPUS

    require_corpus(CORPUS / "faces")
    base = tmp_path_factory.mktemp("people")
    folder = base / "photos"
    shutil.copytree(CORPUS / "faces", folder)
    labels = json.loads((folder / "labels.json").read_text())
    labels.pop("_about")
    settings = Settings.from_env({}, home=base / "home", ocr=False, workers=2)
    library = Library(settings)
    library.add_folder(str(folder))
    library.index_pending()
    yield library, labels, folder
    library.close()


def _identity_pairs(library: Library, labels: dict) -> tuple[set, set]:
    """Pairs of faces the system put together, and pairs that truly belong together."""
    faces = library.people.faces()
    by_photo: dict[str, list[dict]] = {}
    for face in faces:
        by_photo.setdefault(Path(face["path"]).name, []).append(face)
    predicted, truth = set(), set()
    people_in = {name: [p for p in who if p != "unknown"] for name, who in labels.items()}
    single = {n: who[0] for n, who in people_in.items() if len(labels[n]) == 1}
    for a, b in itertools.combinations(faces, 2):
        if a["person_id"] is not None and a["person_id"] == b["person_id"]:
            predicted.add((a["id"], b["id"]))
        na, nb = Path(a["path"]).name, Path(b["path"]).name
        if na in single and nb in single and single[na] == single[nb]:
            truth.add((a["id"], b["id"]))
    return predicted, truth


def test_every_labelled_face_is_found_and_none_invented(indexed: tuple) -> None:
    library, labels, _ = indexed
    counts: dict[str, int] = {}
    for face in library.people.faces():
        counts[Path(face["path"]).name] = counts.get(Path(face["path"]).name, 0) + 1
    assert counts == {name: len(who) for name, who in labels.items()}


def test_the_face_model_is_released_after_its_pass(indexed: tuple) -> None:
    library, _, _ = indexed
    assert library.models.faces is not None and not library.models.faces.loaded


def test_people_are_pure_and_complete(indexed: tuple) -> None:
    library, labels, _ = indexed
    predicted, truth = _identity_pairs(library, labels)
    wrong = {p for p in predicted if p not in truth and _both_single(library, labels, p)}
    assert not wrong, "no person mixes two identities"
    assert len(predicted & truth) / len(truth) >= 0.9, "pairwise recall"
    listed = library.people.listed()
    assert len(listed) == 5, "five people have two or more photos"


def _both_single(library: Library, labels: dict, pair: tuple) -> bool:
    names = {f["id"]: Path(f["path"]).name for f in library.people.faces()}
    return all(len(labels[names[i]]) == 1 for i in pair)


def _person_of(library: Library, photo: str) -> int:
    return next(f["person_id"] for f in library.people.faces() if Path(f["path"]).name == photo)


def test_person_filter_and_faces_count(indexed: tuple) -> None:
    library, labels, _ = indexed
    obama = _person_of(library, "obama_1.jpg")
    library.people.rename(obama, "Barack Obama")
    # stack:off: obama_2.jpg and rgba_32bit.png (a converted copy) would show as one tile.
    hits = {
        Path(h["path"]).name for h in library.search("person:obama stack:off", limit=100)["results"]
    }
    single_obama = {n for n, who in labels.items() if who == ["obama"]}
    assert single_obama <= hits
    assert {
        Path(h["path"]).name for h in library.search(f"person:{obama} stack:off")["results"]
    } == hits
    not_obama = library.search("-person:obama stack:off", limit=100)["total"]
    assert not_obama + len(hits) == len(labels)
    three = {Path(h["path"]).name for h in library.search("faces:3")["results"]}
    assert three == {n for n, who in labels.items() if len(who) == 3}
    two_plus = library.search("faces:2+")["total"]
    assert two_plus == sum(1 for who in labels.values() if len(who) >= 2)
    assert library.search("barack stack:off")["total"] == len(hits), (
        "names are in the full-text index"
    )


def test_user_decisions_survive_rescans_and_reclustering(indexed: tuple) -> None:
    library, labels, folder = indexed
    biden = _person_of(library, "biden_1.jpg")
    library.people.rename(biden, "Joe Biden")
    split_face = next(
        f for f in library.people.faces(person_id=biden) if Path(f["path"]).name == "biden_2.jpg"
    )
    library.people.reject_face(split_face["id"])
    kit = _person_of(library, "kit_harington_1.jpg")
    rose_face = next(
        f for f in library.people.faces() if Path(f["path"]).name == "rose_leslie_1.jpg"
    )
    library.people.assign_face(rose_face["id"], person_id=kit)  # wrong but deliberate
    library.people.hide(kit, True)

    def check() -> None:
        faces = {f["id"]: f for f in library.people.faces()}
        assert library.people.get(biden)["name"] == "Joe Biden"
        assert faces[split_face["id"]]["person_id"] != biden, "a rejected face never returns"
        assert faces[rose_face["id"]]["person_id"] == kit, "a user assignment is never moved"
        assert library.people.get(kit)["hidden"] is True

    check()
    (folder / "biden_1_copy.jpg").write_bytes((folder / "biden_1.jpg").read_bytes()[:-1] + b"\xd9")
    library.rescan()
    library.index_pending()
    check()
    library.people.update(full=True)
    check()
    assert biden in {f["person_id"] for f in library.people.faces() if "biden_1_copy" in f["path"]}


def test_merge_and_bad_input(indexed: tuple) -> None:
    library, _, _ = indexed
    alex = _person_of(library, "alex_lacamoire_1.jpg")
    rose = _person_of(library, "rose_leslie_2.jpg")
    library.people.rename(rose, "Rose")
    merged = library.people.merge(alex, rose)
    assert merged["id"] == rose and merged["name"] == "Rose"
    with pytest.raises(NotFound):
        library.people.get(alex)
    with pytest.raises(Conflict):
        library.people.merge(rose, rose)
    with pytest.raises(BadRequest):
        library.people.rename(rose, "x" * 500)
    with pytest.raises(NotFound):
        library.people.reject_face(10**9)


def test_small_faces_in_large_photos_are_found(tmp_path: Path) -> None:
    """A face a twentieth of a 12 MP photo's width (a group photo) must still be found."""
    from PIL import Image

    from tests.photo_factory import CORPUS

    source = Image.open(CORPUS / "faces" / "obama_1.jpg").convert("RGB")
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, width in enumerate((220, 320)):
        canvas = Image.new("RGB", (4000, 3000), (110, 130, 120))
        face = source.resize((width * 2, round(width * 2 * source.height / source.width)))
        canvas.paste(face, (600 + 900 * i, 700))
        canvas.save(folder / f"group_{i}.jpg", quality=90)
    settings = Settings.from_env({}, home=tmp_path / "home", ocr=False, workers=2)
    library = Library(settings)
    try:
        library.add_folder(str(folder))
        library.index_pending()
        found = {Path(f["path"]).name for f in library.people.faces()}
        assert found == {"group_0.jpg", "group_1.jpg"}
    finally:
        library.close()
