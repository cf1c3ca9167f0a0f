"""Metrics broken down by question type, answer length and context length.

Each example's question, answer and context come from its data TSV row: for QA the question and context are
parsed out of the input (by the data dir's template) and the answer is the target; for AQG the question is the
target (the reference question) and the answer and context come from the input (``answer: .. context: ..``, or
the ``<hl>`` span of an AQG-HL context). Without a data TSV (references from JSON only) only the answer (the
reference) is known.

Question types, from the question's words (SudachiPy, mode A: short units, so ぶどう, どうぶつ and いつも are words of
their own, not a どう or いつ), first match in this order:
なぜ (なぜ/何故, どうして) > いつ (いつ/何時, いつ頃, 何曜, 何 + 年/月/日/時/世紀 as a date) > 誰 > どこ (どこ/何処) >
いくつ (いくつ/幾つ, いくら, the numeral 何 before any other counter or unit: 何人, 何日間, 何メートル, 何番目;
どれ/どの + くらい/ぐらい/ほど/程度) > どう (どう, どのよう, どんな, どういう) > どの (どの, どれ, どちら, どっち) >
何 (何/なに/なん, 何県...) > other. Words are matched by their reading or normalized form, so kanji and kana
spellings agree.
Length buckets count characters (whitespace excluded): answers 1-3 / 4-6 / 7-10 / 11+, contexts
<100 / 100-199 / 200-399 / 400+.
Each bucket holds ``n`` and the mean of every per-example score (exact_match, char_f1, jglue_exact_match,
jglue_f1, and each tokenizer's sentence BLEU and ROUGE), 0-100.
"""

from __future__ import annotations

import re
import string
from typing import NamedTuple, Sequence

from ..core.io import read_examples, read_json
from ..data.formats import DEFAULT_TEMPLATES, HL_TOKEN
from ..tokenization.word import sudachi_morphemes, sudachi_tokenizer

QUESTION_TYPES = ("何", "誰", "いつ", "どこ", "どの", "いくつ", "なぜ", "どう", "other")
_DATE_UNITS = {"年", "月", "日", "時", "世紀"}  # 何 + these asks for a date (何日間, 何年間 are other words: durations)
_AMOUNT_AFTER_WHICH = {"くらい", "ぐらい", "位", "ほど", "程", "程度"}  # どれくらい, どのくらい, どれほど, どの程度
ANSWER_BUCKETS = ((1, 3, "1-3"), (4, 6, "4-6"), (7, 10, "7-10"), (11, None, "11+"))
CONTEXT_BUCKETS = ((0, 99, "<100"), (100, 199, "100-199"), (200, 399, "200-399"), (400, None, "400+"))
BREAKDOWNS = ("by_question_type", "by_answer_length", "by_context_length")


class Fields(NamedTuple):
    question: str | None
    answer: str | None
    context: str | None
    task: str | None = None  # the row's task (the data dir's, or recognised from the input's form)


def question_type(question: str) -> str:
    """One of QUESTION_TYPES for a Japanese question, from its words (see the module docstring)."""
    found = set()
    words = _question_words(question)
    for i, (surface, pos, reading, normalized) in enumerate(words):
        after = words[i + 1] if i + 1 < len(words) else ("", "", "", "")
        if reading == "ナゼ" or (reading == "ドウ" and after[3] == "為る" and i + 2 < len(words)
                                and words[i + 2][0] == "て"):
            found.add("なぜ")
        elif reading in ("イツ", "イツゴロ") or surface.startswith("何曜"):
            found.add("いつ")
        elif normalized == "何" and pos == "名詞":  # the numeral 何 (Sudachi: 名詞-数詞) before a counter or unit
            found.add("いつ" if after[0] in _DATE_UNITS else "いくつ")
        elif reading == "ダレ":
            found.add("誰")
        elif reading == "ドコ":
            found.add("どこ")
        elif reading in ("イクラ",) or normalized == "幾":
            found.add("いくつ")
        elif reading in ("ドレ", "ドノ") and after[0] in _AMOUNT_AFTER_WHICH:
            found.add("いくつ")
        elif reading in ("ドウ", "ドンナ", "ドウイウ") or (reading == "ドノ" and after[0] == "よう"):
            found.add("どう")
        elif reading in ("ドノ", "ドレ", "ドチラ", "ドッチ"):
            found.add("どの")
        elif normalized == "何" or surface.startswith("何"):
            found.add("何")
    return next((t for t in _PRIORITY if t in found), "other")


_PRIORITY = ("なぜ", "いつ", "誰", "どこ", "いくつ", "どう", "どの", "何")


def _question_words(question: str) -> list[tuple[str, str, str, str]]:
    """(surface, first POS level, reading, normalized form) of each SudachiPy mode-A word."""
    return [(m.surface(), m.part_of_speech()[0], m.reading_form(), m.normalized_form())
            for m in sudachi_morphemes(sudachi_tokenizer("A"), question)]


def _length(text: str) -> int:
    return sum(not c.isspace() for c in text)


def length_bucket(text: str, buckets) -> str:
    """The name of the bucket ``(lo, hi or None, name)`` holding the text's length in characters, whitespace
    excluded (ANSWER_BUCKETS, CONTEXT_BUCKETS)."""
    n = _length(text)
    for lo, hi, name in buckets:
        if n >= lo and (hi is None or n <= hi):
            return name
    return buckets[0][2]  # an empty text counts with the shortest


def _template_regex(template: str) -> re.Pattern:
    """A regex with one named group per template field (the last field takes the rest)."""
    parsed = list(string.Formatter().parse(template))
    last = max((i for i, (_, field, _, _) in enumerate(parsed) if field is not None), default=-1)
    parts, seen = [], set()
    for i, (literal, field, _, _) in enumerate(parsed):
        parts.append(re.escape(literal))
        if field in seen:
            parts.append(f"(?P={field})")
        elif field is not None:
            parts.append(f"(?P<{field}>.*{'' if i == last else '?'})")
            seen.add(field)
    return re.compile("".join(parts) + "$", re.S)


def example_fields(model_input: str, target: str, task: str | None, template: str | None = None) -> Fields:
    """(question, answer, context) of one data row; None where the row does not hold it."""
    task = task or ("qa" if model_input.startswith("question:") else "aqg_hl" if HL_TOKEN in model_input else "aqg")
    if task not in DEFAULT_TEMPLATES:  # a multitask row or an unknown task: only the target is known
        return Fields(None, None, None, task)
    match = _template_regex(template or DEFAULT_TEMPLATES[task]).match(model_input)
    found = match.groupdict() if match else {}
    context = found.get("context")
    if task == "qa":
        return Fields(found.get("question"), target, context, task)
    answer = found.get("answer")
    if task == "aqg_hl" and context is not None:
        parts = context.split(HL_TOKEN)
        answer = parts[1] if len(parts) >= 3 else None
        context = context.replace(HL_TOKEN, "")
    return Fields(target, answer, context, task)


def breakdowns(per_example: Sequence[dict], fields: Sequence[Fields]) -> dict[str, dict[str, dict]]:
    """``{"by_question_type": {type: {"n", <score>: mean...}}, "by_answer_length": ..., "by_context_length": ...}``;
    a breakdown is left out when no example holds its field."""
    keys = {
        "by_question_type": [question_type(f.question) if f.question else None for f in fields],
        "by_answer_length": [length_bucket(f.answer, ANSWER_BUCKETS) if f.answer else None for f in fields],
        "by_context_length": [length_bucket(f.context, CONTEXT_BUCKETS) if f.context else None for f in fields],
    }
    orders = {"by_question_type": QUESTION_TYPES, "by_answer_length": [b[2] for b in ANSWER_BUCKETS],
              "by_context_length": [b[2] for b in CONTEXT_BUCKETS]}
    out = {}
    for name, labels in keys.items():
        groups: dict[str, list[dict]] = {}
        for label, scores in zip(labels, per_example):
            if label is not None:
                groups.setdefault(label, []).append(scores)
        if groups:
            out[name] = {label: _means(groups[label]) for label in orders[name] if label in groups}
    return out


def _means(rows: list[dict]) -> dict:
    return {"n": len(rows), **{k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}}


def format_breakdowns(found: dict[str, dict[str, dict]], word_metric: str | None = None) -> str:
    """Markdown tables: n, EM, char F1, JGLUE F1 (and one tokenizer's sentence BLEU) per bucket."""
    columns = [("EM", "exact_match"), ("char F1", "char_f1"), ("JGLUE F1", "jglue_f1")]
    if word_metric:
        columns.append((word_metric.replace("_", " "), word_metric))
    lines = []
    for name, buckets in found.items():
        lines += ["", f"| {name} | n | " + " | ".join(c for c, _ in columns) + " |",
                  "|---|---:|" + "---:|" * len(columns)]
        for label, s in buckets.items():
            lines.append(f"| {label} | {s['n']} | " + " | ".join(f"{s[k]:.2f}" for _, k in columns if k in s) + " |")
    return "\n".join(lines).lstrip("\n")


def data_fields(tsv_path, ids: Sequence[str]) -> list[Fields]:
    """The (question, answer, context, task) of each id's row of a data TSV; the task and template come from the
    data dir's prepare_report.json beside the TSV (a hand-made dir's rows are recognised by their form)."""
    from pathlib import Path

    rows = {e.id: e for e in read_examples(tsv_path)}
    report_path = Path(tsv_path).parent / "prepare_report.json"
    report = read_json(report_path) if report_path.is_file() else {}
    task, template = report.get("task"), report.get("template")
    return [example_fields(rows[i].input, rows[i].target, task, template) for i in ids]
