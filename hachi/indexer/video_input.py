"""A video's input to the model stages: every moment for CLIP, the poster for the rest.

Search ranks a video by its best moment, so the CLIP stage embeds each sampled moment;
faces and OCR look at the poster only (cheap, and what the thumbnail shows). The moments'
inputs travel as float16 to halve what a reader thread holds while the model catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from hachi.media.video import SampledVideo


class MomentPreparer(Protocol):
    task: str
    per_moment: bool

    def prepare(self, image: Image.Image) -> Any: ...


@dataclass(frozen=True)
class MomentInputs:
    """The prepared moments of one video, for a stage with ``per_moment``."""

    times: tuple[float, ...]
    poster: int
    inputs: NDArray[np.float16]  # one prepared input per moment, stacked


@dataclass(frozen=True)
class MomentVectors:
    """What a per-moment stage computed for one video: a vector per moment."""

    times: tuple[float, ...]
    poster: int
    vectors: NDArray[np.float32]


def prepare_video(preparer: MomentPreparer, video: SampledVideo) -> Any:
    """The stage input of a video: every moment's for a per-moment stage, else the poster's."""
    if not getattr(preparer, "per_moment", False):
        return preparer.prepare(video.poster.image)
    moments = video.sampled.moments
    inputs = np.stack([np.asarray(preparer.prepare(m.image), np.float16) for m in moments])
    return MomentInputs(tuple(m.at_s for m in moments), video.sampled.poster, inputs)
