"""Which CLIP image tower indexes photos now, and why (HACHI_CLIP_IMAGE_INT8 and the
library's recorded check).

``auto`` trusts the int8 tower only once it agreed with float32 on this library's own
first photos (``tower_check``): a random-weight ViT-B-32 agrees to 0.9998, but trained
towers with outlier activations can quantise worse, and only the photos the user has say
how much that matters here. Until a decision, float32 indexes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from hachi.catalog import towers as towers_db
from hachi.catalog.towers import FLOAT32, INT8, TowerChoice
from hachi.config import IMAGE_INT8_OFF, IMAGE_INT8_ON
from hachi.ml.clip.encoders import ClipModel

CHECK_PHOTOS = 200
"""Still photos encoded by both towers before deciding (the issue's "first 200")."""
MIN_CHECK_PHOTOS = 50
"""A job that ends with fewer photos checked leaves the decision to a later job. Below
about 50 the 1st percentile is the least cosine of a handful of photos, often one event
of near-identical shots, which says little about the library; from 50 on it is already
the least (or next to least) of them, a stricter bar than the 1st percentile of 200, so
deciding there is safe, and a library of a few dozen photos still gets a decision."""
MIN_P1_COSINE = 0.995
"""Least 1st-percentile cosine between int8 and float32 embeddings for int8 to index."""
PERCENTILE = 1.0

FORCED, OFF, ABSENT, AGREED, DISAGREED, CHECKING = (
    "forced",
    "off",
    "absent",
    "agreed",
    "disagreed",
    "checking",
)


@dataclass(frozen=True)
class TowerState:
    """The image tower in use for one model, the reason, and the check's figures."""

    tower: str  # INT8 or FLOAT32
    reason: str  # FORCED, OFF, ABSENT, AGREED, DISAGREED or CHECKING
    fingerprint: str | None = None
    checked: int = 0
    choice: TowerChoice | None = None

    @property
    def checking(self) -> bool:
        return self.reason == CHECKING

    def sentence(self) -> str:
        """What `hachi status` and the API say, e.g. "int8: agreed with float32 ..."."""
        if self.choice is not None:
            c = self.choice
            if self.reason == AGREED:
                return (
                    f"int8: agreed with float32 on your first {c.photos} photos, "
                    f"1st percentile cosine {c.p1_cosine:.4f}"
                )
            return (
                f"float32: int8 agreement {c.p1_cosine:.4f} < {MIN_P1_COSINE} on your first "
                f"{c.photos} photos"
            )
        return {
            FORCED: "int8: forced by HACHI_CLIP_IMAGE_INT8=on",
            OFF: "float32: HACHI_CLIP_IMAGE_INT8=off",
            ABSENT: "float32: the model has no int8 image tower "
            "(add one: hachi models quantize --image)",
            CHECKING: f"float32: checking int8 ({self.checked} of {CHECK_PHOTOS} photos)",
        }[self.reason]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tower": self.tower,
            "reason": self.reason,
            "checked_photos": self.checked,
            "check_photos": CHECK_PHOTOS,
            "check": self.choice.to_dict() if self.choice is not None else None,
            "description": self.sentence(),
        }


def image_tower_state(conn: sqlite3.Connection, mode: str, clip: ClipModel) -> TowerState:
    """The tower ``mode`` (HACHI_CLIP_IMAGE_INT8) and the catalog pick for ``clip``."""
    if mode == IMAGE_INT8_OFF:
        return TowerState(FLOAT32, OFF)
    fingerprint = clip.image_int8_fingerprint()
    if fingerprint is None:
        return TowerState(FLOAT32, ABSENT)
    if mode == IMAGE_INT8_ON:
        return TowerState(INT8, FORCED, fingerprint)
    choice = towers_db.get_tower_choice(conn, clip.name, fingerprint)
    if choice is None:
        checked = towers_db.checked_photos(conn, clip.name, fingerprint)
        return TowerState(FLOAT32, CHECKING, fingerprint, checked)
    reason = AGREED if choice.tower == INT8 else DISAGREED
    return TowerState(choice.tower, reason, fingerprint, choice.photos, choice)


def apply_image_tower(conn: sqlite3.Connection, mode: str, clip: ClipModel) -> TowerState:
    """Point ``clip`` at the tower the library uses for it now; the state, for callers
    that go on to check it."""
    state = image_tower_state(conn, mode, clip)
    clip.use_image_tower(state.tower == INT8)
    return state
