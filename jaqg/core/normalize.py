"""Text normalization shared by every data path: strip, drop CR/LF/TAB, NFKC, neologdn. Never lowercases.

Two deliberate choices beyond plain ``neologdn.normalize``:
- tildes are kept (as ``~``): neologdn deletes them by default, turning ``10〜20`` into ``1020``;
- the result is a fixed point (``normalize(normalize(x)) == normalize(x)`` by construction): one pass of
  NFKC + neologdn can expose input for the next (e.g. removing a space joins two runs), so we repeat
  the pass until nothing changes.
- invisible format characters (Unicode category Cf: zero-width space U+200B, BOM/ZWNBSP U+FEFF, word joiner
  U+2060, soft hyphen U+00AD, directional marks and embeddings, tag characters...) are removed: the models'
  SentencePiece tokenizers drop them, so a reference or answer holding one could never be produced (``甲府\u200b市``
  is ``甲府市``). The zero-width joiner U+200D is kept between two symbols (an emoji ZWJ sequence such as
  👨\u200d💻), removed elsewhere. JGLUE's official metric (jaqg.evaluation.jglue_metric) does not use this module
  and keeps scoring raw strings.
JSQuAD contexts are ``title [SEP] body``; ``[SEP]``/``[sep]`` (any case, any spacing) become `` {sep} ``.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import neologdn

DEFAULT_SEP = "[SEP]"
_MARK = "\ue000"  # a private-use character: NFKC and neologdn leave it alone
_CONTROL_RE = re.compile(r"[\r\n\t]")
_ZWJ = "\u200d"
_EMOJI_SIDE = ("So", "Sk", "Mn")  # a symbol, a modifier (skin tone), or a variation selector (U+FE0F) before a ZWJ
_MAX_PASSES = 8  # real text converges in 1-2 passes; the bound only guards against a surprise cycle


@functools.lru_cache(maxsize=8)
def _sep_re(sep: str) -> re.Pattern:
    # The configured separator must also be recognised, or a second pass would squeeze the spaces around it.
    return re.compile(rf"\s*(?:\[sep\]|{re.escape(sep)})\s*", re.IGNORECASE)


def strip_invisible(text: str) -> str:
    """``text`` without its format characters (category Cf), but a ZWJ between two symbols (emoji sequences)."""
    if text.isascii():
        return text
    kept: list[str] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) != "Cf":
            kept.append(ch)
        elif (ch == _ZWJ and kept and unicodedata.category(kept[-1]) in _EMOJI_SIDE and i + 1 < len(text)
              and unicodedata.category(text[i + 1]) == "So"):
            kept.append(ch)
    return "".join(kept)


def _clean(text: str) -> str:
    """Line breaks, tabs and invisible format characters removed, then NFKC."""
    return unicodedata.normalize("NFKC", strip_invisible(_CONTROL_RE.sub("", text)))


def _once(text: str) -> str:
    text = _clean(text)
    return neologdn.normalize(text, tilde="normalize").strip()


def _fixed_point(text: str) -> str:
    for _ in range(_MAX_PASSES):
        new = _once(text)
        if new == text:
            return text
        text = new
    return text


def normalize(text: str, sep: str = DEFAULT_SEP) -> str:
    """Normalize one field (see the module docstring: no line breaks, tabs or invisible format characters; NFKC;
    neologdn). Idempotent: normalize(normalize(x)) == normalize(x)."""
    # Split on the separator first so neologdn never sees (and never eats the spaces around) it.
    parts = _sep_re(sep).split(_clean(text))
    # An empty title (or a doubled separator) leaves nothing to separate.
    return f" {sep} ".join(p for p in map(_fixed_point, parts) if p)


def match_key(text: str, sep: str = DEFAULT_SEP) -> str:
    """``normalize(text)`` with all whitespace removed: the key under which two answers or questions count as the
    same text (generate.py's round trip, generate_qa.py's duplicate questions, score_qag.py's answer recall)."""
    return "".join(normalize(text, sep).split())


def normalize_offset(text: str, offset: int, sep: str = DEFAULT_SEP) -> int:
    """Approximately where ``text[offset:]`` starts inside ``normalize(text)`` (within a character or two).

    NFKC and neologdn change lengths before the offset, so we let a marker ride through normalization.
    Used to carry JSQuAD's ``answer_start``; callers snap it to the nearest occurrence of the answer.
    """
    marked = normalize(f"{text[:offset]}{_MARK}{text[offset:]}", sep)
    return marked.find(_MARK)
