"""The ``hachi`` command: one module per group of sub-commands, ``main`` wires them up."""

from hachi.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
