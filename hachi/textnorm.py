"""Text folding shared by indexing and search, so both sides compare the same strings.

Case and accents are dropped ("São Paulo" == "sao paulo") and non-alphanumerics become
single spaces, so a term matches on word boundaries with a plain LIKE '% term %'.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+|_")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", stripped.casefold()).strip()


def terms_blob(*values: str | None) -> str:
    """' a | b c | d ' — each value folded, space-padded, so '% b c %' matches whole words."""
    parts = [fold(v) for v in values if v]
    return " " + " | ".join(p for p in parts if p) + " "
