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


MIN_TEXT_CHARS = 3  # letters and digits a line of read text needs to be more than noise


def without_ocr_noise(text: str | None) -> str:
    """Read text without the specks OCR takes for letters: lines with fewer than three
    letters or digits (a lone ':' or 'V' on a patterned shirt) are dropped."""
    lines = (line.strip() for line in (text or "").splitlines())
    return "\n".join(line for line in lines if sum(ch.isalnum() for ch in line) >= MIN_TEXT_CHARS)
