"""Subcommands that work on the library: open it for the command, close it after."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from hachi.config import Settings
from hachi.library import Library


def with_library(fn: Callable[[Library, argparse.Namespace], int]) -> Callable[..., int]:
    """A subcommand handler ``(args, settings)`` that runs ``fn`` on the open library and
    closes it however ``fn`` ends."""

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        with Library(settings) as library:
            return fn(library, args)

    return handler
