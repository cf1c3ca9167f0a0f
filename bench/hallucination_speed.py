"""Hallucination check throughput: the default path vs the seed's one-nlp()-call-per-text, in the same run.

    .venv/bin/python bench/hallucination_speed.py [--n 1000] [--n_baseline 100]

Data: generated here (invented places and facts), contexts of ~250 characters and question-like candidates,
about half of which add a word the context does not hold; then the same candidates with 建てた -> 建てる, whose
sources must be analysed for lemmas (the cost of matching verbs by lemma). Target: default path >= 100 examples/s.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaqg.cli.args import arg, parse_args  # noqa: E402
from jaqg.evaluation.hallucination import CONTENT_UPOS, find_hallucinations  # noqa: E402
from jaqg.tokenization.word import ginza_tokenizer_only  # noqa: E402

TARGET = 100.0
PLACES = ["北原町", "霞ヶ浦市", "青葉村", "白砂港", "緑川町", "星見台"]
THINGS = ["風車", "図書館", "灯台", "水車小屋", "博物館", "石橋"]
YEARS = ["1887年", "1921年", "1956年", "1973年", "2004年"]
PEOPLE = ["森田健一", "佐伯花子", "大野光", "川端みどり"]
EXTRA = ["有名な", "古い", "大きな", "最初の", "美しい"]


def make_examples(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    candidates, sources = [], []
    for _ in range(n):
        place, thing, year, person = rng.choice(PLACES), rng.choice(THINGS), rng.choice(YEARS), rng.choice(PEOPLE)
        other = rng.choice([p for p in PLACES if p != place])
        sources.append(f"{place}は海沿いの小さな町である。{year}に{person}が{thing}を建てた。"
                       f"{thing}は町の人々に長く親しまれ、毎年秋には祭りが開かれる。{other}からも多くの人が訪れる。"
                       f"近年は観光客が増え、{place}の名物として知られるようになった。町には駅が一つあり、"
                       f"{thing}までは歩いて十分ほどである。")
        extra = rng.choice(EXTRA) if rng.random() < 0.5 else ""
        candidates.append(rng.choice([f"{place}の{extra}{thing}を建てたのは誰ですか?",
                                      f"{person}が{extra}{thing}を建てたのは何年ですか?",
                                      f"{extra}{thing}があるのはどこですか?"]))
    return candidates, sources


def seed_baseline(candidates, sources, nlp):
    """The seed's way: one full-pipeline nlp() call per text, token-set difference (content words kept)."""
    out = []
    for c, s in zip(candidates, sources):
        doc_c, doc_s = nlp(c), nlp(s)
        out.append({t.text for t in doc_c if t.pos_ in CONTENT_UPOS} - {t.text for t in doc_s})
    return out


@dataclass
class BenchArgs:
    n: int = arg(1000, help="examples for the default path")
    n_baseline: int = arg(100, help="examples for the slow baseline")


def main():
    args = parse_args(BenchArgs)
    import spacy
    candidates, sources = make_examples(args.n)
    t = time.perf_counter()
    ginza_tokenizer_only()
    load_fast = time.perf_counter() - t
    t = time.perf_counter()
    found = find_hallucinations(candidates, sources)
    fast = args.n / (time.perf_counter() - t)
    # Lemma matching analyses a source only when a verb/adjective of its candidate is not found by surface:
    # 建てる against a source's 建てた sends 2 of 3 candidates' sources to GiNZA (the worst realistic case here).
    inflected = [c.replace("建てた", "建てる") for c in candidates]
    t = time.perf_counter()
    found_inflected = find_hallucinations(inflected, sources)
    lemma = args.n / (time.perf_counter() - t)
    assert all("建てる" not in f for f in found_inflected)
    t = time.perf_counter()
    nlp = spacy.load("ja_ginza")
    load_full = time.perf_counter() - t
    t = time.perf_counter()
    seed_baseline(candidates[:args.n_baseline], sources[:args.n_baseline], nlp)
    slow = args.n_baseline / (time.perf_counter() - t)
    t = time.perf_counter()
    list(nlp.pipe(candidates[:args.n_baseline], batch_size=256))
    piped = args.n_baseline / (time.perf_counter() - t)
    rate = sum(1 for f in found if f) / len(found)
    print("| path | examples | load s | examples/s |\n|---|---:|---:|---:|\n"
          f"| default (GiNZA tokenizer-only, batched, candidate only) | {args.n} | {load_fast:.1f} | {fast:.0f} |\n"
          f"| default, candidates' verbs inflected (2/3 of sources analysed for lemmas) | {args.n} | - "
          f"| {lemma:.0f} |\n"
          f"| full GiNZA nlp.pipe, candidate only (parse alone) | {args.n_baseline} | - | {piped:.0f} |\n"
          f"| seed (full GiNZA nlp() per text, candidate + source) | {args.n_baseline} | {load_full:.1f} "
          f"| {slow:.1f} |")
    print(f"\nspeed-up {fast / slow:.0f}x; hallucination rate on this data {rate:.2f}; "
          f"target >= {TARGET:.0f}/s: {'PASS' if fast >= TARGET else 'FAIL'}")
    return 0 if fast >= TARGET else 1


if __name__ == "__main__":
    from jaqg.cli.args import run_cli
    run_cli(main)
