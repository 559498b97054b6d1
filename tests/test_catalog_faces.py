"""Faces in the catalog: decisions (lock, reject, merge) and carrying names to a new backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from hachi.catalog import faces as faces_db
from hachi.catalog import folders, photos
from hachi.catalog.db import connect, transaction
from hachi.catalog.photos import PhotoRecord


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
