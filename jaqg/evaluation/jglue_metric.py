"""JGLUE's official JSQuAD metric: exact match and character F1, on the raw strings, 0-100.

Source: the JGLUE repository (github.com/yahoojapan/JGLUE, ``fine-tuning/patch/transformers-4.*_jglue-1.1.0.patch``)
patches transformers' ``src/transformers/data/metrics/squad_metrics.py``; its leaderboard and papers report what
that code computes, which this module reproduces step for step:

- ``normalize_answer(s)``: lower-case (``str.lower``), remove punctuation -> patched to do nothing, remove articles
  -> patched to ``rstrip("。")`` (every trailing 。, before whitespace is fixed, so ``"東京。 "`` keeps its 。),
  then ``" ".join(s.split())``. No NFKC: full-width digits and half-width digits differ.
- ``compute_exact``: the normalized strings are equal.
- ``compute_f1``: SQuAD's F1 over the *characters* of the normalized strings (spaces count); if either is empty,
  1 when both are, else 0.
- ``get_raw_scores``: gold answers whose normalized text is empty are dropped (none left: ``[""]``); each score is
  the max over the gold answers; ``squad_evaluate`` averages over questions and scales by 100.

This differs from :mod:`jaqg.evaluation.metrics`' ``exact_match`` / ``char_f1`` (NFKC + neologdn, whitespace dropped);
report
this one beside JGLUE's numbers, and score it against the official JSQuAD file (``--references_json``) or the raw
gold answers a prepared QA data dir keeps (``test_references_raw.json``).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence


def normalize_answer(s: str) -> str:
    """JGLUE's patched ``normalize_answer``: lower, strip trailing 。, squeeze whitespace (nothing else)."""
    return " ".join(s.lower().rstrip("。").split())


def compute_exact(gold: str, prediction: str) -> int:
    """1 if the two texts are equal after ``normalize_answer``, else 0 (squad_metrics' ``compute_exact``, patched)."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def multiset_f1(prediction: Sequence[str], reference: Sequence[str]) -> float:
    """SQuAD's F1 (transformers' ``squad_metrics.compute_f1``) over two token sequences taken as multisets, 0-1;
    two empty sequences score 1, one empty sequence 0."""
    if not prediction or not reference:
        return float(len(prediction) == len(reference))
    same = sum((Counter(prediction) & Counter(reference)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction), same / len(reference)
    return 2 * precision * recall / (precision + recall)


def compute_f1(gold: str, prediction: str) -> float:
    """F1 (0-1) over the characters of the two texts after ``normalize_answer``, spaces included
    (JGLUE's patched ``compute_f1``: squad_metrics' token F1 with characters as the tokens)."""
    return multiset_f1(list(normalize_answer(prediction)), list(normalize_answer(gold)))


def gold_answers(answers: Sequence[str]) -> list[str]:
    """The golds JGLUE scores against: those non-empty once normalized, or ``[""]`` when none is."""
    return [a for a in answers if normalize_answer(a)] or [""]


def jglue_scores(prediction: str, answers: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction, each the max over the gold answers, 0-100."""
    golds = gold_answers(answers)
    return (100.0 * max(compute_exact(g, prediction) for g in golds),
            100.0 * max(compute_f1(g, prediction) for g in golds))


def jglue_squad_metric(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """``{"exact_match", "f1"}`` (0-100) of predictions against their gold answer lists, as JGLUE reports them."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if not predictions:
        raise ValueError("no predictions to score")
    scores = [jglue_scores(p, refs) for p, refs in zip(predictions, references)]
    return {"exact_match": sum(s[0] for s in scores) / len(scores), "f1": sum(s[1] for s in scores) / len(scores)}
