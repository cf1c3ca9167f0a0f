"""Reading and writing the project's files: validated TSV in, atomic writes out.

Data TSV: ``{id}\t{input}\t{target}``, UTF-8, no header, no empty field.
Predictions TSV: ``{id}\t{prediction}[\t...extra]``.
Every writer goes through ``atomic_write`` (temp file + rename), so an interrupted run never
leaves a truncated file where a good one (or none) was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

from .errors import UserError

# A TSV field may not be empty: an empty generation is written as this, and read back as nothing.
EMPTY_PREDICTION = "<empty>"


def prediction_text(field: str) -> str:
    """The generated text a predictions-TSV field stands for: ``""`` for EMPTY_PREDICTION, else the field."""
    return "" if field == EMPTY_PREDICTION else field


def prediction_field(text: str) -> str:
    """A generated text as a predictions-TSV field: EMPTY_PREDICTION for ``""`` (the inverse of prediction_text)."""
    return text or EMPTY_PREDICTION


class Example(NamedTuple):
    id: str
    input: str
    target: str


def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield (line number, line without its newline) of a UTF-8 text file; UserError if missing or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path (a data dir holds train.tsv, dev.tsv, test.tsv)")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for lineno, line in enumerate(f, 1):
                yield lineno, line.rstrip("\n").rstrip("\r")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); re-save it as UTF-8") from None


def read_jsonl(path: str | os.PathLike, expected: str) -> Iterator[tuple[int, object]]:
    """Yield (line number, parsed JSON) of each non-blank line; UserError naming the line if one is not JSON.
    ``expected`` says what a line should hold (e.g. ``write one {"id": ..., "text": ...} per line``)."""
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: not a JSON object ({e.msg}); {expected}") from None


def read_rows(path: str | os.PathLike, min_fields: int, max_fields: int | None = None,
              what: str = "row") -> list[list[str]]:
    """Read a headerless TSV, checking every line has min..max non-empty fields."""
    rows = []
    for lineno, line in read_lines(path):
        fields = line.split("\t")
        if len(fields) < min_fields or (max_fields is not None and len(fields) > max_fields):
            want = f"{min_fields}" if max_fields == min_fields else f"at least {min_fields}"
            raise UserError(f"{path}:{lineno}: expected {want} tab-separated fields ({what}), found {len(fields)}; "
                            "fix or remove this line")
        for i, field in enumerate(fields[:min_fields]):
            if not field.strip():
                raise UserError(f"{path}:{lineno}: field {i + 1} is empty ({what}); fix or remove this line")
        rows.append(fields)
    return rows


def read_examples(path: str | os.PathLike) -> list[Example]:
    """Read a data TSV ``id\tinput\ttarget``; raise UserError naming path:line on any bad line."""
    rows = read_rows(path, 3, 3, what="id, input, target")
    _check_unique_ids(path, [r[0] for r in rows])
    return [Example(*r) for r in rows]


def read_predictions(path: str | os.PathLike) -> list[list[str]]:
    """Read ``id\tprediction[\textra...]`` rows. Raises on an empty file."""
    rows = read_rows(path, 2, None, what="id, prediction")
    if not rows:
        raise UserError(f"{path}: the predictions file is empty; run predict.py (or train.py `do_eval`) first")
    return rows


def _check_unique_ids(path, ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for lineno, id_ in enumerate(ids, 1):
        if id_ in seen:
            raise UserError(f"{path}:{lineno}: duplicate id {id_!r}; ids must be unique within a file")
        seen.add(id_)


def check_field(value: str, what: str) -> str:
    """A TSV field may hold neither tab nor newline, and may not be empty."""
    if not value or "\t" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{what} {value!r} is empty or holds a tab/newline; normalize it first")
    return value


_UMASK = os.umask(0)
os.umask(_UMASK)
# The mode a plain open() would give a new file; temp files (mkstemp, mkdtemp) are private (0600).
FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Write to a temp file beside ``path`` and rename it into place only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None,
                       **({"newline": ""} if "b" not in mode else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a staging folder; move its files into ``path`` only when the block succeeds.

    Nothing (not even an empty ``path``) is created when the block fails, so a bad run leaves no partial data dir.
    """
    path = Path(path)
    anchor = path.parent
    while not anchor.exists():  # stage on the same filesystem without creating missing parents yet
        anchor = anchor.parent
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=anchor))
    try:
        yield staging
        path.mkdir(parents=True, exist_ok=True)
        for f in sorted(staging.iterdir()):
            os.replace(f, path / f.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def replacing_dir(path: str | os.PathLike):
    """Yield a staging folder beside ``path``; when the block succeeds it replaces ``path`` whole (an earlier
    model's files go with it), otherwise nothing changes. For model dirs, where a stale file would be read."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield staging
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_rows(path: str | os.PathLike, rows: Iterable[Sequence[str]]) -> int:
    """Write TSV rows atomically; returns how many were written."""
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            for field in row:
                check_field(field, "TSV field")
            f.write("\t".join(row) + "\n")
            n += 1
    return n


def write_examples(path: str | os.PathLike, examples: Iterable[Example]) -> int:
    return write_rows(path, ([e.id, e.input, e.target] for e in examples))


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def read_json(path: str | os.PathLike):
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed JSON ({e.msg}); check the file is complete") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason}); re-save it as UTF-8") from None


def read_run_config(model_dir: str) -> dict:
    """The training run's config saved beside a model (empty for hub models and bare model dirs)."""
    path = Path(model_dir) / "run_config.json"
    return read_json(path) if path.is_file() else {}
