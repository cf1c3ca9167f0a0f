"""End-to-end question-answer generation (QAG) data: one example per paragraph -> all its QA pairs.

Targets, by output format:
- ``tsv`` / ``gpt`` (seq2seq and plain causal LMs): lmqg's end-to-end target,
  ``question: {q}, answer: {a} | question: {q}, answer: {a}`` (lmqg splits a generation at ``|`` and each part at
  ``, answer: ``); the input is ``generate question and answer: {context}`` (lmqg's T5 task prefix) by default.
- ``chat``: the assistant turn is a JSON list ``[{"question": q, "answer": a}, ...]`` (``ensure_ascii=False``).

``parse_e2e_pairs(text, fmt)`` reads a generation back: ``(pairs, problems)``, each malformed pair dropped with one
reason line, so the QAG pipeline can count what it lost. Pairs keep the order of the text; repeats are dropped.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from ..core.io import Example
from .formats import check_template, format_input
from .highlight import occurrences
from .records import Record, group_paragraphs

PAIR_SEP = " | "
QUESTION_PREFIX = "question: "
ANSWER_PREFIX = ", answer: "
FORMATS = ("tsv", "gpt", "chat")


def format_e2e_target(pairs: list[tuple[str, str]], fmt: str) -> str:
    """The target of one paragraph's (question, answer) pairs in ``fmt`` (``chat``: JSON; else lmqg's text)."""
    if fmt == "chat":
        return json.dumps([{"question": q, "answer": a} for q, a in pairs], ensure_ascii=False)
    return PAIR_SEP.join(f"{QUESTION_PREFIX}{q}{ANSWER_PREFIX}{a}" for q, a in pairs)


def pair_problem(question: str, answer: str, fmt: str) -> str | None:
    """Why a (question, answer) pair cannot be written in ``fmt`` (its text would not parse back), or None."""
    if not question.strip() or not answer.strip():
        return "empty question or answer"
    if fmt != "chat":
        for marker in ("|", ANSWER_PREFIX.strip(" ,"), QUESTION_PREFIX.strip()):
            if marker in question or marker in answer:
                return f"pair holds {marker!r}"
    return None


def build_e2e_examples(records: list[Record], template: str, fmt: str
                       ) -> tuple[list[Example], Counter, Counter]:
    """One example per paragraph (id: the paragraph key): input from ``template`` with the paragraph's context,
    target every usable QA pair of it in question order. Returns (examples, skipped by reason, stats: pairs
    written / dropped per reason). A pair is dropped when its answer is not in the context, it repeats, or its
    text would not parse back (``pair_problem``); a paragraph with no pair left is skipped."""
    check_template("e2e", template, multiline=fmt == "chat")
    examples, skipped, stats, seen_ids = [], Counter(), Counter(), set()
    for key, members in group_paragraphs(records).items():
        context, pairs = members[0].context, []
        for record in members:
            if record.id in seen_ids:
                stats["pairs dropped: duplicate id"] += 1
                continue
            seen_ids.add(record.id)
            pair = (record.question, record.answers[0])
            problem = ("answer not in normalized context" if not occurrences(context, pair[1])
                       else "repeated pair" if pair in pairs else pair_problem(*pair, fmt))
            if problem:
                stats[f"pairs dropped: {problem}"] += 1
                continue
            pairs.append(pair)
        if not pairs:
            skipped["no usable question-answer pair in the paragraph"] += 1
            continue
        stats["pairs written"] += len(pairs)
        examples.append(Example(key, format_input("e2e", context=context, template=template),
                                format_e2e_target(pairs, fmt)))
    return examples, skipped, stats


def _clean_pairs(items: list, problems: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            problems.append(f"pair {i}: not an object ({json.dumps(item, ensure_ascii=False)[:60]})")
            continue
        question, answer = item.get("question"), item.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            problems.append(f"pair {i}: no string \"question\" and \"answer\" "
                            f"({json.dumps(item, ensure_ascii=False)[:60]})")
            continue
        pair = (question.strip(), answer.strip())
        _keep(pair, i, pairs, problems)
    return pairs


def _keep(pair: tuple[str, str], i: int, pairs: list[tuple[str, str]], problems: list[str]) -> None:
    """Add a parsed pair, or say why not (empty side, repeat)."""
    if not pair[0] or not pair[1]:
        problems.append(f"pair {i}: empty question or answer")
    elif pair in pairs:
        problems.append(f"pair {i}: repeats an earlier pair")
    else:
        pairs.append(pair)


def _parse_json(text: str, problems: list[str]) -> list[tuple[str, str]]:
    """A JSON list of objects, also inside a ```json fence or after chatter; when the list as a whole does not
    parse (cut off, a stray comma), every ``{...}`` in it that parses on its own is kept."""
    start, end = text.find("["), text.rfind("]")
    if start >= 0 and end > start:
        try:
            items = json.loads(text[start:end + 1])
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list):
            return _clean_pairs(items, problems)
    body = text[start + 1:] if start >= 0 else text
    objects = re.findall(r"\{[^{}]*\}?", body)
    if not objects:
        problems.append(f"no JSON list of pairs: {text.strip()[:60]!r}")
        return []
    problems.append("not one valid JSON list; objects read one by one")
    items = []
    for i, chunk in enumerate(objects, 1):
        try:
            items.append(json.loads(chunk))
        except json.JSONDecodeError:
            problems.append(f"object {i}: not valid JSON ({chunk[:60]!r})")
            items.append(None)
    return _clean_pairs([item for item in items if item is not None], problems)


ANSWER_CUT = re.compile(r"\s*,\s*answer:\s*")


def _parse_lmqg(text: str, problems: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for i, part in enumerate(text.split("|"), 1):
        part = part.strip()
        if not part:  # nothing between two separators (or a trailing one): no pair lost
            continue
        if not part.startswith(QUESTION_PREFIX.strip()):
            problems.append(f"pair {i}: does not start with 'question:' ({part[:60]!r})")
            continue
        cut = ANSWER_CUT.split(part[len(QUESTION_PREFIX.strip()):])
        if len(cut) != 2:
            problems.append(f"pair {i}: needs exactly one ', answer:' ({part[:60]!r})")
            continue
        pair = (cut[0].strip(), cut[1].strip())
        _keep(pair, i, pairs, problems)
    return pairs


def parse_e2e_pairs(text: str, fmt: str = "tsv") -> tuple[list[tuple[str, str]], list[str]]:
    """The (question, answer) pairs of an end-to-end generation, and one line per dropped pair (why).

    ``fmt`` ``chat``: a JSON list of ``{"question", "answer"}`` objects (a surrounding code fence or text is
    ignored; a broken list is read object by object). ``tsv`` / ``gpt``: lmqg's ``question: q, answer: a | ...``.
    Whitespace around each field is stripped; empty fields and repeats are dropped.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    problems: list[str] = []
    pairs = _parse_json(text, problems) if fmt == "chat" else _parse_lmqg(text, problems)
    return pairs, problems
