"""JSQuAD (SQuAD v1.1 JSON): validate, normalize and flatten into one Record per answerable question.

data[].{title, paragraphs[].{context, qas[].{id, question, answers[].{text, answer_start}, is_impossible}}}
Contexts are ``title [SEP] body``. Train questions have one answer, valid ones up to three annotations.
Structural problems (malformed JSON, a missing key, a wrong type) stop with ``path: where: what``;
unanswerable or empty questions are skipped and counted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional

from ..core.config import option as arg
from ..core.errors import UserError
from ..core.io import read_json
from ..core.normalize import DEFAULT_SEP, normalize
from .prepare import CommonArgs
from .records import Record, group_paragraphs, split_by_group

DEFAULT_DIR = "jsquad"  # download.sh unpacks train-v1.3.json / valid-v1.3.json here

_VERSION_RE = re.compile(r"-v(\d+(?:\.\d+)*)\.json$")


def _get(obj, key: str, kind: type, path, where: str):
    if not isinstance(obj, dict):
        raise UserError(f"{path}: {where}: expected a JSON object, found {type(obj).__name__}; "
                        "is this a SQuAD v1.1-style file?")
    if key not in obj:
        raise UserError(f"{path}: {where}: missing key {key!r}; is this a SQuAD v1.1-style file?")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UserError(f"{path}: {where}.{key}: expected {kind.__name__}, found {type(value).__name__}")
    return value


def load(path: str | Path, sep: str = DEFAULT_SEP) -> tuple[list[Record], Counter]:
    """Records for every answerable question, and skip counts by reason."""
    doc = read_json(path)
    records: list[Record] = []
    skipped: Counter = Counter()
    for a, article in enumerate(_get(doc, "data", list, path, "top level")):
        where = f"data[{a}]"
        group = article.get("title") if isinstance(article, dict) else None
        group = group if isinstance(group, str) and group else where
        for p, paragraph in enumerate(_get(article, "paragraphs", list, path, where)):
            pwhere = f"{where}.paragraphs[{p}]"
            raw_context = _get(paragraph, "context", str, path, pwhere)
            context = normalize(raw_context, sep)
            for q, qa in enumerate(_get(paragraph, "qas", list, path, pwhere)):
                qwhere = f"{pwhere}.qas[{q}]"
                qid = _get(qa, "id", str, path, qwhere)
                question = normalize(_get(qa, "question", str, path, qwhere))
                answers = _get(qa, "answers", list, path, qwhere)
                spans = [(_get(ans, "text", str, path, f"{qwhere}.answers[{i}]"),
                          _get(ans, "answer_start", int, path, f"{qwhere}.answers[{i}]"))
                         for i, ans in enumerate(answers)]
                if qa.get("is_impossible", False):
                    skipped["is_impossible"] += 1
                    continue
                normalized = [normalize(s) for s, _ in spans]
                texts = list(dict.fromkeys(t for t in normalized if t))
                if not texts:
                    skipped["no answer"] += 1
                elif not question:
                    skipped["empty question"] += 1
                elif not context:
                    skipped["empty context"] += 1
                else:
                    raw_start = spans[normalized.index(texts[0])][1]
                    records.append(Record(qid, question, texts, context, group, raw_context, raw_start,
                                          tuple(t for t, _ in spans)))
    return records, skipped


class Paragraph(NamedTuple):
    """One paragraph of a JSQuAD file with its answerable questions (normalized)."""
    id: str  # jaqg.data.prepare.paragraph_key of its first question: a123p0q0 -> a123p0
    context: str  # title [SEP] body
    title: str  # the context before the separator ("" without one)
    body: str  # the context after the separator
    qas: list[tuple[str, list[str]]]  # (question, annotated answers)


def load_paragraphs(path: str | Path, sep: str = DEFAULT_SEP) -> list[Paragraph]:
    """The paragraphs of a JSQuAD (SQuAD v1.1) file that hold answerable questions, in file order."""
    records, _ = load(path, sep)
    paragraphs = []
    for pid, members in group_paragraphs(records).items():
        context = members[0].context
        sep_at = context.find(sep)
        title, body = (context[:sep_at].strip(), context[sep_at + len(sep):].strip()) if sep_at >= 0 else ("", context)
        paragraphs.append(Paragraph(pid, context, title, body, [(r.question, r.answers) for r in members]))
    return paragraphs


def find_files(jsquad_dir: str | Path) -> tuple[Path, Path]:
    """The newest ``train-v*.json`` and ``valid-v*.json`` in a folder (as download.sh leaves them)."""
    folder = Path(jsquad_dir)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; run `bash download.sh` first, or pass `jsquad_dir` DIR "
                        "(or `train_file` and `valid_file`)")

    def newest(prefix: str) -> Path:
        found = [f for f in folder.glob(f"{prefix}-v*.json") if _VERSION_RE.search(f.name)]
        if not found:
            raise UserError(f"{folder}: no {prefix}-v*.json here; run `bash download.sh` or pass --{prefix}_file")
        return max(found, key=lambda f: tuple(int(x) for x in _VERSION_RE.search(f.name).group(1).split(".")))

    return newest("train"), newest("valid")


@dataclass
class JsquadArgs(CommonArgs):
    jsquad_dir: str = arg(DEFAULT_DIR, help="folder with train-v*.json and valid-v*.json (where download.sh puts them)")
    train_file: Optional[str] = arg(None, help="JSQuAD train JSON (overrides --jsquad_dir): split into train/dev")
    valid_file: Optional[str] = arg(None, help="JSQuAD valid JSON (overrides --jsquad_dir): becomes test")


def load_splits(args: JsquadArgs) -> tuple[dict[str, list[Record]], dict[str, Counter], dict[str, str]]:
    """train -> train/dev by article (seeded), official valid -> test; with skip counts and source paths."""
    train_file, valid_file = args.train_file, args.valid_file
    if train_file is None or valid_file is None:
        found_train, found_valid = find_files(args.jsquad_dir)
        train_file, valid_file = train_file or found_train, valid_file or found_valid
    train, train_skipped = load(train_file, args.sep)
    test, test_skipped = load(valid_file, args.sep)
    train, dev = split_by_group(train, args.dev_ratio, args.seed)
    # Skips while loading train are not attributable to train or dev after the split; report them under train.
    return ({"train": train, "dev": dev, "test": test}, {"train": train_skipped, "test": test_skipped},
            {"train": str(train_file), "test": str(valid_file)})
