"""Write a synthetic JSQuAD for offline runs, tests and the demo (``jaqg make-synthetic-jsquad``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..data.synthetic import write_synthetic_jsquad
from .args import arg, parse_args


@dataclass
class SyntheticArgs:
    """Write a synthetic JSQuAD (train/valid JSON with disjoint names) for offline runs and tests."""
    output_dir: str = arg("data_synthetic", help="where train-v1.3.json and valid-v1.3.json go")
    n_train: int = arg(4000, help="questions in train-v1.3.json")
    n_valid: int = arg(400, help="questions in valid-v1.3.json")
    seed: int = arg(0, help="random seed")
    max_sentences: int = arg(0, help="keep at most this many body sentences per context (0: all)")
    all_questions: bool = arg(False, help="ask every question the kept sentences answer (complete answer-extraction "
                                          "targets), not a random 3-5 per paragraph")


def main(argv=None) -> int:
    args = parse_args(SyntheticArgs, argv)
    paths = write_synthetic_jsquad(args.output_dir, args.n_train, args.n_valid, args.seed,
                                   max_sentences=args.max_sentences, all_questions=args.all_questions)
    for split, path in paths.items():
        print(f"wrote {path} ({getattr(args, 'n_' + split)} questions)")
    return 0
