"""Quiz data (AI王) for question generation: DPR-style JSON / JSON.gz, or plain JSONL.

- DPR style (a JSON list, or one object a line): {qid?, question, answers[], positive_ctxs[{title, text,
  passage_id | id}], ...}. Context = ``title [SEP] text`` of the first positive passage that contains an
  answer; the answer is the first of ``answers`` found there. Items with none are skipped and counted.
- Plain JSONL: {id, question, answer, context}.
Both may be gzip-compressed (``.gz``). Split unit (``group``): the passage, so no context is in two splits.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.config import option as arg
from ..core.errors import UserError
from ..core.normalize import DEFAULT_SEP, normalize
from .prepare import CommonArgs
from .records import Record, split_by_group

DEFAULT_DIR = Path("quiz")  # download.sh quiz puts the AI王 files here


def _read_items(path: Path) -> list[tuple[int, object]]:
    """(line number, item) for a JSON list or a JSONL file, gzip or not."""
    if not path.is_file():
        raise UserError(f"{path}: no such file; run `bash download.sh quiz` or pass "
                        "`train_file`/`dev_file`/`test_file`")
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")) as f:
            text = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path}: cannot read ({e}); is the file complete?") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason}); re-save it as UTF-8") from None
    if text.lstrip().startswith("["):
        try:
            return [(0, item) for item in json.loads(text)]
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{e.lineno}: malformed JSON ({e.msg}); check the file is complete") from None
    items = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                items.append((lineno, json.loads(line)))
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{lineno}: malformed JSON ({e.msg}); expected a JSON list or one object "
                                "a line (JSONL)") from None
    return items


def _field(item: dict, key: str, kind: type, where: str):
    if key not in item:
        raise UserError(f"{where}: missing key {key!r}; expected DPR-style {{question, answers, positive_ctxs}} "
                        "or {id, question, answer, context}")
    value = item[key]
    if not isinstance(value, kind):
        raise UserError(f"{where}: {key!r} should be {kind.__name__}, found {type(value).__name__}")
    return value


def _dpr_record(item: dict, qid: str, where: str, sep: str, contexts: dict[str, str]) -> Record | str:
    question = normalize(_field(item, "question", str, where))
    answers = [normalize(a) for a in _field(item, "answers", list, where) if isinstance(a, str)]
    answers = list(dict.fromkeys(a for a in answers if a))
    for i, ctx in enumerate(_field(item, "positive_ctxs", list, where)):
        if not isinstance(ctx, dict):
            raise UserError(f"{where}: positive_ctxs[{i}] should be an object")
        title, text = ctx.get("title", ""), _field(ctx, "text", str, f"{where}: positive_ctxs[{i}]")
        raw = f"{title} [SEP] {text}" if title else text
        context = contexts.get(raw)
        if context is None:  # passages recur across questions; normalize each once
            context = contexts[raw] = normalize(raw, sep)
        found = [a for a in answers if a in context]
        if found:
            # The answer found first leads; the rest stay as references.
            ordered = found + [a for a in answers if a not in found]
            group = str(ctx.get("passage_id", ctx.get("id", context)))
            return Record(qid, question, ordered, context, group) if question else "empty question"
    return "no answer" if not answers else "no positive passage contains an answer"


def load(path: str | Path, sep: str = DEFAULT_SEP) -> tuple[list[Record], Counter]:
    path = Path(path)
    records, skipped, contexts = [], Counter(), {}
    for index, (lineno, item) in enumerate(_read_items(path)):
        where = f"{path}:{lineno}" if lineno else f"{path}: item {index}"
        if not isinstance(item, dict):
            raise UserError(f"{where}: expected a JSON object, found {type(item).__name__}")
        qid = str(item.get("qid", item.get("id", f"{path.name.split('.')[0]}-{index}")))
        if "positive_ctxs" in item or "answers" in item:
            record = _dpr_record(item, qid, where, sep, contexts)
        else:
            question = normalize(_field(item, "question", str, where))
            answer = normalize(_field(item, "answer", str, where))
            context = normalize(_field(item, "context", str, where), sep)
            record = ("no answer" if not answer else "empty question" if not question else
                      "answer not in context" if answer not in context else
                      Record(qid, question, [answer], context, context))
        if isinstance(record, str):
            skipped[record] += 1
        else:
            records.append(record)
    return records, skipped


@dataclass
class QuizArgs(CommonArgs):
    train_file: str = arg(str(DEFAULT_DIR / "abc_01-12.json.gz"), help="quiz train data (DPR JSON[.gz] or JSONL)")
    dev_file: Optional[str] = arg(None, help="dev data (default: split off train by --dev_ratio)")
    test_file: Optional[str] = arg(str(DEFAULT_DIR / "aio_01_dev.json.gz"),
                                   help="test data (pass --test_file= with nothing to split it off train)")
    test_ratio: float = arg(0.05, help="share of train passages moved to test when there is no --test_file")


def load_splits(args: QuizArgs) -> tuple[dict[str, list[Record]], dict[str, Counter], dict[str, str]]:
    """Missing dev/test files are split off train by passage (seeded)."""
    if not 0 < args.test_ratio < 1:
        raise UserError(f"`test_ratio` {args.test_ratio}: must be between 0 and 1 (exclusive)")
    files = {"train": args.train_file, "dev": args.dev_file or None, "test": args.test_file or None}
    loaded = {split: load(f, args.sep) for split, f in files.items() if f}
    skipped = {split: counts for split, (_, counts) in loaded.items()}
    splits = {split: records for split, (records, _) in loaded.items()}
    if "test" not in splits:
        splits["train"], splits["test"] = split_by_group(splits["train"], args.test_ratio, args.seed)
    if "dev" not in splits:
        splits["train"], splits["dev"] = split_by_group(splits["train"], args.dev_ratio, args.seed + 1)
    return splits, skipped, {split: str(f) for split, f in files.items() if f}
