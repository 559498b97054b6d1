"""Faces: detect, align and embed, behind one interface with a dlib and an insightface backend."""

from hachi.ml.faces.base import DetectedFace, FaceBackend
from hachi.ml.faces.registry import BACKENDS, create_backend

__all__ = ["BACKENDS", "DetectedFace", "FaceBackend", "create_backend"]
