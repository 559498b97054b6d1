"""Near-duplicate groups as the CLI and the REST API ask for them (``Library.duplicates``).

Each group comes with its photos side by side (the facts that tell copies apart: pixels,
bytes, format, dates, how much metadata), a suggested keeper and why, and the redundant
photos' ids, so a person or a script can clean up. Hachi itself never deletes or changes
an original.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from hachi.catalog import duplicates as dups_db
from hachi.catalog import queries
from hachi.catalog.handle import CatalogHandle
from hachi.catalog.keepers import choose_keeper
from hachi.config import Settings
from hachi.errors import BadRequest
from hachi.indexer.duplicates import catch_up
from hachi.indexer.folder_rules import FolderRules
from hachi.search.engine import summary


class Duplicates:
    """The near-duplicate groups of one library, over the catalog handle it shares."""

    def __init__(
        self,
        catalog: CatalogHandle,
        settings: Settings,
        clip_name: Callable[[], str | None],
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.clip_name = clip_name

    @property
    def conn(self) -> sqlite3.Connection:
        return self.catalog.conn

    def update(self) -> int:
        """Fingerprints and groups for whatever no job has covered yet, here and now (the
        server's indexer does this when idle; the CLI before it lists)."""
        with self.catalog.write_lock:
            rules = FolderRules.for_settings(self.settings)
            return catch_up(self.conn, self.settings, rules, self.clip_name())

    def groups(self, kind: str | None = None) -> dict[str, Any]:
        """``{"groups": [{"id", "kind", "photos", "keep", "why_keep", "redundant"}],
        "photos", "redundant", "pending"}``, largest groups first."""
        if kind is not None and kind not in dups_db.KINDS:
            raise BadRequest(
                f"unknown kind {kind!r}: expected one of {', '.join(dups_db.KINDS)}",
                {"kind": kind[:50]},
            )
        listed = dups_db.all_groups(self.conn, (kind,) if kind else dups_db.KINDS)
        ids = [pid for _, members in listed for pid in members]
        rows = queries.photo_rows(self.conn, ids)
        facts = dups_db.keeper_facts(self.conn, ids)
        groups: list[dict[str, Any]] = []
        for group_kind, members in listed:
            present = [m for m in members if m in rows and m in facts]
            if len(present) < 2:
                continue  # a photo removed since the query began
            keep, why = choose_keeper([facts[m] for m in present])
            present.sort(key=lambda m: m != keep)  # the keeper first, then by id
            groups.append(
                {
                    "id": min(present),
                    "kind": group_kind,
                    "photos": [_photo(rows[m], facts[m], m == keep) for m in present],
                    "keep": keep,
                    "why_keep": why,
                    "redundant": [m for m in present if m != keep],
                }
            )
        return {
            "groups": groups,
            "photos": sum(len(g["photos"]) for g in groups),
            "redundant": sum(len(g["redundant"]) for g in groups),
            "pending": dups_db.pending_count(self.conn),
        }


def _photo(row: dict[str, Any], facts: dict[str, Any], keep: bool) -> dict[str, Any]:
    hit = summary(row, 0.0)
    hit.pop("score")
    hit["exif_fields"] = facts["exif_fields"]
    hit["keep"] = keep
    return hit
