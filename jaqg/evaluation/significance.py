"""Paired bootstrap resampling of two systems scored on the same examples (Koehn 2004, "Statistical Significance
Tests for Machine Translation Evaluation"), as sacrebleu's paired bootstrap test (``sacrebleu.significance``,
``--paired-bs``) does it:

- one matrix of resampled example indices, ``numpy.random.default_rng(seed).choice(n, (samples, n))``, shared by
  every metric (sacrebleu draws the same with the same seed, default 12345);
- each metric is recomputed on each resample from per-example sufficient statistics: BLEU from sacrebleu's own
  statistics (``BLEU._extract_corpus_statistics`` / ``_compute_score_from_stats``, so a resample's BLEU is exactly
  sacrebleu's corpus BLEU of it); averaged metrics (EM, char F1, JGLUE EM/F1, sentence-averaged ROUGE) from
  their per-example values;
- ``p_value``: sacrebleu's ``_compute_p_value`` (two-sided: how often the resampled absolute difference, shifted
  to mean zero, exceeds the observed one; (c + 1) / (samples + 1));
- ``ci95``: the 2.5th and 97.5th percentiles of the resampled difference a - b (percentile bootstrap).
The p-value is kept as sacrebleu computes it so it can be set beside ``sacrebleu --paired-bs`` numbers; it and the
percentile interval are separate estimates and can disagree near 0.05 (the demo's beam 1 vs 4 exact match: p 0.031,
ci95 [-0.33, +5.00]).

``comparison[metric] = {"a", "b", "difference", "ci95": [lo, hi], "p_value"}``, scores 0-100.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..tokenization.word import get_tokenizer
from .metrics import bleu_streams

DEFAULT_SEED = 12345  # sacrebleu's default (SACREBLEU_SEED)
DEFAULT_SAMPLES = 1000
# Under this many examples the resamples take few distinct values and the bootstrap underestimates the spread; Koehn
# (2004) validated it on test sets of 300 sentences and more.
FEW_EXAMPLES = 100

# Summed statistics of shape (samples, k) -> scores of shape (samples,).
ScoreFromSums = Callable[[np.ndarray], np.ndarray]


class PairedMetric:
    """Per-example sufficient statistics of both systems, shape (n, k), and how a corpus score follows from their
    column sums."""

    def __init__(self, stats_a: np.ndarray, stats_b: np.ndarray, score: ScoreFromSums):
        self.stats_a, self.stats_b, self.score = np.asarray(stats_a), np.asarray(stats_b), score

    @classmethod
    def mean(cls, values_a: Sequence[float], values_b: Sequence[float]) -> "PairedMetric":
        """A metric that is the mean of per-example values (EM, F1, sentence-averaged ROUGE)."""
        with_count = lambda v: np.stack([np.asarray(v, dtype=np.float64), np.ones(len(v))], axis=1)  # noqa: E731
        return cls(with_count(values_a), with_count(values_b), lambda sums: sums[:, 0] / sums[:, 1])

    @classmethod
    def bleu(cls, hyps_a: Sequence[str], hyps_b: Sequence[str], streams: Sequence[Sequence[str | None]]
             ) -> "PairedMetric":
        """sacrebleu corpus BLEU over pre-split words (``tokenize="none"``), streams as sacrebleu takes them."""
        from sacrebleu.metrics import BLEU
        bleu = BLEU(tokenize="none")
        stats_a = np.array(bleu._extract_corpus_statistics(list(hyps_a), streams), dtype=np.float64)
        stats_b = np.array(bleu._extract_corpus_statistics(list(hyps_b), streams), dtype=np.float64)
        return cls(stats_a, stats_b,
                   lambda sums: np.array([bleu._compute_score_from_stats(list(s)).score for s in sums]))


def setup_line(n: int, samples: int, seed: int) -> str:
    """How a comparison was made, for its table: examples, resamples, the smallest p-value they can give, and a
    warning when ``n`` is under ``FEW_EXAMPLES``."""
    line = f"paired bootstrap over {n} examples, {samples} samples, seed {seed} (smallest p: {1 / (samples + 1):.4f})"
    if n < FEW_EXAMPLES:
        line += (f"; warning: {n} examples are too few for the bootstrap to estimate the spread (under "
                 f"{FEW_EXAMPLES}), read its p-values and intervals as a rough sign only")
    return line


def resample_indices(n: int, samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """(samples, n) example indices drawn with replacement, as sacrebleu's paired bootstrap draws them."""
    return np.random.default_rng(seed).choice(n, size=(samples, n), replace=True)


def paired_bootstrap(metric: PairedMetric, indices: np.ndarray) -> dict:
    """``{"a", "b", "difference", "ci95", "p_value"}`` for one metric over the resamples ``indices``."""
    from sacrebleu.significance import _compute_p_value
    a = float(metric.score(metric.stats_a.sum(0, keepdims=True))[0])
    b = float(metric.score(metric.stats_b.sum(0, keepdims=True))[0])
    sample_a = metric.score(metric.stats_a[indices].sum(1))
    sample_b = metric.score(metric.stats_b[indices].sum(1))
    diffs = sample_a - sample_b
    shifted = np.abs(diffs) - np.abs(diffs).mean()  # the null hypothesis: no difference on average
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    # Systems that score the same on every resample (identical per-example scores, a system against itself) show
    # no evidence of a difference: p = 1. sacrebleu's (count + 1) / (samples + 1) would give its minimum here,
    # 1 / (samples + 1), since no shifted resample is above the observed difference of 0.
    same = a == b and not np.any(diffs)
    return {"a": a, "b": b, "difference": a - b, "ci95": [float(lo), float(hi)],
            "p_value": 1.0 if same else float(_compute_p_value(shifted, abs(a - b)))}


def compare(metrics: dict[str, PairedMetric], n: int, samples: int = DEFAULT_SAMPLES,
            seed: int = DEFAULT_SEED) -> dict[str, dict]:
    """The paired bootstrap of every metric, all on the same resamples."""
    if samples < 1:
        raise ValueError("the number of bootstrap samples must be at least 1")
    indices = resample_indices(n, samples, seed)
    return {name: paired_bootstrap(metric, indices) for name, metric in metrics.items()}


def format_comparison(comparison: dict[str, dict], a_name: str = "A", b_name: str = "B") -> str:
    """Markdown table: metric, A, B, A - B, 95% CI of A - B, p-value."""
    lines = [f"| metric | {a_name} | {b_name} | {a_name} - {b_name} | 95% CI | p-value |",
             "|---|---:|---:|---:|---|---:|"]
    for name, c in comparison.items():
        lines.append(f"| {name} | {c['a']:.2f} | {c['b']:.2f} | {c['difference']:+.2f} | "
                     f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}] | {c['p_value']:.4f} |")
    return "\n".join(lines)


MEAN_METRICS = ("exact_match", "char_f1", "jglue_exact_match", "jglue_f1")
WORD_METRICS = ("bleu", "rouge1", "rouge2", "rougeL")


def metric_names(tokenizers: Sequence[str]) -> list[str]:
    """The metrics ``--compare`` can test: EM, char F1, JGLUE EM / F1, then ``<tokenizer>_<bleu|rouge*>``."""
    return [*MEAN_METRICS, *(f"{t}_{m}" for t in tokenizers for m in WORD_METRICS)]


def compare_systems(per_example_a: Sequence[dict], per_example_b: Sequence[dict], predictions_a: Sequence[str],
                    predictions_b: Sequence[str], references: Sequence[Sequence[str]], tokenizers: Sequence[str],
                    tokenizer_name_or_path: str | None = None, names: Sequence[str] | None = None,
                    samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED) -> dict[str, dict]:
    """``comparison`` of two systems' predictions of the same examples (per-example scores from
    jaqg.evaluation.metrics.score_examples); ``names`` picks metrics (default: all of ``metric_names``). BLEU is
    sacrebleu's corpus BLEU over each tokenizer's words, everything else the mean of per-example scores."""
    names = list(names or metric_names(tokenizers))
    metrics: dict[str, PairedMetric] = {}
    for name in names:
        tok, _, kind = name.rpartition("_")
        if kind == "bleu" and tok in tokenizers:
            tokenize = get_tokenizer(tok, tokenizer_name_or_path)
            refs = [[tokenize(r) for r in rs] for rs in references]
            hyps_a, streams = bleu_streams([tokenize(p) for p in predictions_a], refs)
            hyps_b, _ = bleu_streams([tokenize(p) for p in predictions_b], refs)
            metrics[name] = PairedMetric.bleu(hyps_a, hyps_b, streams)
        else:
            metrics[name] = PairedMetric.mean([e[name] for e in per_example_a], [e[name] for e in per_example_b])
    return compare(metrics, len(predictions_a), samples, seed)
