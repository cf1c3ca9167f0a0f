"""The project's one sentence splitter (AQG-HL highlighting, answer-extraction data, generate_qa.py passages).

Rule: a sentence ends after a run of sentence-final marks ``。 ！ ？ ! ?`` (fullwidth and, after NFKC, ASCII),
together with any closing brackets or quotes right after them (``」』）)］]】〕〉》”’"'``), so ``「行く。」`` stays
one sentence and the next one starts clean. A period ``.`` is not a mark: in normalized Japanese text it is mostly a
decimal point or an abbreviation (``3.5``, ``No.1``). Text after the last mark is a sentence of its own. The spans
partition the text: joined, they give it back exactly (spaces stay inside the sentence they follow), so no text is
ever lost. A quotation that holds a mark and runs on (``「雨だ。」と言った。``) is cut after its closing bracket;
that is the price of a rule that needs no bracket balancing on unbalanced real text.
"""

from __future__ import annotations

import re

SENTENCE_END = re.compile(r"[。！？!?]+[」』）)］\]】〕〉》”’\"']*")


def sentence_spans(text: str, begin: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) character offsets of each sentence of ``text[begin:end]``, in order, covering it exactly.

    Empty input gives ``[]``; a span is never empty.
    """
    end = len(text) if end is None else end
    spans, start = [], begin
    for m in SENTENCE_END.finditer(text, begin, end):
        spans.append((start, m.end()))
        start = m.end()
    if start < end:
        spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (``"".join(split_sentences(t)) == t``)."""
    return [text[a:b] for a, b in sentence_spans(text)]
