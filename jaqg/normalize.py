"""Text normalization shared by every data path: strip, drop CR/LF/TAB, NFKC, neologdn. Never lowercases."""

from __future__ import annotations

import re
import unicodedata

import neologdn

DEFAULT_SEP = "[SEP]"
# JSQuAD writes "title [SEP] body"; NFKC/neologdn leave the brackets, the case varies between releases.
_SEP_RE = re.compile(r"\s*\[sep\]\s*", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\r\n\t]")


def normalize(text: str, sep: str = DEFAULT_SEP) -> str:
    """Normalize one field. Idempotent: normalize(normalize(x)) == normalize(x)."""
    text = _CONTROL_RE.sub("", text).strip()
    text = unicodedata.normalize("NFKC", text)
    text = neologdn.normalize(text)
    text = _SEP_RE.sub(f" {sep} ", text).strip()
    # neologdn and NFKC can each expose input for the other; a second pass makes the result a fixed point.
    return text
