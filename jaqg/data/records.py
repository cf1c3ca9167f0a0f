"""One question as every source loads it (``Record``), and the paragraph / split grouping all tasks share."""

from __future__ import annotations

import math
import random
import re
from typing import NamedTuple

from ..core.normalize import normalize_offset


class Record(NamedTuple):
    """One question, normalized: what every task needs."""
    id: str
    question: str
    answers: list[str]  # distinct normalized answers; the first is the target / the one highlighted
    context: str
    group: str  # split unit: article title or passage
    raw_context: str | None = None  # for carrying answer_start through normalization
    raw_start: int | None = None
    raw_answers: tuple[str, ...] | None = None  # every annotated answer as written (JGLUE's metric scores these)

    def answer_start(self, sep: str) -> int | None:
        """answers[0]'s annotated position in the normalized context (None when not annotated)."""
        if self.raw_start is None or self.raw_context is None:
            return None
        return normalize_offset(self.raw_context, self.raw_start, sep)


def paragraph_key(question_id: str) -> str:
    """A paragraph's id from its first question's: JSQuAD ``a123p0q4`` -> ``a123p0``; otherwise ``{id}-p``."""
    m = re.fullmatch(r"(.+?)q\d+", question_id)
    return m.group(1) if m else f"{question_id}-p"


def group_paragraphs(records: list[Record]) -> dict[str, list[Record]]:
    """Records grouped into paragraphs (same group and context), in order, keyed by ``paragraph_key``."""
    by_context: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        by_context.setdefault((record.group, record.context), []).append(record)
    out: dict[str, list[Record]] = {}
    for members in by_context.values():
        key = paragraph_key(members[0].id)
        out[key if key not in out else f"{key}-{len(out)}"] = members  # ids that do not follow JSQuAD's pattern
    return out


def split_by_group(records: list[Record], ratio: float, seed: int) -> tuple[list[Record], list[Record]]:
    """(kept, held_out): about ``ratio`` of the groups, chosen by seed, go to held_out; order is preserved."""
    groups = sorted({r.group for r in records})
    random.Random(seed).shuffle(groups)
    n_held = min(len(groups) - 1, max(1, math.ceil(len(groups) * ratio))) if len(groups) > 1 else 0
    held = set(groups[:n_held])
    return [r for r in records if r.group not in held], [r for r in records if r.group in held]
