"""Pre- and post-processing of SCRFD face detectors (insightface's det_*.onnx), pure numpy.

SCRFD is anchor-free in spirit: at strides 8, 16 and 32 every grid cell carries two
anchor points (same centre), and for each the network outputs a face score, four
distances from the centre to the box sides and ten landmark offsets, all in units of the
stride. The graph's nine outputs come score, box, landmark, each for strides 8, 16, 32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

INPUT_SIZE = 640  # square input the detectors were trained at
STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2
SCORE_THRESHOLD = 0.5  # insightface's own default; lower invites profile and blur
NMS_IOU = 0.4  # boxes overlapping more than this are the same face
PIXEL_MEAN = 127.5
PIXEL_STD = 128.0


@dataclass(frozen=True)
class RawDetection:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the input photo's pixels
    score: float
    landmarks: NDArray[np.float32]  # 5 x 2, same pixels


def letterbox(
    pixels: NDArray[np.uint8], size: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)
) -> tuple[NDArray[np.float32], float]:
    """(1 x 3 x H x W blob, ratio) for an RGB H x W x 3 photo.

    Pipeline: resize with bilinear interpolation keeping the aspect ratio so the photo
    fits inside ``size`` (width, height), paste it at the top-left corner of a black
    canvas, subtract 127.5 and divide by 128 per channel, RGB order, channels first.
    ``ratio`` = input pixels per photo pixel, to map detections back.
    """
    width, height = size
    ratio = min(width / pixels.shape[1], height / pixels.shape[0])
    new_w = max(1, min(width, round(pixels.shape[1] * ratio)))
    new_h = max(1, min(height, round(pixels.shape[0] * ratio)))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(pixels, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    blob = (canvas.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[None]), ratio


def anchor_centres(height: int, width: int, stride: int) -> NDArray[np.float32]:
    """(cells x anchors) x 2 anchor centres (x, y) in input pixels, row-major, anchors adjacent."""
    ys, xs = np.mgrid[: height // stride, : width // stride]
    centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centres, ANCHORS_PER_CELL, axis=0)


def non_maximum_suppression(
    boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float = NMS_IOU
) -> list[int]:
    """Indices kept, best first: each box suppresses weaker ones overlapping it by > ``iou``."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        kept.append(best)
        left_top = np.maximum(boxes[best, :2], boxes[rest, :2])
        right_bottom = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(right_bottom - left_top, 0, None), axis=1)
        overlap = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return kept


def decode(
    outputs: Sequence[NDArray[np.float32]],
    input_size: tuple[int, int],
    ratio: float,
    threshold: float = SCORE_THRESHOLD,
) -> list[RawDetection]:
    """Faces from the nine raw outputs, in the photo's pixels, strongest first."""
    width, height = input_size
    levels = len(STRIDES)
    boxes, scores, marks = [], [], []
    for level, stride in enumerate(STRIDES):
        score = _flat(outputs[level], 1)[:, 0]
        keep = score >= threshold
        centres = anchor_centres(height, width, stride)[keep]
        dist = _flat(outputs[level + levels], 4)[keep] * stride
        kps = _flat(outputs[level + 2 * levels], 10)[keep].reshape(-1, 5, 2) * stride
        boxes.append(np.hstack([centres - dist[:, :2], centres + dist[:, 2:]]))
        marks.append(kps + centres[:, None, :])
        scores.append(score[keep])
    all_boxes, all_scores = np.concatenate(boxes), np.concatenate(scores)
    all_marks = np.concatenate(marks)
    return [
        RawDetection(
            box=(
                float(all_boxes[i, 0] / ratio),
                float(all_boxes[i, 1] / ratio),
                float(all_boxes[i, 2] / ratio),
                float(all_boxes[i, 3] / ratio),
            ),
            score=float(all_scores[i]),
            landmarks=(all_marks[i] / ratio).astype(np.float32),
        )
        for i in non_maximum_suppression(all_boxes, all_scores)
    ]


def _flat(output: NDArray[np.float32], columns: int) -> NDArray[np.float32]:
    """Drop a leading batch axis if the export kept one: every export is N x columns."""
    return np.asarray(output, dtype=np.float32).reshape(-1, columns)
