"""lmqg's processed question-generation data (QG-Bench, e.g. ``lmqg/qg_jaquad``) as a data source.

lmqg (Ushio et al., EMNLP 2022; github.com/asahi417/lm-question-generation) publishes each QG data set as JSONL,
one question a line, one file per split (``train.jsonl``, ``validation.jsonl``, ``test.jsonl``; also under
``data/processed/``; a split may come in shards ``train00.jsonl``, ``train01.jsonl``... read in name order).
The fields used here: ``question``, ``paragraph``, ``answer``, ``sentence`` (the sentence holding the answer) and
``paragraph_answer`` (the paragraph with the answer wrapped as ``<hl>answer<hl>``); other fields are ignored.

lmqg's split is kept exactly: train -> train, validation -> dev, test -> test (nothing is re-split). Each line
becomes a ``Record`` with the id ``{file stem}-{line number}`` (``lmqg_id``), so ``score.py --lmqg_file test.jsonl``
finds the prediction of each line. The highlighted position of ``paragraph_answer`` is carried as the answer's
annotated start, so ``--hl_strategy annotated`` (the default of ``prepare-lmqg``) highlights what lmqg highlighted.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional

from ..core.config import option as arg
from ..core.errors import UserError
from ..core.normalize import normalize
from .prepare import CommonArgs
from .records import Record

HL = "<hl>"
LMQG_SPLITS = {"train": "train", "dev": "validation", "test": "test"}  # our split -> lmqg's file name
REQUIRED = ("question", "paragraph", "answer", "sentence")


class LmqgRow(NamedTuple):
    """One line of an lmqg file, as written there (not normalized): what scoring compares against."""
    id: str
    question: str
    answer: str
    sentence: str
    paragraph: str
    paragraph_answer: str | None


def lmqg_id(path: Path, lineno: int) -> str:
    """The id of line ``lineno`` (1-based) of an lmqg file: ``test-12`` for line 12 of test.jsonl."""
    return f"{path.name.split('.')[0]}-{lineno}"


def read_rows(path: str | Path) -> list[LmqgRow]:
    """Every line of one lmqg JSONL file; a malformed line stops with ``file:line: what; what to do``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; pass lmqg's processed JSONL (e.g. test.jsonl of lmqg/qg_jaquad)")
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    rows.append(_row(line, path, lineno))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason}); re-save it as UTF-8") from None
    if not rows:
        raise UserError(f"{path}: no lines; expected one JSON object a line (lmqg's processed JSONL)")
    return rows


def _row(line: str, path: Path, lineno: int) -> LmqgRow:
    where = f"{path}:{lineno}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{where}: malformed JSON ({e.msg}); expected one JSON object a line") from None
    if not isinstance(item, dict):
        raise UserError(f"{where}: expected a JSON object, found {type(item).__name__}")
    for key in REQUIRED + ("paragraph_answer",):
        if key in REQUIRED and key not in item:
            raise UserError(f"{where}: missing key {key!r}; lmqg's QG files have {', '.join(REQUIRED)}, "
                            "paragraph_answer, ...")
        if key in item and not isinstance(item[key], str):
            raise UserError(f"{where}: {key!r} should be a string, found {type(item[key]).__name__}")
    return LmqgRow(lmqg_id(path, lineno), item["question"], item["answer"], item["sentence"], item["paragraph"],
                   item.get("paragraph_answer"))


def highlight_start(row: LmqgRow) -> int | None:
    """Where lmqg's ``<hl>`` puts the answer in ``paragraph`` (None when paragraph_answer does not say)."""
    text = row.paragraph_answer
    if not text or text.count(HL) != 2:
        return None
    start = text.index(HL)
    return start if row.paragraph[start:start + len(row.answer)] == row.answer else None


def load(path: str | Path, sep: str, notes: Counter) -> tuple[list[Record], Counter]:
    """Records of one lmqg file, normalized (jaqg.core.normalize) as every source is; skip counts by reason.
    ``notes`` counts what was kept but guessed (a highlight lmqg's file does not locate)."""
    records, skipped = [], Counter()
    for row in read_rows(path):
        question, answer = normalize(row.question), normalize(row.answer)
        context = normalize(row.paragraph, sep)
        if not question or not answer:
            skipped["empty question or answer"] += 1
            continue
        if answer not in context:
            skipped["answer not in normalized paragraph"] += 1
            continue
        start = highlight_start(row)
        if start is None:
            notes["highlight not located in paragraph_answer (hl_strategy decides)"] += 1
        # group = the paragraph: lmqg splits by paragraph already; the split itself is theirs, kept as is.
        records.append(Record(row.id, question, [answer], context, context, raw_context=row.paragraph,
                              raw_start=start, raw_answers=(row.answer,)))
    return records, skipped


def split_files(directory: str | Path, split: str) -> list[Path]:
    """lmqg's file(s) of one split (``validation`` etc.) in ``directory`` or its ``data/processed/``."""
    for base in (Path(directory), Path(directory) / "data" / "processed"):
        whole = base / f"{split}.jsonl"
        if whole.is_file():
            return [whole]
        shards = sorted(p for p in base.glob(f"{split}[0-9]*.jsonl") if p.stem[len(split):].isdigit())
        if shards:
            return shards
    return []


@dataclass
class LmqgArgs(CommonArgs):
    lmqg_dir: Optional[str] = arg(None, help="folder of lmqg's processed QG JSONL: train.jsonl, validation.jsonl, "
                                             "test.jsonl (or data/processed/ below it; shards train00.jsonl ...)")


def load_splits(args: LmqgArgs) -> tuple[dict[str, list[Record]], dict[str, Counter], dict[str, str]]:
    """lmqg's train / validation / test as our train / dev / test, unchanged."""
    if not args.lmqg_dir:
        raise UserError("pass `lmqg_dir`, a folder holding lmqg's train.jsonl, validation.jsonl and test.jsonl")
    if not Path(args.lmqg_dir).is_dir():
        raise UserError(f"{args.lmqg_dir}: no such folder; pass `lmqg_dir`, a folder of lmqg's processed JSONL")
    splits, skipped, sources, notes = {}, {}, {}, Counter()
    for ours, theirs in LMQG_SPLITS.items():
        files = split_files(args.lmqg_dir, theirs)
        if not files:
            raise UserError(f"{args.lmqg_dir}: no {theirs}.jsonl (nor {theirs}00.jsonl ...) here or in data/processed; "
                            "lmqg's split is kept as is, so all three files are needed")
        splits[ours], skipped[ours] = [], Counter()
        for path in files:
            records, counts = load(path, args.sep, notes)
            splits[ours] += records
            skipped[ours] += counts
        sources[ours] = ", ".join(str(p) for p in files)
    for note, n in notes.items():
        print(f"lmqg: {n} question(s): {note}", file=sys.stderr)
    return splits, skipped, sources
