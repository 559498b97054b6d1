"""Text folding and the OCR noise filter."""

from __future__ import annotations

import pytest

from hachi.textnorm import fold, without_ocr_noise


def test_fold_drops_case_accents_and_punctuation() -> None:
    assert fold("São  Paulo!") == "sao paulo"


@pytest.mark.parametrize(
    ("read", "shown"),
    [
        (":\nV\nHAPPY BIRTHDAY", "HAPPY BIRTHDAY"),  # specks on a patterned card
        ("RE16 TGK", "RE16 TGK"),
        ("Vi\n:)", ""),
        ("  KING STREET  \n-\n12 3", "KING STREET\n12 3"),
        (None, ""),
    ],
)
def test_lines_with_fewer_than_three_letters_or_digits_are_noise(
    read: str | None, shown: str
) -> None:
    assert without_ocr_noise(read) == shown
