"""People and faces, as the CLI and the REST API ask for them (``Library.people``).

Every user action is stored as a decision the clustering respects: names, merges,
"not this person" (a rejection), "this is ..." (a locked assignment) and hiding.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hachi.catalog import faces as faces_db
from hachi.catalog.db import transaction
from hachi.catalog.handle import CatalogHandle
from hachi.config import Settings
from hachi.errors import BadRequest, Conflict, NotFound
from hachi.indexer.people_sync import update_people
from hachi.media.decode import decode_image
from hachi.media.thumbnails import write_thumbnail

MIN_FACES_LISTED = 2  # people seen once stay out of the list; their faces stay searchable
MAX_NAME = 200
FACE_THUMB = 160


class People:
    """People and faces of one library, over the catalog handle it shares."""

    def __init__(
        self, catalog: CatalogHandle, settings: Settings, original_path: Callable[[int], Path]
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.original_path = original_path

    @property
    def conn(self) -> sqlite3.Connection:
        return self.catalog.conn

    @property
    def face_backend(self) -> str:
        return self.settings.face_backend

    def update(self, conn: sqlite3.Connection | None = None, full: bool = False) -> int:
        return update_people(conn or self.conn, self.face_backend, self.settings.vectors_dir, full)

    def listed(
        self, include_hidden: bool = False, min_faces: int = MIN_FACES_LISTED
    ) -> list[dict[str, Any]]:
        found = faces_db.list_people(self.conn, self.face_backend, min_faces, include_hidden)
        return [p.to_dict() for p in found]

    def get(self, person_id: int) -> dict[str, Any]:
        return faces_db.get_person(self.conn, person_id, self.face_backend).to_dict()

    def rename(self, person_id: int, name: str | None) -> dict[str, Any]:
        clean = _clean_name(name)
        self.get(person_id)
        with self.catalog.write_lock, transaction(self.conn):
            faces_db.rename_person(self.conn, person_id, clean)
            faces_db.refresh_people_text(self.conn, faces_db.photos_of_person(self.conn, person_id))
        return self.get(person_id)

    def hide(self, person_id: int, hidden: bool) -> dict[str, Any]:
        self.get(person_id)
        with self.catalog.write_lock, transaction(self.conn):
            faces_db.hide_person(self.conn, person_id, hidden)
        return self.get(person_id)

    def merge(self, source: int, target: int) -> dict[str, Any]:
        self.get(source)
        self.get(target)
        with self.catalog.write_lock, transaction(self.conn):
            photos = faces_db.photos_of_person(self.conn, source)
            merge_id = faces_db.merge_people(self.conn, source, target)
            faces_db.refresh_people_text(self.conn, photos)
        return {**self.get(target), "merge_id": merge_id}

    def unmerge(self, merge_id: int) -> dict[str, Any]:
        """Undo a merge (the Undo of the web UI's toast); see ``faces_db.unmerge_people``."""
        with self.catalog.write_lock, transaction(self.conn):
            source, target = faces_db.unmerge_people(self.conn, merge_id)
            faces_db.refresh_covers(self.conn)
            faces_db.refresh_people_text(self.conn, faces_db.photos_of_person(self.conn, source))
        return {"restored": self.get(source), "target": self.get(target)}

    def faces(
        self, person_id: int | None = None, photo_id: int | None = None
    ) -> list[dict[str, Any]]:
        found = faces_db.face_dicts(
            self.conn, self.face_backend, person_id=person_id, photo_id=photo_id
        )
        return [_shown(face) for face in found]

    def face(self, face_id: int) -> dict[str, Any]:
        found = faces_db.face_dicts(self.conn, self.face_backend, face_id=face_id)
        if not found:
            raise NotFound(f"no face with id {face_id}")
        return _shown(found[0])

    def assign_face(
        self, face_id: int, person_id: int | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """ "This is ...": an existing person, or a new one made with ``name``."""
        faces_db.face_owner(self.conn, face_id)
        clean = _clean_name(name)
        with self.catalog.write_lock, transaction(self.conn):
            if person_id is None:
                if clean is None:
                    raise BadRequest("give a person_id or a name")
                matches = [
                    p
                    for p in faces_db.list_people(self.conn, self.face_backend, 0, True)
                    if p.name and p.name.casefold() == clean.casefold()
                ]
                person_id = matches[0].id if matches else faces_db.create_person(self.conn, clean)
            else:
                faces_db.get_person(self.conn, person_id, self.face_backend)
            photo_id, old = faces_db.face_owner(self.conn, face_id)
            faces_db.assign_face(self.conn, face_id, person_id)
            faces_db.refresh_covers(self.conn)
            faces_db.refresh_people_text(self.conn, [photo_id])
        return self.get(person_id)

    def reject_face(self, face_id: int) -> dict[str, Any]:
        """ "Not this person": the face is split off and never put back there."""
        photo_id, person_id = faces_db.face_owner(self.conn, face_id)
        if person_id is None:
            raise Conflict(f"face {face_id} belongs to nobody", {"face_id": face_id})
        locked = self.face(face_id)["assigned_by"] == faces_db.USER
        with self.catalog.write_lock, transaction(self.conn):
            faces_db.reject_face(self.conn, face_id)
            faces_db.refresh_covers(self.conn)
            faces_db.refresh_people_text(self.conn, [photo_id])
        return {"face_id": face_id, "rejected_person_id": person_id, "was_locked": locked}

    def unreject_face(self, face_id: int, person_id: int, locked: bool) -> dict[str, Any]:
        """Undo "not this person": the face goes back to ``person_id`` as it was."""
        photo_id, _ = faces_db.face_owner(self.conn, face_id)
        self.get(person_id)
        with self.catalog.write_lock, transaction(self.conn):
            faces_db.unreject_face(self.conn, face_id, person_id, locked)
            faces_db.refresh_covers(self.conn)
            faces_db.refresh_people_text(self.conn, [photo_id])
        return self.get(person_id)

    def face_thumbnail(self, face_id: int) -> Path:
        found = faces_db.face_dicts(self.conn, self.face_backend, face_id=face_id)
        if not found:
            raise NotFound(f"no face with id {face_id}")
        face = found[0]
        path = self.settings.thumbs_dir / "faces" / f"{face_id}-{face['content_hash'][:12]}.webp"
        if not path.exists():
            image = decode_image(self.original_path(face["photo_id"]).read_bytes(), 800).image
            x, y, w, h = face["box_fraction"]
            pad = 0.25
            box = (
                max(0, int((x - w * pad) * image.width)),
                max(0, int((y - h * pad) * image.height)),
                min(image.width, int((x + w * (1 + pad)) * image.width)),
                min(image.height, int((y + h * (1 + pad)) * image.height)),
            )
            write_thumbnail(image.crop(box), path, FACE_THUMB)
        return path


def _shown(face: dict[str, Any]) -> dict[str, Any]:
    face.pop("content_hash")
    return face


def _clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise BadRequest("name must be a string")
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise BadRequest(f"a name has at most {MAX_NAME} printable characters")
    return " ".join(name.split()) or None
