"""Faces and people in the catalog, and the user's decisions about them.

A face assigned by the user (``assigned_by = 'user'``) is locked: automatic clustering
never moves it. "Not this person" is a rejection row: clustering never puts that face
back into that person. Merging moves faces and rejections, so no decision is lost.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hachi.catalog.clock import utc_now
from hachi.errors import Conflict, NotFound
from hachi.textnorm import fold

USER, AUTO = "user", "auto"


@dataclass(frozen=True)
class NewFace:
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the upright photo
    landmarks: tuple[tuple[float, float], ...]  # fractions too
    score: float


@dataclass(frozen=True)
class Person:
    id: int
    name: str | None
    hidden: bool
    faces: int
    photos: int
    cover_face_id: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- writing faces (indexing) -------------------------------------------------------------


def replace_faces(
    conn: sqlite3.Connection,
    photo_id: int,
    backend: str,
    faces: Sequence[NewFace],
    first_row: int,
) -> list[int]:
    """The photo's faces for this backend, replacing any earlier detection of them."""
    conn.execute("DELETE FROM faces WHERE photo_id = ? AND backend = ?", (photo_id, backend))
    ids = []
    for i, face in enumerate(faces):
        cur = conn.execute(
            "INSERT INTO faces (photo_id, backend, x, y, w, h, landmarks, score, embedding_row)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (photo_id, backend, *face.box, json.dumps(face.landmarks), face.score, first_row + i),
        )
        ids.append(int(cur.lastrowid or 0))
    return ids


# -- reading faces for clustering ---------------------------------------------------------


def face_rows(
    conn: sqlite3.Connection, backend: str
) -> list[tuple[int, int, int, int | None, bool]]:
    """(face id, photo id, embedding row, person id, locked) of every face of a backend."""
    rows = conn.execute(
        "SELECT id, photo_id, embedding_row, person_id, assigned_by = 'user' FROM faces "
        "WHERE backend = ? ORDER BY id",
        (backend,),
    )
    return [(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]


def rejections(conn: sqlite3.Connection, backend: str) -> frozenset[tuple[int, int]]:
    rows = conn.execute(
        "SELECT r.face_id, r.person_id FROM face_rejections r JOIN faces f ON f.id = r.face_id "
        "WHERE f.backend = ?",
        (backend,),
    )
    return frozenset((int(a), int(b)) for a, b in rows)


def named_people(conn: sqlite3.Connection) -> frozenset[int]:
    return frozenset(
        int(r[0]) for r in conn.execute("SELECT id FROM people WHERE name IS NOT NULL")
    )


def create_person(conn: sqlite3.Connection, name: str | None = None) -> int:
    cur = conn.execute(
        "INSERT INTO people (name, created_at, named_at) VALUES (?, ?, ?)",
        (name, utc_now(), utc_now() if name else None),
    )
    return int(cur.lastrowid or 0)


def set_assignments(conn: sqlite3.Connection, assignments: dict[int, int | None]) -> None:
    """Automatic assignments; locked faces are never touched, whatever is passed."""
    conn.executemany(
        "UPDATE faces SET person_id = ? WHERE id = ? AND assigned_by = 'auto'",
        [(pid, fid) for fid, pid in assignments.items()],
    )


def drop_empty_people(conn: sqlite3.Connection) -> int:
    """Unnamed people left without faces; named ones stay (the name is the user's)."""
    cur = conn.execute(
        "DELETE FROM people WHERE name IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM faces f WHERE f.person_id = people.id)"
    )
    return cur.rowcount


def refresh_covers(conn: sqlite3.Connection) -> None:
    """Each person's cover is their best-scoring face unless it still exists."""
    conn.execute(
        "UPDATE people SET cover_face_id = (SELECT f.id FROM faces f WHERE f.person_id = people.id"
        " ORDER BY f.w * f.h * f.score DESC LIMIT 1) WHERE cover_face_id IS NULL OR NOT EXISTS "
        "(SELECT 1 FROM faces f WHERE f.id = people.cover_face_id AND f.person_id = people.id)"
    )


# -- people for the user ------------------------------------------------------------------


def list_people(
    conn: sqlite3.Connection, backend: str, min_faces: int, include_hidden: bool
) -> list[Person]:
    hidden = "" if include_hidden else "AND p.hidden = 0"
    rows = conn.execute(
        "SELECT p.id, p.name, p.hidden, COUNT(f.id), COUNT(DISTINCT f.photo_id), p.cover_face_id "
        "FROM people p LEFT JOIN faces f ON f.person_id = p.id AND f.backend = ? "
        f"WHERE 1 {hidden} GROUP BY p.id HAVING COUNT(f.id) >= ? OR p.name IS NOT NULL "
        "ORDER BY p.name IS NULL, COUNT(f.id) DESC, p.id",
        (backend, min_faces),
    )
    return [Person(r[0], r[1], bool(r[2]), r[3], r[4], r[5]) for r in rows]


def get_person(conn: sqlite3.Connection, person_id: int, backend: str) -> Person:
    row = conn.execute(
        "SELECT p.id, p.name, p.hidden, COUNT(f.id), COUNT(DISTINCT f.photo_id), p.cover_face_id "
        "FROM people p LEFT JOIN faces f ON f.person_id = p.id AND f.backend = ? "
        "WHERE p.id = ? GROUP BY p.id",
        (backend, person_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"no person with id {person_id}")
    return Person(row[0], row[1], bool(row[2]), row[3], row[4], row[5])


def rename_person(conn: sqlite3.Connection, person_id: int, name: str | None) -> None:
    conn.execute(
        "UPDATE people SET name = ?, named_at = ? WHERE id = ?",
        (name, utc_now() if name else None, person_id),
    )


def hide_person(conn: sqlite3.Connection, person_id: int, hidden: bool) -> None:
    conn.execute("UPDATE people SET hidden = ? WHERE id = ?", (int(hidden), person_id))


PERSON_COLUMNS = ("name", "hidden", "cover_face_id", "created_at", "named_at")


def merge_people(conn: sqlite3.Connection, source: int, target: int) -> int:
    """All of ``source`` becomes ``target``; the target keeps its name, else takes source's.

    What changed is written to ``people_merges`` first; returns that record's id, which
    ``unmerge_people`` takes to put the source person back as it was.
    """
    if source == target:
        raise Conflict("cannot merge a person into itself", {"person_id": source})
    person = conn.execute(
        f"SELECT {', '.join(PERSON_COLUMNS)} FROM people WHERE id = ?", (source,)
    ).fetchone()
    target_name = conn.execute("SELECT name FROM people WHERE id = ?", (target,)).fetchone()
    if person is None or target_name is None:
        raise NotFound(f"no person with id {source if person is None else target}")
    record = {
        "person": dict(zip(PERSON_COLUMNS, person, strict=True)),
        "target_name": target_name[0],
        "faces": [
            [r[0], r[1]]
            for r in conn.execute(
                "SELECT id, assigned_by FROM faces WHERE person_id = ?", (source,)
            )
        ],
        "rejections": [
            r[0]
            for r in conn.execute(
                "SELECT face_id FROM face_rejections WHERE person_id = ? AND face_id NOT IN "
                "(SELECT face_id FROM face_rejections WHERE person_id = ?)",
                (source, target),
            )
        ],
        "own_rejections": [
            r[0]
            for r in conn.execute(
                "SELECT face_id FROM face_rejections WHERE person_id = ?", (source,)
            )
        ],
    }
    cur = conn.execute(
        "INSERT INTO people_merges (source_id, target_id, merged_at, record) VALUES (?, ?, ?, ?)",
        (source, target, utc_now(), json.dumps(record)),
    )
    conn.execute(
        "UPDATE people SET name = COALESCE(name, (SELECT name FROM people WHERE id = ?)) "
        "WHERE id = ?",
        (source, target),
    )
    # the user put these faces with the target: locked, so no re-cluster splits them off again
    conn.execute(
        "UPDATE faces SET person_id = ?, assigned_by = 'user' WHERE person_id = ?", (target, source)
    )
    conn.execute(
        "INSERT OR IGNORE INTO face_rejections (face_id, person_id) "
        "SELECT face_id, ? FROM face_rejections WHERE person_id = ?",
        (target, source),
    )
    conn.execute("DELETE FROM people WHERE id = ?", (source,))
    return int(cur.lastrowid or 0)


def unmerge_people(conn: sqlite3.Connection, merge_id: int) -> tuple[int, int]:
    """Undo a merge: the source person comes back (same id when still free) with the faces
    it brought that are still with the target, locked as they were, and its rejections;
    the target's name is restored if the merge gave it one. Returns (source, target)."""
    row = conn.execute(
        "SELECT source_id, target_id, record FROM people_merges WHERE id = ?", (merge_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no merge with id {merge_id} (it was undone, or the person is gone)")
    wanted, target, record = int(row[0]), int(row[1]), json.loads(row[2])
    person = record["person"]
    taken = conn.execute("SELECT 1 FROM people WHERE id = ?", (wanted,)).fetchone()
    cur = conn.execute(
        "INSERT INTO people (id, name, hidden, cover_face_id, created_at, named_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            None if taken else wanted,
            person["name"],
            person["hidden"],
            person["cover_face_id"],
            person["created_at"],
            person["named_at"],
        ),
    )
    source = int(cur.lastrowid or 0)
    conn.executemany(
        "UPDATE faces SET person_id = ?, assigned_by = ? WHERE id = ? AND person_id = ?",
        [(source, locked, face_id, target) for face_id, locked in record["faces"]],
    )
    conn.executemany(
        "DELETE FROM face_rejections WHERE face_id = ? AND person_id = ?",
        [(face_id, target) for face_id in record["rejections"]],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO face_rejections (face_id, person_id) "
        "SELECT id, ? FROM faces WHERE id = ?",
        [(source, face_id) for face_id in record["own_rejections"]],
    )
    if record["target_name"] is None:
        conn.execute(
            "UPDATE people SET name = NULL WHERE id = ? AND name IS ?", (target, person["name"])
        )
    conn.execute("DELETE FROM people_merges WHERE id = ?", (merge_id,))
    return source, target


def unreject_face(conn: sqlite3.Connection, face_id: int, person_id: int, locked: bool) -> None:
    """Undo "not this person": the rejection goes and the face, if still nobody's, returns."""
    removed = conn.execute(
        "DELETE FROM face_rejections WHERE face_id = ? AND person_id = ?", (face_id, person_id)
    ).rowcount
    if not removed:
        raise Conflict(
            f"face {face_id} was not rejected from person {person_id}",
            {"face_id": face_id, "person_id": person_id},
        )
    conn.execute(
        "UPDATE faces SET person_id = ?, assigned_by = ? WHERE id = ? AND person_id IS NULL",
        (person_id, USER if locked else AUTO, face_id),
    )


def face_owner(conn: sqlite3.Connection, face_id: int) -> tuple[int, int | None]:
    row = conn.execute("SELECT photo_id, person_id FROM faces WHERE id = ?", (face_id,)).fetchone()
    if row is None:
        raise NotFound(f"no face with id {face_id}")
    return int(row[0]), row[1]


def assign_face(conn: sqlite3.Connection, face_id: int, person_id: int) -> None:
    """ "This is ...": locked, and any earlier rejection of that person is withdrawn."""
    photo_id, _ = face_owner(conn, face_id)
    clash = conn.execute(
        "SELECT id FROM faces WHERE photo_id = ? AND person_id = ? AND id != ?",
        (photo_id, person_id, face_id),
    ).fetchone()
    if clash is not None:
        # A person appears at most once per photo: the other face lets go (and says why).
        reject_face(conn, int(clash[0]))
    conn.execute(
        "DELETE FROM face_rejections WHERE face_id = ? AND person_id = ?", (face_id, person_id)
    )
    conn.execute(
        "UPDATE faces SET person_id = ?, assigned_by = 'user' WHERE id = ?", (person_id, face_id)
    )


def reject_face(conn: sqlite3.Connection, face_id: int) -> int | None:
    """ "Not this person": the face leaves and is never put back there automatically."""
    _, person_id = face_owner(conn, face_id)
    if person_id is not None:
        conn.execute(
            "INSERT OR IGNORE INTO face_rejections (face_id, person_id) VALUES (?, ?)",
            (face_id, person_id),
        )
    conn.execute("UPDATE faces SET person_id = NULL, assigned_by = 'auto' WHERE id = ?", (face_id,))
    return person_id


# -- faces for the user -------------------------------------------------------------------

FACE_SQL = """
    SELECT f.id, f.photo_id, ph.path, ph.width, ph.height, f.x, f.y, f.w, f.h, f.score,
           f.person_id, pe.name AS person_name, f.assigned_by, ph.content_hash
    FROM faces f JOIN photos ph ON ph.id = f.photo_id
    LEFT JOIN people pe ON pe.id = f.person_id
"""


def face_dicts(
    conn: sqlite3.Connection,
    backend: str,
    *,
    face_id: int | None = None,
    person_id: int | None = None,
    photo_id: int | None = None,
) -> list[dict[str, Any]]:
    """The backend's faces, narrowed to one face, person or photo when given."""
    where: list[str] = ["f.backend = ?"]
    params: list[Any] = [backend]
    for column, value in (("f.id", face_id), ("f.person_id", person_id), ("f.photo_id", photo_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = conn.execute(f"{FACE_SQL} WHERE {' AND '.join(where)} ORDER BY f.photo_id, f.x", params)
    return [_face_dict(r) for r in rows]


def _face_dict(r: sqlite3.Row) -> dict[str, Any]:
    width, height = r["width"] or 0, r["height"] or 0
    return {
        "id": r["id"],
        "photo_id": r["photo_id"],
        "path": r["path"],
        "box": [
            round(r["x"] * width),
            round(r["y"] * height),
            round(r["w"] * width),
            round(r["h"] * height),
        ],
        "box_fraction": [r["x"], r["y"], r["w"], r["h"]],
        "score": r["score"],
        "person_id": r["person_id"],
        "person_name": r["person_name"],
        "assigned_by": r["assigned_by"],
        "content_hash": r["content_hash"],
    }


def people_matching(conn: sqlite3.Connection, folded_terms: Sequence[str]) -> list[int]:
    """Ids of people a term names: its id, else people whose whole name it is, else people
    with it among their name's words ("ada" finds "Ada Lovelace" unless someone is just
    "Ada")."""
    people = [
        (int(pid), f" {fold(name or '')} ")
        for pid, name in conn.execute("SELECT id, name FROM people")
    ]
    out: list[int] = []
    for term in folded_terms:
        if not term:
            continue
        exact = [pid for pid, padded in people if term == str(pid) or padded.strip() == term]
        out += exact or [pid for pid, padded in people if f" {term} " in padded]
    return sorted(set(out))


def refresh_people_text(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> None:
    """Put the names of the people in each photo into its full-text row."""
    for pid in set(photo_ids):
        names = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT pe.name FROM faces f JOIN people pe ON pe.id = f.person_id "
                "WHERE f.photo_id = ? AND pe.name IS NOT NULL",
                (pid,),
            )
        ]
        conn.execute(
            "UPDATE photos_fts SET people = ? WHERE rowid = ?", (fold(" ".join(names)), pid)
        )


def photos_of_person(conn: sqlite3.Connection, person_id: int) -> list[int]:
    rows = conn.execute("SELECT DISTINCT photo_id FROM faces WHERE person_id = ?", (person_id,))
    return [int(r[0]) for r in rows]


def photos_of_faces(conn: sqlite3.Connection, face_ids: Sequence[int]) -> list[int]:
    out = []
    for fid in face_ids:
        row = conn.execute("SELECT photo_id FROM faces WHERE id = ?", (fid,)).fetchone()
        if row:
            out.append(int(row[0]))
    return out


INHERIT_IOU = 0.5


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def inherit_people(conn: sqlite3.Connection, photo_id: int, backend: str) -> int:
    """A new backend's faces take the person (and lock) of the same face found by another
    backend, matched by box overlap: switching backends keeps the user's names."""
    old = conn.execute(
        "SELECT x, y, w, h, person_id, assigned_by FROM faces WHERE photo_id = ? "
        "AND backend != ? AND person_id IS NOT NULL",
        (photo_id, backend),
    ).fetchall()
    if not old:
        return 0
    taken: set[int] = set()
    inherited = 0
    for fid, *box in conn.execute(
        "SELECT id, x, y, w, h FROM faces WHERE photo_id = ? AND backend = ?", (photo_id, backend)
    ).fetchall():
        best = max(old, key=lambda o: _iou(tuple(box), tuple(o[:4])))
        if _iou(tuple(box), tuple(best[:4])) >= INHERIT_IOU and best[4] not in taken:
            taken.add(best[4])
            conn.execute(
                "UPDATE faces SET person_id = ?, assigned_by = ? WHERE id = ?",
                (best[4], best[5], fid),
            )
            inherited += 1
    return inherited
