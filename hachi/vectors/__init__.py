"""Embedding vectors: the float16 store (``store``), its int8 search copy (``q8``), the IVF
index that lets big libraries read part of it (``ivf``) and the ONNX Runtime kernels that
score them (``kernel``)."""

from hachi.vectors.store import VectorStore, remove_vector_files, vector_file

__all__ = ["VectorStore", "remove_vector_files", "vector_file"]
