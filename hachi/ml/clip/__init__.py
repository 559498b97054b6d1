"""CLIP on ONNX Runtime: tokenizer, preprocessing, encoders, and the open_clip exporter.

Importing this package loads nothing; models open lazily on first use.
"""
