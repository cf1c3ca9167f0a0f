"""Word segmenters for scoring Japanese text: one interface, ``get_tokenizer(name) -> callable(str) -> list[str]``.

- ``mecab``: MeCab + ipadic, exactly sacrebleu's ``ja-mecab`` (we call sacrebleu's own tokenizer).
- ``sudachi_A`` / ``sudachi_B`` / ``sudachi_C``: SudachiPy + SudachiDict-core (the dictionary ja-ginza uses),
  short / middle / long units.
- ``t5``: the pieces of a Hugging Face tokenizer (``--tokenizer_name_or_path``: hub name or local dir).
- ``char``: characters.
Whitespace is never a token. Heavy analysers load lazily, once per process.

Sudachi (and GiNZA, which runs Sudachi) refuse an input over 49,149 UTF-8 bytes (``SudachiError: Input is too
long``), which a degenerate generation easily is. Every analyser call here goes through ``analyser_pieces``:
a text under the limit is one piece (the same words as before), a longer one is cut after sentence ends into
pieces under the limit, and a sentence longer than the limit is cut at character boundaries by bytes.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Callable, Iterator

from ..core.errors import UserError
from ..core.sentences import sentence_spans
from .hub import load_tokenizer

TOKENIZERS = ("mecab", "sudachi_A", "sudachi_B", "sudachi_C", "t5", "char")

Tokenizer = Callable[[str], list[str]]


# SudachiPy 0.6's input limit (its error message: "can't be more than 49149 bytes"). MeCab has no hard limit
# but is cut the same way, so all analysers see the same pieces.
MAX_ANALYSER_BYTES = 49149


def analyser_pieces(text: str, max_bytes: int = MAX_ANALYSER_BYTES) -> list[str]:
    """``text`` cut into pieces of at most ``max_bytes`` UTF-8 bytes that join back to it: whole sentences packed
    greedily (jaqg.core.sentences), an over-long sentence cut at its last word boundary that fits (``_byte_slices``)."""
    if len(text.encode("utf-8")) <= max_bytes:
        return [text]
    pieces: list[str] = []
    current, size = [], 0
    for start, end in sentence_spans(text):
        for part in _byte_slices(text[start:end], max_bytes):
            n = len(part.encode("utf-8"))
            if size + n > max_bytes and current:
                pieces.append("".join(current))
                current, size = [], 0
            current.append(part)
            size += n
    if current:
        pieces.append("".join(current))
    return pieces


def _byte_slices(text: str, max_bytes: int) -> Iterator[str]:
    """Slices of at most ``max_bytes`` bytes, each cut at the last word boundary that fits (after a space or
    punctuation, or where the script changes: hiragana / katakana / kanji / letters and digits), else at the
    last character that fits."""
    start, size = 0, 0
    for i, ch in enumerate(text):
        n = len(ch.encode("utf-8"))
        if size + n > max_bytes:
            cut, tail = i, n  # tail: bytes of text[j:i + 1], which go on to the next slice
            for j in range(i, start, -1):
                if j < i:
                    tail += len(text[j].encode("utf-8"))
                if tail > max_bytes:
                    break
                if _boundary(text, j):
                    cut = j
                    break
            yield text[start:cut]
            start, size = cut, len(text[cut:i].encode("utf-8"))
        size += n
    yield text[start:]


def _script(ch: str) -> str:
    o = ord(ch)
    if 0x3041 <= o <= 0x309F:
        return "hiragana"
    if 0x30A0 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return "katakana"
    if ch in "々〆" or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or o >= 0x20000:
        return "kanji"
    if ch.isalnum():
        return "alnum"
    return "separator" if ch.isspace() or unicodedata.category(ch)[0] in "PZS" else "other"


def _boundary(text: str, j: int) -> bool:
    """Whether a cut between ``text[j - 1]`` and ``text[j]`` falls between words (ー continues the word before)."""
    before, after = _script(text[j - 1]), _script(text[j])
    return before == "separator" or (before != after and text[j] != "ー")


@functools.lru_cache(maxsize=None)
def mecab_wakati():
    """sacrebleu's ja-mecab tokenizer (MeCab + ipadic, ``-Owakati``); returns a space-joined string."""
    from sacrebleu.tokenizers.tokenizer_ja_mecab import TokenizerJaMecab
    return TokenizerJaMecab()


@functools.lru_cache(maxsize=None)
def mecab_tagger():
    """A MeCab tagger with ipadic that prints POS features (for content-word filtering)."""
    import ipadic
    import MeCab
    # ipadic.MECAB_ARGS points MeCab at the bundled dictionary and rc file; there is no system mecabrc here.
    return MeCab.Tagger(ipadic.MECAB_ARGS)


@functools.lru_cache(maxsize=None)
def sudachi_dictionary():
    from sudachipy import Dictionary
    return Dictionary(dict="core")


@functools.lru_cache(maxsize=None)
def sudachi_tokenizer(mode: str):
    from sudachipy import SplitMode
    return sudachi_dictionary().create(getattr(SplitMode, mode))


def sudachi_morphemes(tok, text: str) -> list:
    """Sudachi's morphemes of ``text``, analysed in pieces under its byte limit."""
    return [m for piece in analyser_pieces(text) for m in tok.tokenize(piece)]


def mecab_parse_lines(text: str) -> list[str]:
    """MeCab's (ipadic) output lines ``surface\tfeatures`` for ``text``, EOS lines dropped, in pieces."""
    tagger = mecab_tagger()
    return [line for piece in analyser_pieces(text) for line in tagger.parse(piece).splitlines()
            if line != "EOS" and "\t" in line]


def pipe_in_pieces(nlp, texts, batch_size: int = 256) -> list[list[tuple[int, object]]]:
    """spaCy/GiNZA docs of each text's pieces under Sudachi's byte limit: per text, ``(character offset of the
    piece in the text, doc)`` pairs, so spans map back (``offset + ent.start_char``). One batched ``nlp.pipe``."""
    pieces = [analyser_pieces(t) for t in texts]
    docs = iter(nlp.pipe((p for ps in pieces for p in ps), batch_size=batch_size))
    out = []
    for ps in pieces:
        offsets = [0]
        for p in ps[:-1]:
            offsets.append(offsets[-1] + len(p))
        out.append([(offset, next(docs)) for offset in offsets])
    return out


def ginza_tokens(texts, batch_size: int = 256) -> list[list]:
    """GiNZA's (tokenizer-only) tokens of each text, analysed in pieces under Sudachi's byte limit; one list of
    spaCy tokens per text."""
    return [[tok for _, doc in docs for tok in doc]
            for docs in pipe_in_pieces(ginza_tokenizer_only(), texts, batch_size)]


@functools.lru_cache(maxsize=None)
def ginza_tokenizer_only():
    """GiNZA (ja_ginza) with every pipeline component excluded: SudachiPy mode C words with UD POS from
    Sudachi's tags. ~100x faster than the full pipeline, and on short questions its POS is no worse
    (the morphologizer tags わるい in 今日はわるい天気だ as NOUN, the tag map says ADJ)."""
    import spacy
    try:
        return spacy.load("ja_ginza", exclude=["tok2vec", "parser", "ner", "morphologizer", "compound_splitter",
                                               "bunsetu_recognizer"])
    except OSError:
        raise UserError("GiNZA is not installed; pip install ja-ginza, or use `tokenizer` mecab / sudachi") from None


@functools.lru_cache(maxsize=None)
def hf_tokenizer(name_or_path: str):
    """The model's own tokenizer, loaded as training and generation load it (jaqg.tokenization.hub.load_tokenizer:
    checked and repaired against its SentencePiece model); UserError (one line) when it cannot be loaded."""
    return load_tokenizer(name_or_path)


def check_names(names, allowed=TOKENIZERS) -> None:
    """Fail fast, before any file is read, on a tokenizer name we do not know."""
    for name in names:
        if name not in allowed:
            raise UserError(f"unknown tokenizer {name!r}; choose from {', '.join(allowed)}")


def tokenizer_signature(name: str, tokenizer_name_or_path: str | None = None) -> str:
    """What split the words, for sacrebleu-style signatures: ``ja-mecab-0.996-IPA`` (sacrebleu's own for mecab),
    ``sudachi-C-0.6.11-core-20260723``, ``char``, ``hf:<tokenizer name or path>``."""
    from importlib.metadata import version
    check_names([name])
    if name == "mecab":
        return mecab_wakati().signature()
    if name.startswith("sudachi_"):
        return f"sudachi-{name[-1]}-{version('sudachipy')}-core-{version('sudachidict_core')}"
    if name == "t5":
        return f"hf:{tokenizer_name_or_path}"
    return name


SPM_SPACE = "\u2581"  # SentencePiece's word-start marker "▁"


def get_tokenizer(name: str, tokenizer_name_or_path: str | None = None) -> Tokenizer:
    """A function str -> list of word (or piece) strings, no whitespace tokens."""
    if name == "mecab":
        wakati = mecab_wakati()
        return lambda text: [w for piece in analyser_pieces(text) for w in wakati(piece).split()]
    if name in ("sudachi_A", "sudachi_B", "sudachi_C"):
        tok = sudachi_tokenizer(name[-1])
        return lambda text: [s for m in sudachi_morphemes(tok, text) if (s := m.surface()).strip()]
    if name == "t5":
        if not tokenizer_name_or_path:
            raise UserError("the t5 tokenizer needs `tokenizer_name_or_path` (a model dir or hub name)")
        hf = hf_tokenizer(tokenizer_name_or_path)
        # SentencePiece marks a word start with U+2581; a bare "▁" piece (before a character not merged with it)
        # would be a word in every sentence, a free match. Pieces are scored by their text, the marker dropped.
        return lambda text: [q for p in hf.tokenize(text) if (q := p.replace(SPM_SPACE, " ").strip())]
    if name == "char":
        return lambda text: [c for c in text if not c.isspace()]
    check_names([name])
