"""Faces in the catalog: decisions (lock, reject, merge) and carrying names to a new backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from hachi.catalog import faces as faces_db
from hachi.catalog import folders, photos
from hachi.catalog.db import connect, transaction
from hachi.catalog.photos import PhotoRecord
from hachi.errors import Conflict, NotFound


def _photo(conn, folder_id: int, name: str) -> int:  # noqa: ANN001
    record = PhotoRecord(
        path=f"/p/{name}",
        folder_id=folder_id,
        dir_path="/p",
        dir_label="p",
        size=1,
        mtime_ns=1,
        content_hash=name * 4,
        mime="image/jpeg",
        width=1000,
        height=800,
        taken_at=None,
        tz_offset=None,
        taken_source=None,
        camera_make=None,
        camera_model=None,
        camera_label=None,
        lens=None,
        focal_length=None,
        aperture=None,
        exposure_time=None,
        iso=None,
        latitude=None,
        longitude=None,
        altitude=None,
        orientation=None,
        place=None,
    )
    return photos.upsert_photo(conn, record, None)


def _face(x: float, y: float) -> faces_db.NewFace:
    return faces_db.NewFace((x, y, 0.2, 0.25), ((x, y),) * 5, 1.0)


@pytest.fixture
def conn(tmp_path: Path):  # noqa: ANN201
    c = connect(tmp_path / "catalog.db")
    yield c
    c.close()


def test_a_new_backend_inherits_names_by_box_overlap(conn) -> None:  # noqa: ANN001
    folder = folders.add_folder(conn, "/p")
    with transaction(conn):
        pid = _photo(conn, folder.id, "a")
        old = faces_db.replace_faces(conn, pid, "dlib", [_face(0.1, 0.1), _face(0.6, 0.1)], 0)
        alice = faces_db.create_person(conn, "Alice")
        bob = faces_db.create_person(conn, "Bob")
        faces_db.assign_face(conn, old[0], alice)
        faces_db.set_assignments(conn, {old[1]: bob})
        new = faces_db.replace_faces(
            conn, pid, "insightface", [_face(0.61, 0.12), _face(0.11, 0.1), _face(0.4, 0.7)], 0
        )
        assert faces_db.inherit_people(conn, pid, "insightface") == 2
    got = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT id, person_id, assigned_by FROM faces WHERE backend = 'insightface'"
        )
    }
    assert got[new[0]] == (bob, "auto")
    assert got[new[1]] == (alice, "user"), "a user's lock travels with the name"
    assert got[new[2]] == (None, "auto"), "a face nobody had stays open"


def test_reject_assign_merge(conn) -> None:  # noqa: ANN001
    folder = folders.add_folder(conn, "/p")
    with transaction(conn):
        pid = _photo(conn, folder.id, "b")
        f1, f2 = faces_db.replace_faces(conn, pid, "dlib", [_face(0.1, 0.1), _face(0.5, 0.5)], 0)
        a = faces_db.create_person(conn)
        b = faces_db.create_person(conn, "B")
        faces_db.set_assignments(conn, {f1: a})
        assert faces_db.reject_face(conn, f1) == a
        assert (f1, a) in faces_db.rejections(conn, "dlib")
        faces_db.assign_face(conn, f2, b)
        faces_db.assign_face(conn, f1, b)  # same photo: f2 must let go of B
        owners = dict(conn.execute("SELECT id, person_id FROM faces").fetchall())
        assert owners == {f1: b, f2: None}
        assert (f2, b) in faces_db.rejections(conn, "dlib")
        faces_db.merge_people(conn, a, b)
        assert (f1, b) in faces_db.rejections(conn, "dlib"), "rejections follow a merge"
        faces_db.set_assignments(conn, {f1: a})  # automatic runs never move a locked face
        assert conn.execute("SELECT person_id FROM faces WHERE id = ?", (f1,)).fetchone()[0] == b


def test_a_merge_locks_the_faces_it_moves(conn) -> None:  # noqa: ANN001
    folder = folders.add_folder(conn, "/m")
    with transaction(conn):
        pid = _photo(conn, folder.id, "m")
        (face,) = faces_db.replace_faces(conn, pid, "dlib", [_face(0.1, 0.1)], 0)
        source, target = faces_db.create_person(conn), faces_db.create_person(conn, "T")
        faces_db.set_assignments(conn, {face: source})
        faces_db.merge_people(conn, source, target)
        faces_db.set_assignments(conn, {face: None})  # an automatic run cannot take it back
    row = conn.execute("SELECT person_id, assigned_by FROM faces WHERE id = ?", (face,)).fetchone()
    assert tuple(row) == (target, "user")


def test_person_terms_prefer_a_whole_name(conn) -> None:  # noqa: ANN001
    with transaction(conn):
        ada = faces_db.create_person(conn, "Ada")
        lovelace = faces_db.create_person(conn, "Ada Lovelace")
        grace = faces_db.create_person(conn, "Grace Hopper")
    assert faces_db.people_matching(conn, ["ada"]) == [ada]
    assert faces_db.people_matching(conn, ["lovelace"]) == [lovelace]
    assert faces_db.people_matching(conn, ["hopper", str(ada)]) == sorted([grace, ada])
    assert faces_db.people_matching(conn, ["ad"]) == []


def _state(conn) -> tuple:  # noqa: ANN001
    """Everything a merge or a rejection touches, to compare before and after an undo."""
    queries = (
        "SELECT id, name, hidden, created_at, named_at FROM people ORDER BY id",
        "SELECT id, person_id, assigned_by FROM faces ORDER BY id",
        "SELECT face_id, person_id FROM face_rejections ORDER BY face_id, person_id",
    )
    return tuple([tuple(row) for row in conn.execute(sql)] for sql in queries)


def test_unmerge_puts_everything_back(conn) -> None:  # noqa: ANN001
    folder = folders.add_folder(conn, "/u")
    with transaction(conn):
        one, two = _photo(conn, folder.id, "u"), _photo(conn, folder.id, "v")
        f1, f2 = faces_db.replace_faces(conn, one, "dlib", [_face(0.1, 0.1), _face(0.5, 0.5)], 0)
        (f3,) = faces_db.replace_faces(conn, two, "dlib", [_face(0.2, 0.2)], 0)
        source = faces_db.create_person(conn, "Sam")
        target = faces_db.create_person(conn)
        other = faces_db.create_person(conn, "Other")
        faces_db.set_assignments(conn, {f1: source, f3: target})
        faces_db.assign_face(conn, f2, other)
        faces_db.assign_face(conn, f2, source)  # locked to source; "Other" rejected it
        faces_db.reject_face(conn, f3)  # target said "not me" to f3
        faces_db.assign_face(conn, f3, other)
        conn.execute("INSERT INTO face_rejections VALUES (?, ?)", (f3, source))
        before = _state(conn)
        merge_id = faces_db.merge_people(conn, source, target)
        after_merge = _state(conn)
        assert after_merge != before
        name = conn.execute("SELECT name FROM people WHERE id = ?", (target,)).fetchone()[0]
        assert name == "Sam", "the unnamed target took the source's name"
        assert faces_db.unmerge_people(conn, merge_id) == (source, target)
    assert _state(conn) == before
    with pytest.raises(NotFound):
        faces_db.unmerge_people(conn, merge_id)  # once only


def test_unmerge_leaves_faces_moved_since_and_finds_a_free_id(conn) -> None:  # noqa: ANN001
    folder = folders.add_folder(conn, "/w")
    with transaction(conn):
        pid = _photo(conn, folder.id, "w")
        f1, f2 = faces_db.replace_faces(conn, pid, "dlib", [_face(0.1, 0.1), _face(0.5, 0.5)], 0)
        target = faces_db.create_person(conn, "T")
        source = faces_db.create_person(conn, "S")
        faces_db.set_assignments(conn, {f1: source, f2: source})
        merge_id = faces_db.merge_people(conn, source, target)
        faces_db.reject_face(conn, f2)  # moved away after the merge: stays where the user put it
        newcomer = faces_db.create_person(conn, "New")  # takes the freed id
        assert newcomer == source
        restored, _ = faces_db.unmerge_people(conn, merge_id)
    assert restored not in (source, target)
    owners = dict(conn.execute("SELECT id, person_id FROM faces").fetchall())
    assert owners == {f1: restored, f2: None}
    names = dict(conn.execute("SELECT id, name FROM people").fetchall())
    assert names == {target: "T", newcomer: "New", restored: "S"}


def test_unreject_restores_the_face_and_its_lock(conn) -> None:  # noqa: ANN001
    folder = folders.add_folder(conn, "/r")
    with transaction(conn):
        pid = _photo(conn, folder.id, "r")
        (face,) = faces_db.replace_faces(conn, pid, "dlib", [_face(0.1, 0.1)], 0)
        person = faces_db.create_person(conn)
        faces_db.set_assignments(conn, {face: person})
        before = _state(conn)
        faces_db.reject_face(conn, face)
        faces_db.unreject_face(conn, face, person, locked=False)
        assert _state(conn) == before
        with pytest.raises(Conflict):
            faces_db.unreject_face(conn, face, person, locked=False)
