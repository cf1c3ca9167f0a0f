"""Choose ONE occurrence of the answer in a context and wrap it as ``<hl>answer<hl>`` (AQG-HL inputs).

JSQuAD's ``answer_start`` is simply the first occurrence of the answer string: often inside the title,
or an uninformative repeat. The default strategy ("related") prefers the body over the title and, among
body occurrences, the one whose sentence shares the most (rarity-weighted) character bigrams with the
question (inside one sentence: the one with most shared bigrams in the few characters around it). It falls back to
``answer_start`` only when the body holds no occurrence. "annotated" is the
plain ``answer_start`` behaviour. Sentences are split by jaqg.core.sentences. Contexts are ``title [SEP] body`` (or just
a body, without the separator).
"""

from __future__ import annotations

from ..core.normalize import DEFAULT_SEP
from ..core.sentences import sentence_spans
from .formats import HL_TOKEN

STRATEGIES = ("related", "annotated")
_WINDOW = 12  # characters each side of an occurrence that break ties inside one sentence


def occurrences(text: str, answer: str) -> list[int]:
    """Every start position of ``answer`` in ``text`` (overlapping ones too)."""
    starts, i = [], text.find(answer)
    while i >= 0:
        starts.append(i)
        i = text.find(answer, i + 1)
    return starts


def _bigrams(text: str) -> set[str]:
    text = text.replace(" ", "")
    return {text[i:i + 2] for i in range(len(text) - 1)}


def body_start(context: str, sep: str = DEFAULT_SEP) -> int:
    """Where the body of a ``title [SEP] body`` context starts (just after the first ``sep``; 0 without one)."""
    sep_at = context.find(sep)
    return sep_at + len(sep) if sep_at >= 0 else 0


def _most_related(context: str, starts: list[int], answer: str, question: str, body_from: int) -> list[int]:
    """The occurrences most related to the question (ties kept, in order).

    First by their sentence's rarity-weighted bigram overlap with the question; occurrences in the same
    sentence by the overlap of a few characters around them.
    """
    spans = sentence_spans(context, body_from)
    grams = [_bigrams(context[a:b]) for a, b in spans]
    question_grams = _bigrams(question)
    # A bigram found in few sentences says more about which sentence the question is about.
    weight = {g: 1.0 / sum(g in s for s in grams) for g in question_grams if any(g in s for s in grams)}
    sentence_score = [sum(weight.get(g, 0.0) for g in question_grams & s) for s in grams]

    def score(start: int) -> tuple[float, int]:
        sentence = next((v for (a, b), v in zip(spans, sentence_score) if a <= start < b), 0.0)
        window = context[max(body_from, start - _WINDOW):start] + " " + context[start + len(answer):][:_WINDOW]
        return sentence, len(question_grams & _bigrams(window))

    scores = [score(s) for s in starts]
    best = max(scores)
    return [s for s, v in zip(starts, scores) if v == best]


def candidates(context: str, answer: str, question: str | None = None, strategy: str = "related",
               sep: str = DEFAULT_SEP) -> list[int]:
    """The occurrences the strategy finds equally good, in order (``answer_start`` decides among them)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown highlight strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if not answer:
        raise ValueError("the answer is empty")
    starts = occurrences(context, answer)
    if not starts:
        raise ValueError(f"answer {answer!r} does not occur in the context")
    if strategy == "annotated":
        return starts
    body_from = body_start(context, sep)
    body = [s for s in starts if s >= body_from]
    if not body:
        return starts
    if len(body) > 1 and question:
        return _most_related(context, body, answer, question, body_from)
    return body


def pick(candidates: list[int], answer_start: int | None) -> int:
    """The candidate at ``answer_start`` (or nearest: normalization can shift it a little); else the first."""
    if answer_start is None:
        return candidates[0]
    return min(candidates, key=lambda s: (abs(s - answer_start), s))


def choose_occurrence(context: str, answer: str, question: str | None = None, answer_start: int | None = None,
                      strategy: str = "related", sep: str = DEFAULT_SEP) -> int:
    """Start position of the occurrence to highlight; ValueError if the answer does not occur."""
    return pick(candidates(context, answer, question, strategy, sep), answer_start)


def wrap(context: str, start: int, answer: str) -> str:
    end = start + len(answer)
    return f"{context[:start]}{HL_TOKEN}{context[start:end]}{HL_TOKEN}{context[end:]}"


def highlight_answer(context: str, answer: str, question: str | None = None, answer_start: int | None = None,
                     strategy: str = "related", sep: str = DEFAULT_SEP) -> str:
    """The context with exactly one occurrence of ``answer`` wrapped as ``<hl>answer<hl>``.

    Raises ValueError if the answer does not occur. ``answer_start`` is a position in ``context``
    (map it through normalization first; a slightly shifted one snaps to the nearest occurrence).
    """
    return wrap(context, choose_occurrence(context, answer, question, answer_start, strategy, sep), answer)
