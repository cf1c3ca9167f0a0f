"""Examples per second of every prepare mode on data of JSQuAD's size, built from the hand-written samples.

    .venv/bin/python bench/prepare_speed.py [--n_train 62697] [--n_valid 4442] [--bodies 3]

Each generated article joins ``--bodies`` paragraph bodies of examples/jsquad (about JSQuAD's context length)
under a numbered title and carries all their questions, with ``answer_start`` at the first occurrence as in
JSQuAD (titles, repeats, full-width and half-width text included). The same questions also go into a DPR-style
quiz file. Every script runs as a user runs it (a subprocess; wall time). Target: AQG-HL with the default
highlight strategy on all of JSQuAD in under 60 s.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jaqg.cli.args import arg, parse_args  # noqa: E402

MODES = {  # name -> (script, flags)
    "qa": ("prepare_jsquad.py", []),
    "aqg": ("prepare_jsquad_aqg.py", []),
    "aqg_hl (related)": ("prepare_jsquad_aqg.py", ["--highlight"]),
    "aqg_hl (annotated)": ("prepare_jsquad_aqg.py", ["--highlight", "--hl_strategy", "annotated"]),
    "aqg_hl gpt": ("prepare_jsquad_aqg.py", ["--highlight", "--format", "gpt"]),
    "quiz aqg_hl": ("prepare_quiz_aqg.py", ["--highlight"]),
}


@dataclass
class Args:
    """Time every prepare mode on JSQuAD-sized data."""
    n_train: int = arg(62697, help="train questions (JSQuAD v1.3: 62,697)")
    n_valid: int = arg(4442, help="valid questions (JSQuAD v1.3: 4,442)")
    bodies: int = arg(3, help="sample paragraph bodies joined into one context")
    seed: int = arg(0)


def sample_paragraphs() -> list[tuple[str, str, list[dict]]]:
    out = []
    for split in ("train", "valid"):
        doc = json.loads((ROOT / "examples" / "jsquad" / f"{split}-v1.3.json").read_text(encoding="utf-8"))
        for article in doc["data"]:
            for p in article["paragraphs"]:
                title, body = p["context"].split(" [SEP] ", 1)
                out.append((title, body, [{"question": q["question"], "answer": q["answers"][0]["text"]}
                                          for q in p["qas"]]))
    return out


def make_articles(n_questions: int, prefix: str, rng: random.Random, bodies: int) -> list[dict]:
    paragraphs, articles, n = sample_paragraphs(), [], 0
    while n < n_questions:
        chosen = rng.sample(paragraphs, bodies)
        title = f"{chosen[0][0]}{len(articles)}"
        context = f"{title} [SEP] " + "".join(body for _, body, _ in chosen)
        qas = []
        for q in (q for _, _, qs in chosen for q in qs):
            if n == n_questions:
                break
            qas.append({"id": f"{prefix}{n}", "question": q["question"], "is_impossible": False,
                        "answers": [{"text": q["answer"], "answer_start": context.index(q["answer"])}]})
            n += 1
        articles.append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
    return articles


def write_data(folder: Path, args: Args) -> None:
    rng = random.Random(args.seed)
    quiz = []
    for split, n in (("train", args.n_train), ("valid", args.n_valid)):
        articles = make_articles(n, f"bench-{split}-", rng, args.bodies)
        (folder / f"{split}-v1.3.json").write_text(json.dumps({"data": articles}, ensure_ascii=False),
                                                  encoding="utf-8")
        quiz += [{"qid": qa["id"], "question": qa["question"], "answers": [qa["answers"][0]["text"]],
                  "positive_ctxs": [{"passage_id": a, "title": article["title"],
                                     "text": p["context"].split(" [SEP] ", 1)[1]}]}
                 for a, article in enumerate(articles) for p in article["paragraphs"] for qa in p["qas"]]
    with gzip.open(folder / "quiz.json.gz", "wt", encoding="utf-8") as f:
        json.dump(quiz, f, ensure_ascii=False)


def main() -> None:
    args = parse_args(Args)
    with tempfile.TemporaryDirectory(prefix="prepare_speed.") as tmp:
        tmp = Path(tmp)
        write_data(tmp, args)
        n = args.n_train + args.n_valid
        size = (tmp / "train-v1.3.json").stat().st_size / 1e6
        print(f"{n} questions ({args.n_train} train + {args.n_valid} valid), train JSON {size:.0f} MB")
        print(f"{'mode':<20} {'seconds':>8} {'examples/s':>11}")
        for name, (script, flags) in MODES.items():
            source = (["--train_file", tmp / "quiz.json.gz", "--test_file="] if script == "prepare_quiz_aqg.py"
                      else ["--jsquad_dir", tmp])
            command = [sys.executable, ROOT / script, *source, "--output_dir", tmp / "out", *flags]
            start = time.perf_counter()
            proc = subprocess.run(list(map(str, command)), capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if proc.returncode != 0:
                sys.exit(f"{name} failed:\n{proc.stderr}")
            written = sum(json.loads((tmp / "out" / "prepare_report.json").read_text())["counts"].values())
            print(f"{name:<20} {seconds:8.1f} {written / seconds:11.0f}")


if __name__ == "__main__":
    main()
