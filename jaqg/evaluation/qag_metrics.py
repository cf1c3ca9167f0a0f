"""Scoring generated question-answer pairs against gold pairs, per paragraph (score_qag.py).

QA-aligned F1 as lmqg defines it (Ushio et al., "An Empirical Comparison of LM-based Question and Answer
Generation Methods", Findings of ACL 2023; lmqg/automatic_evaluation_tool/qa_aligned_f1_score.py): for one
paragraph with generated pairs H (duplicates removed) and gold pairs R, and a similarity s(h, r) of two pairs,

    precision = mean over h in H of max over r in R of s(h, r)
    recall    = mean over r in R of max over h in H of s(h, r)
    f1        = 2 * precision * recall / (precision + recall)      (0 when H is empty)

and the corpus score is the mean over paragraphs (a paragraph without generated pairs scores 0). lmqg's s is
BERTScore or MoverScore of ``question: q, answer: a`` strings, which needs a hub model; here s is by default the
char F1 (jaqg.evaluation.metrics.char_f1) of ``q + " " + a`` (whitespace is ignored by char F1, so this is question and
answer
characters together), or, as lmqg, BERTScore PRECISION of the generated pair's string against the gold one's (lmqg's
QAAlignedF1Score calls its BERTScore class, whose get_score returns bert_score.score(...)[0], the precision; the
bert-score package, Zhang et al. 2020; no idf, no baseline rescaling) of lmqg's strings with a local encoder model
dir (``bertscore_table``). Answer recall: the share of a paragraph's gold
answers (distinct, any annotation counts)
that some generated answer equals after normalization, averaged over paragraphs. All scores 0-100.
"""

from __future__ import annotations

from statistics import mean
from typing import Callable, Sequence

from ..core.errors import UserError
from ..core.normalize import match_key, normalize
from .metrics import char_f1

Pair = tuple[str, str]  # (question, answer)


def pair_char_f1(h: Pair, r: Pair) -> float:
    """char F1 (0-1) of question and answer together."""
    return char_f1(f"{h[0]} {h[1]}", f"{r[0]} {r[1]}")


def normalized_pairs(pairs: Sequence[Pair]) -> list[Pair]:
    """Each (question, answer) normalized (jaqg.core.normalize), duplicates dropped, order kept: the pairs
    ``qa_aligned_f1`` compares (and ``bertscore_table`` is keyed by)."""
    return list(dict.fromkeys((normalize(q), normalize(a)) for q, a in pairs))


def gold_pairs(qas: Sequence[tuple[str, Sequence[str]]]) -> list[Pair]:
    """A paragraph's gold (question, answer) pairs from (question, [annotated answers]): the first annotation."""
    return [(q, answers[0]) for q, answers in qas]


def qa_aligned_f1(generated: Sequence[Pair], gold: Sequence[Pair],
                  similarity: Callable[[Pair, Pair], float] = pair_char_f1) -> dict[str, float]:
    """{precision, recall, f1} (0-1) of one paragraph, lmqg's definition (see the module docstring)."""
    hyps, refs = normalized_pairs(generated), normalized_pairs(gold)
    if not hyps or not refs:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    scores = [[similarity(h, r) for r in refs] for h in hyps]
    precision = mean(max(row) for row in scores)
    recall = mean(max(scores[i][j] for i in range(len(hyps))) for j in range(len(refs)))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def answer_recall(generated_answers: Sequence[str], gold_answers: Sequence[Sequence[str]]) -> float:
    """Share (0-1) of gold questions whose answer (any of its annotations) some generated answer equals."""
    made = {match_key(a) for a in generated_answers}
    if not gold_answers:
        return 0.0
    # float(): the mean of bools is an int (0 printed as a bare 0)
    return float(mean(any(match_key(a) in made for a in answers) for answers in gold_answers))


def score_paragraphs(generated: dict[str, list[Pair]], gold: dict[str, list[tuple[str, list[str]]]],
                     similarity: Callable[[Pair, Pair], float] = pair_char_f1) -> tuple[dict, dict[str, dict]]:
    """Corpus scores (0-100) over the gold paragraphs, and per-paragraph scores (0-1).

    ``generated``: paragraph id -> generated (question, answer) pairs (absent: none). ``gold``: paragraph id ->
    (question, [annotated answers]); the first annotation is the pair's answer. Returns ({n_paragraphs,
    n_generated, n_gold, qa_aligned_precision, qa_aligned_recall, qa_aligned_f1, answer_recall}, {id: {...}})."""
    per = {}
    for pid, qas in gold.items():
        pairs = generated.get(pid, [])
        scores = qa_aligned_f1(pairs, gold_pairs(qas), similarity)
        scores["answer_recall"] = answer_recall([a for _, a in pairs], [answers for _, answers in qas])
        scores["n_generated"] = len(pairs)
        per[pid] = scores
    corpus = {"n_paragraphs": len(per), "n_generated": sum(s["n_generated"] for s in per.values()),
              "n_gold": sum(len(qas) for qas in gold.values())}
    for key in ("precision", "recall", "f1"):
        corpus[f"qa_aligned_{key}"] = 100 * mean(s[key] for s in per.values()) if per else 0.0
    corpus["answer_recall"] = 100 * mean(s["answer_recall"] for s in per.values()) if per else 0.0
    return corpus, per


def paragraph_pairs(generated: dict[str, list[Pair]], gold: dict[str, list[tuple[str, list[str]]]]
                    ) -> set[tuple[Pair, Pair]]:
    """Every (generated, gold) pair of normalized pairs that qa_aligned_f1 compares, over all paragraphs."""
    out = set()
    for pid, qas in gold.items():
        hyps, refs = normalized_pairs(generated.get(pid, [])), normalized_pairs(gold_pairs(qas))
        out.update((h, r) for h in hyps for r in refs)
    return out


def bertscore_table(model_dir: str, pairs: set[tuple[Pair, Pair]], num_layers: int | None = None,
                    batch_size: int = 64) -> dict[tuple[Pair, Pair], float]:
    """BERTScore precision (0-1; lmqg's choice, see the module docstring) of lmqg's ``question: q, answer: a``
    strings for each (generated, gold) pair, in one batched bert-score call. ``model_dir``: a local encoder
    (BERT-style) dir; ``num_layers``: the layer whose embeddings are compared (default: its last)."""
    import bert_score
    from transformers import AutoConfig
    try:
        config = AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise UserError(f"{model_dir}: not a model dir for BERTScore ({str(e).strip().splitlines()[0]}); pass a "
                        "local BERT-style encoder dir") from None
    layers = num_layers or getattr(config, "num_hidden_layers", None)
    ordered = sorted(pairs)
    if not ordered:
        return {}
    text = lambda p: f"question: {p[0]}, answer: {p[1]}"  # noqa: E731  lmqg's format
    try:
        precision, _, _ = bert_score.score([text(h) for h, _ in ordered], [text(r) for _, r in ordered],
                                           model_type=model_dir, num_layers=layers, batch_size=batch_size)
    except (ValueError, AssertionError, KeyError) as e:
        raise UserError(f"{model_dir}: bert-score cannot use this model ({e}); pass a BERT-style encoder dir "
                        "and `bertscore_layers`") from None
    return {pair: float(v) for pair, v in zip(ordered, precision)}
