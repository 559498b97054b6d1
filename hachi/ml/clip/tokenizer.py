"""CLIP's byte-level BPE tokenizer, without torch.

Search quality depends on the text tower seeing exactly the ids it was trained on, so this
reproduces open_clip's default ``SimpleTokenizer`` bit for bit (tested against it):

1. clean: ftfy.fix_text, HTML-unescape twice, strip; then collapse whitespace and
   lower-case ("lower", the default), or only collapse whitespace ("whitespace"), or drop
   ASCII punctuation and underscores as well ("canonicalize");
2. split into words with CLIP's regex (contractions, runs of letters, single digits,
   runs of other non-space characters; the two special tokens stay whole);
3. map each word's UTF-8 bytes to printable characters (GPT-2's byte table), mark the
   last symbol with ``</w>`` and merge adjacent pairs by rank from the vocab file;
4. wrap in <start_of_text> ... <end_of_text>, cut to ``context_length`` keeping the end
   token last, and pad with zeros.
"""

from __future__ import annotations

import gzip
import html
import string
from collections.abc import Iterable, Sequence
from pathlib import Path

import ftfy
import numpy as np
import regex
from numpy.typing import NDArray

from hachi.errors import ModelUnavailable

START_TOKEN = "<start_of_text>"
END_TOKEN = "<end_of_text>"
WORD_END = "</w>"
# open_clip reads at most this many merge lines (after the header line) from the vocab.
MAX_MERGES = 49152 - 256 - 2
BPE_CACHE_LIMIT = 100_000
GZIP_MAGIC = b"\x1f\x8b"
_WORD_PATTERN = r"|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)


def byte_alphabet() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table, in CLIP's vocabulary order.

    Printable Latin-1 bytes stand for themselves; the others are moved past U+0100 so that
    no BPE symbol is whitespace or a control character.
    """
    kept = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in kept}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def clean_text(text: str, mode: str = "lower") -> str:
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    if mode == "canonicalize":
        text = text.replace("_", " ").translate(_PUNCTUATION_TABLE).lower()
    text = " ".join(text.split())
    return text.lower() if mode == "lower" else text


def read_merges(path: Path) -> list[tuple[str, ...]]:
    """Merge rules in rank order, read as open_clip reads them (header line skipped).

    The file may be gzip (open_clip's ``bpe_simple_vocab_16e6.txt.gz``) or plain text
    (Hugging Face's ``merges.txt`` holds the same merges after its own header line).
    """
    try:
        data = path.read_bytes()
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
        lines = data.decode("utf-8").split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ModelUnavailable(f"cannot read BPE vocab {path}: {exc}", {"path": str(path)}) from exc
    return [tuple(line.split()) for line in lines[1 : MAX_MERGES + 1]]


def build_vocabulary(merges: Iterable[tuple[str, ...]]) -> list[str]:
    """Single bytes, then bytes ending a word, then one entry per merge, then the specials."""
    symbols = list(byte_alphabet().values())
    vocab = symbols + [s + WORD_END for s in symbols]
    vocab.extend("".join(merge) for merge in merges)
    vocab.extend([START_TOKEN, END_TOKEN])
    return vocab


class ClipTokenizer:
    """Texts -> (N, context_length) int64 token ids for a CLIP text tower."""

    def __init__(self, vocab_path: Path, context_length: int = 77, clean: str = "lower") -> None:
        merges = read_merges(vocab_path)
        vocab = build_vocabulary(merges)
        self.encoder = {token: index for index, token in enumerate(vocab)}
        self.decoder = dict(enumerate(vocab))
        self.ranks = {merge: rank for rank, merge in enumerate(merges)}
        self.byte_table = byte_alphabet()
        self.context_length = context_length
        self.clean = clean
        self.start_id = self.encoder[START_TOKEN]
        self.end_id = self.encoder[END_TOKEN]
        self.vocab_size = len(self.encoder)
        specials = "|".join(regex.escape(t) for t in (START_TOKEN, END_TOKEN))
        self._words = regex.compile(specials + _WORD_PATTERN, regex.IGNORECASE)
        self._cache: dict[str, tuple[str, ...]] = {}

    def __call__(self, texts: str | Sequence[str]) -> NDArray[np.int64]:
        return self.tokenize([texts] if isinstance(texts, str) else texts)

    def tokenize(self, texts: Sequence[str]) -> NDArray[np.int64]:
        rows = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for i, text in enumerate(texts):
            ids = [self.start_id, *self.encode(text), self.end_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.end_id
            rows[i, : len(ids)] = ids
        return rows

    def encode(self, text: str) -> list[int]:
        """Token ids of one text, without the start and end tokens."""
        ids: list[int] = []
        for word in self._words.findall(clean_text(text, self.clean)):
            symbols = "".join(self.byte_table[b] for b in word.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(symbols))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Best-effort text of token ids (specials and padding dropped), for debugging."""
        specials = {self.start_id, self.end_id, 0}
        reverse = {c: b for b, c in self.byte_table.items()}
        raw = bytearray()
        for token in (self.decoder[int(i)] for i in ids if int(i) not in specials):
            word_end = token.endswith(WORD_END)
            raw.extend(reverse[c] for c in token.removesuffix(WORD_END))
            raw.extend(b" " if word_end else b"")
        return raw.decode("utf-8", errors="replace").strip()

    def _bpe(self, symbols: str) -> tuple[str, ...]:
        if symbols in (START_TOKEN, END_TOKEN):
            return (symbols,)
        cached = self._cache.get(symbols)
        if cached is None:
            if len(self._cache) >= BPE_CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[symbols] = self._merge(symbols)
        return cached

    def _merge(self, symbols: str) -> tuple[str, ...]:
        """Repeatedly join the best-ranked adjacent pair, left to right, until none is known."""
        parts = [*symbols[:-1], symbols[-1] + WORD_END]
        while len(parts) > 1:
            ranked = [(self.ranks.get(p, -1), p) for p in zip(parts, parts[1:], strict=False)]
            known = [(rank, pair) for rank, pair in ranked if rank >= 0]
            if not known:
                break
            first, second = min(known)[1]
            parts = _join_pair(parts, first, second)
        return tuple(parts)


def _join_pair(parts: list[str], first: str, second: str) -> list[str]:
    joined: list[str] = []
    i = 0
    while i < len(parts):
        if i + 1 < len(parts) and parts[i] == first and parts[i + 1] == second:
            joined.append(first + second)
            i += 2
        else:
            joined.append(parts[i])
            i += 1
    return joined
