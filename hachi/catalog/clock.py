"""Timestamps as the catalog stores them: UTC ISO-8601 strings that sort as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> str:
    return utc_text(datetime.now(UTC))


def utc_ago(seconds: float) -> str:
    """The timestamp ``seconds`` before now, in utc_now's format (for comparisons)."""
    return utc_text(datetime.now(UTC) - timedelta(seconds=seconds))
