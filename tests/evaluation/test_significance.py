"""jaqg.evaluation.significance: the paired bootstrap is sacrebleu's (same resamples, same p-value), CIs and means."""

import random

import numpy as np
import pytest
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

from jaqg.evaluation.significance import PairedMetric, compare, format_comparison, resample_indices

WORDS = "a b c d e f g h i j k l".split()


def systems(n=80, seed=0):
    rng = random.Random(seed)
    refs = [" ".join(rng.choices(WORDS, k=9)) for _ in range(n)]
    a = [" ".join(r.split()[:5] + rng.choices(WORDS, k=4)) for r in refs]
    b = [" ".join(r.split()[:5] + rng.choices(WORDS, k=4)) for r in refs]  # as good as a on average
    return refs, a, b


@pytest.mark.parametrize("seed", [0, 1])
def test_bleu_p_value_equals_sacrebleus_paired_bootstrap(seed, monkeypatch):
    refs, a, b = systems(seed=seed)
    ours = compare({"bleu": PairedMetric.bleu(a, b, [refs])}, len(refs), samples=300, seed=12345)["bleu"]
    monkeypatch.setenv("SACREBLEU_SEED", "12345")
    _, scores = PairedTest([("b", b), ("a", a)], {"BLEU": BLEU(tokenize="none")}, [refs], test_type="bs",
                           n_samples=300)()
    baseline, system = scores["BLEU"]
    assert ours["a"] == pytest.approx(system.score) and ours["b"] == pytest.approx(baseline.score)
    assert ours["p_value"] == pytest.approx(system.p_value)
    assert 0.05 < ours["p_value"] < 1  # close systems: not significant, and the p-value is not a constant


def test_mean_metric_ci_brackets_the_difference_and_a_clear_win_is_significant():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(50, 100, 200), rng.uniform(0, 50, 200)
    c = compare({"em": PairedMetric.mean(a, b)}, 200, samples=500, seed=1)["em"]
    assert c["a"] == pytest.approx(a.mean()) and c["difference"] == pytest.approx(a.mean() - b.mean())
    assert c["ci95"][0] < c["difference"] < c["ci95"][1] and c["ci95"][0] > 0
    assert c["p_value"] == pytest.approx(1 / 501)  # no resample reaches the observed difference
    indices = resample_indices(200, 500, 1)
    diffs = a[indices].mean(1) - b[indices].mean(1)
    assert c["ci95"] == pytest.approx(list(np.percentile(diffs, [2.5, 97.5])))
    assert "| em | " in format_comparison({"em": c})


def test_same_seed_same_result_other_seed_other_resamples():
    refs, a, b = systems()
    metric = {"bleu": PairedMetric.bleu(a, b, [refs])}
    assert compare(metric, len(refs), 200, 7) == compare(metric, len(refs), 200, 7)
    assert compare(metric, len(refs), 200, 7)["bleu"]["ci95"] != compare(metric, len(refs), 200, 8)["bleu"]["ci95"]


def test_identical_scores_on_every_example_give_p_one():
    """A system against itself (or one scoring the same on every example) is no difference: p = 1.0, not
    sacrebleu's minimum 1/(n+1), which read as 'significant at p < 0.001'."""
    refs, a, b = systems()
    em = np.array([100.0, 0.0] * 40)
    c = compare({"bleu": PairedMetric.bleu(a, a, [refs]), "em": PairedMetric.mean(em, em.copy())}, len(refs), 200)
    assert c["bleu"]["p_value"] == c["em"]["p_value"] == 1.0
    assert c["em"]["difference"] == 0.0 and c["em"]["ci95"] == [0.0, 0.0]
    # The same mean from different examples is still the centred test's p-value, not 1.
    swapped = compare({"em": PairedMetric.mean(em, em[::-1].copy())}, len(refs), 200)["em"]
    assert swapped["difference"] == 0.0 and 0.05 < swapped["p_value"] < 1.0
