"""A side-by-side HTML report of two systems: compare-mt's analysis report (Neubig et al. 2019,
github.com/neulab/compare-mt), run as a library on MeCab-tokenized text.

compare-mt splits on spaces, so every text is first segmented with MeCab + ipadic (sacrebleu's ja-mecab, as
``--tokenizers mecab``). The report holds compare-mt's defaults as its command line has them: aggregate BLEU
(with its own paired bootstrap, 1,000 samples) and length ratio, word accuracy by frequency bucket, sentence
buckets by length, characteristic n-grams of each system, and the sentences where the two differ most by
sentence BLEU; above them, jaqg's paired bootstrap table (metrics.json ``comparison``) and, given the inputs and
per-example scores, ``EXAMPLE_PAIRS`` examples side by side (input, reference, A, B; ``pick_examples`` says which).
Every text is escaped (html.escape), never read as markup. Written atomically:
``DIR/index.html`` (open it in a browser), ``compare_mt.css`` and the figures.
"""

from __future__ import annotations

import contextlib
import html
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..core.errors import UserError
from ..core.io import atomic_dir
from ..tokenization.word import get_tokenizer

# compare-mt's command-line defaults (compare_mt_main.py), spelled out so the report does not depend on them.
REPORTS = [
    ("Aggregate Scores", "generate_score_report", ["score_type=bleu,bootstrap=1000,prob_thresh=0.05",
                                                   "score_type=length"], True),
    ("Word Accuracies", "generate_word_accuracy_report", ["bucket_type=freq"], False),
    ("Sentence Buckets", "generate_sentence_bucketed_report",
     ["bucket_type=length,statistic_type=score,score_measure=sentbleu",
      "bucket_type=lengthdiff",
      "bucket_type=score,score_measure=sentbleu"], True),
    ("Characteristic N-grams", "generate_ngram_report", ["compare_type=match"], False),
    ("Sentence Examples", "generate_sentence_examples", ["score_type=sentbleu"], True),
]


def write_report(report_dir: str | Path, references: Sequence[str], system_a: Sequence[str],
                 system_b: Sequence[str], *, names: tuple[str, str] = ("A", "B"), comparison: dict | None = None,
                 title: str = "jaqg: side-by-side comparison", seed: int = 12345,
                 examples: "Examples | None" = None) -> Path:
    """Write compare-mt's HTML report of two systems against one reference each; returns ``index.html``'s path.
    ``examples``: the inputs, ids and per-example scores for the side-by-side pairs (none without it)."""
    import matplotlib
    matplotlib.use("Agg")  # headless: compare-mt draws its figures with pyplot
    import numpy as np
    from compare_mt import arg_utils, compare_mt_main, reporters, scorers

    tokenize = get_tokenizer("mecab")
    ref = [tokenize(t) for t in references]
    outs = [[tokenize(t) for t in system] for system in (system_a, system_b)]
    np.random.seed(seed)  # compare-mt's bootstrap and n-gram sampling use numpy's global generator
    scorers.global_scorer_scale = 100
    reporters.sys_names = list(names)
    reporters.fig_size = (6, 4.5)
    reports = []
    with contextlib.redirect_stdout(io.StringIO()):  # compare-mt also prints each report as text
        for section, function, profiles, use_src in REPORTS:
            fn = getattr(compare_mt_main, function)
            args = (ref, outs, None) if use_src else (ref, outs)
            reports.append((section, [fn(*args, **arg_utils.parse_profile(p)) for p in profiles]))
    report_dir = Path(report_dir)
    with atomic_dir(report_dir) as staging:
        content = [_comparison_html(comparison, names)] if comparison else []
        if examples is not None:
            content.append(_examples_html(examples, references, system_a, system_b, names, seed))
        with contextlib.redirect_stdout(io.StringIO()):
            for section, items in reports:
                content.append(f"<h2>{section}</h2>")
                if section in SECTION_NOTES:
                    content.append(f"<p>{SECTION_NOTES[section]}</p>")
                content += [r.html_content(str(staging)) for r in items]
        (staging / "index.html").write_text(reporters.styled_html_message(html.escape(title), "\n".join(content)),
                                            encoding="utf-8")
        (staging / "compare_mt.css").write_text(reporters.css_style, encoding="utf-8")
    return report_dir / "index.html"


# Two BLEUs appear on the page; say which is which.
JAQG_NOTE = ("jaqg's scores, as in metrics.json (BLEU: sacrebleu's corpus BLEU per tokenizer); p-value and CI: "
             "jaqg's paired bootstrap (sacrebleu's resamples).")
SECTION_NOTES = {"Aggregate Scores": "compare-mt's own BLEU on MeCab words and its own bootstrap (half-size "
                                     "resamples, 'Win?' p-values): not the same numbers as the table above."}


def _comparison_html(comparison: dict, names: tuple[str, str]) -> str:
    a, b = map(html.escape, names)
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{c['a']:.2f}</td><td>{c['b']:.2f}</td><td>{c['difference']:+.2f}</td>"
        f"<td>[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]</td><td>{c['p_value']:.4f}</td></tr>"
        for m, c in comparison.items())
    return (f"<h2>Paired bootstrap (jaqg)</h2>\n<p>{JAQG_NOTE}</p>\n<table><tr><th>metric</th><th>{a}</th><th>{b}</th>"
            f"<th>{a} - {b}</th><th>95% CI</th><th>p-value</th></tr>{rows}</table>")


EXAMPLE_PAIRS = 20


@dataclass(frozen=True)
class Examples:
    """What the side-by-side pairs show beside the outputs: one id, input and score per example, ``metric`` naming
    the score (e.g. char_f1, 0-100) that picks them."""
    ids: Sequence[str]
    inputs: Sequence[str]
    scores_a: Sequence[float]
    scores_b: Sequence[float]
    metric: str = "char_f1"


def pick_examples(scores_a: Sequence[float], scores_b: Sequence[float], k: int = EXAMPLE_PAIRS,
                  seed: int = 12345) -> list[int]:
    """Indices of ``k`` examples to show, deterministic: up to k/2 where A - B is largest (A better), up to k/2
    where B - A is largest (B better), ties by index; then, where fewer differ, a sample (``random.Random(seed)``) of
    the rest. Returned in input order."""
    diff = [a - b for a, b in zip(scores_a, scores_b)]
    order = sorted(range(len(diff)), key=lambda i: (-diff[i], i))
    a_better = [i for i in order if diff[i] > 0][: k // 2]
    b_better = [i for i in sorted(range(len(diff)), key=lambda i: (diff[i], i)) if diff[i] < 0][: k - k // 2]
    chosen = set(a_better + b_better)
    rest = [i for i in range(len(diff)) if i not in chosen]
    if len(chosen) < k and rest:
        chosen |= set(random.Random(seed).sample(rest, min(k - len(chosen), len(rest))))
    return sorted(chosen)


def _examples_html(examples: Examples, references: Sequence[str], system_a: Sequence[str],
                   system_b: Sequence[str], names: tuple[str, str], seed: int) -> str:
    picked = pick_examples(examples.scores_a, examples.scores_b, seed=seed)
    a, b = map(html.escape, names)
    metric = html.escape(examples.metric)
    rows = "".join(
        f"<tr><td>{html.escape(str(examples.ids[i]))}</td><td>{html.escape(examples.inputs[i])}</td>"
        f"<td>{html.escape(references[i])}</td><td>{html.escape(system_a[i])}</td>"
        f"<td>{html.escape(system_b[i])}</td><td>{examples.scores_a[i]:.1f}</td><td>{examples.scores_b[i]:.1f}</td>"
        f"</tr>" for i in picked)
    return (f"<h2>Example pairs</h2>\n<p>{len(picked)} of {len(references)} examples side by side: those where "
            f"{a} beats {b} most by {metric} and those where {b} beats {a} most (up to half each, ties by input "
            f"order), filled by a seeded sample (seed {seed}) when fewer differ; shown in input order.</p>\n"
            f"<table><tr><th>id</th><th>input</th><th>reference</th><th>{a}</th><th>{b}</th>"
            f"<th>{a} {metric}</th><th>{b} {metric}</th></tr>{rows}</table>")


CHROMIUM = "/usr/bin/chromium"  # Debian's chromium package (make check-report installs it)


def screenshot(index_html: str | Path, png: str | Path, *, width: int = 1200, height: int = 2400,
               chromium: str = CHROMIUM, timeout: float = 120) -> Path:
    """Render a report page in headless Chromium and save a ``width`` x ``height`` PNG; UserError when Chromium
    is missing or fails. Runs offline with a fresh, throw-away profile."""
    import subprocess
    import tempfile

    if not Path(chromium).is_file():
        raise UserError(f"{chromium}: no Chromium here; apt-get install -y chromium (make check-report does)")
    png = Path(png).resolve()
    with tempfile.TemporaryDirectory(prefix="jaqg-chromium-") as profile:
        proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}",
                               f"--screenshot={png}", Path(index_html).resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not png.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{chromium} could not render {index_html} (exit {proc.returncode}: {last})")
    return png
