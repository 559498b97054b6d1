"""CLIP tokenizer: vocabulary layout, BPE merging, cleaning, framing, file formats.

Exact agreement with open_clip on the standard vocab is in test_clip_parity.py (it needs
torch); these tests pin the behaviour with small vocab files written here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hachi.errors import ModelUnavailable
from hachi.ml.clip.tokenizer import (
    END_TOKEN,
    START_TOKEN,
    WORD_END,
    ClipTokenizer,
    build_vocabulary,
    byte_alphabet,
    clean_text,
)

MERGES = ["h e", "l l", "he ll", "hell o</w>", "c a", "ca t</w>", "t </w>"]


def write_vocab(path: Path, merges: list[str], compress: bool = True) -> Path:
    text = "#version: test\n" + "\n".join(merges)
    if compress:
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tokenizer(tmp_path: Path) -> ClipTokenizer:
    return ClipTokenizer(write_vocab(tmp_path / "v.txt.gz", MERGES), context_length=8)


def test_byte_alphabet_is_a_bijection_onto_printable_characters() -> None:
    table = byte_alphabet()
    assert sorted(table) == list(range(256))
    chars = list(table.values())
    assert len(set(chars)) == 256
    assert all(c.isprintable() and not c.isspace() for c in chars)
    assert table[ord("a")] == "a" and table[ord(" ")] != " "


def test_vocabulary_layout_is_bytes_then_word_ends_then_merges_then_specials() -> None:
    vocab = build_vocabulary([("h", "e"), ("he", "y</w>")])
    assert len(vocab) == 512 + 2 + 2
    assert vocab[256] == vocab[0] + WORD_END
    assert vocab[512:514] == ["he", "hey</w>"]
    assert vocab[-2:] == [START_TOKEN, END_TOKEN]


def test_merges_apply_by_rank_and_mark_word_ends(tokenizer: ClipTokenizer) -> None:
    pieces = [tokenizer.decoder[i] for i in tokenizer.encode("hello cat")]
    assert pieces == ["hello</w>", "cat</w>"]
    # 'hellx' stops where no merge applies; the last symbol carries the word end
    pieces = [tokenizer.decoder[i] for i in tokenizer.encode("hellx")]
    assert pieces == ["hell", "x</w>"]


def test_rows_are_framed_padded_and_int64(tokenizer: ClipTokenizer) -> None:
    rows = tokenizer(["hello", ""])
    assert rows.dtype == np.int64 and rows.shape == (2, 8)
    hello = tokenizer.encoder["hello</w>"]
    assert rows[0].tolist() == [tokenizer.start_id, hello, tokenizer.end_id, 0, 0, 0, 0, 0]
    assert rows[1].tolist()[:3] == [tokenizer.start_id, tokenizer.end_id, 0]


def test_truncation_keeps_the_end_token_last(tokenizer: ClipTokenizer) -> None:
    row = tokenizer("cat " * 20)[0]
    cat = tokenizer.encoder["cat</w>"]
    assert row.tolist() == [tokenizer.start_id] + [cat] * 6 + [tokenizer.end_id]


def test_special_tokens_in_text_stay_whole(tokenizer: ClipTokenizer) -> None:
    ids = tokenizer.encode(f"cat {END_TOKEN}")
    assert ids == [tokenizer.encoder["cat</w>"], tokenizer.end_id]


def test_cleaning_fixes_mojibake_unescapes_html_and_collapses_space() -> None:
    assert clean_text("  Caf\u00c3\u00a9 &amp;amp;\n\t Tea  ") == "café & tea"
    assert clean_text("Dog_Park, Big!", "canonicalize") == "dog park big"
    assert clean_text("Big  Dog", "whitespace") == "Big Dog"


def test_words_split_on_letters_digits_and_contractions(tokenizer: ClipTokenizer) -> None:
    decoded = [tokenizer.decoder[i] for i in tokenizer.encode("it's 42!")]
    # "'s" is one word; the tiny vocab has no merge for it, so it stays two symbols
    assert decoded == ["i", "t</w>", "'", "s</w>", "4</w>", "2</w>", "!</w>"]


def test_decode_inverts_encode_for_unicode(tokenizer: ClipTokenizer) -> None:
    text = "hello naïve 東京 🐶 cat"
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_plain_text_and_gzip_vocab_files_agree(tmp_path: Path) -> None:
    gz = ClipTokenizer(write_vocab(tmp_path / "a.gz", MERGES))
    plain = ClipTokenizer(write_vocab(tmp_path / "merges.txt", MERGES, compress=False))
    texts = ["hello cat", "a tall hat"]
    assert np.array_equal(gz(texts), plain(texts))


def test_missing_vocab_is_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        ClipTokenizer(tmp_path / "absent.txt.gz")


def test_shapes_model_vocab_tokenizes_its_captions_to_whole_words() -> None:
    vocab = Path(__file__).parents[1] / "models" / "test" / "shapes-clip" / "shapes_vocab.txt.gz"
    tokenizer = ClipTokenizer(vocab, context_length=16)
    ids = tokenizer.encode("a photo of a yellow triangle")
    assert [tokenizer.decoder[i] for i in ids][-2:] == ["yellow</w>", "triangle</w>"]
    assert max(ids) < tokenizer.start_id < tokenizer.end_id == tokenizer.vocab_size - 1
