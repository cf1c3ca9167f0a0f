"""Build a tokenizer + randomly initialised model from a data dir, for offline runs (see jaqg/tiny.py), or a tiny
stand-in of a hub model dir with its real file layout (``--like NAME``, see jaqg/standins.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..models.standins import LIKE_NAMES, build_standin
from ..models.tiny import ARCHS, SIZES, TOKENIZERS, build_tiny_model
from .args import arg, parse_args


@dataclass
class TinyModelArgs:
    """Train a tokenizer on --data_dir and write a random t5/bart/gpt2 model with it to --output_dir; or, with
    --like NAME, a tiny random stand-in of that hub model (its files, tokenizer layout and config keys)."""
    data_dir: str = arg("data", help="folder with train/dev/test.tsv (or *.txt / JSQuAD *.json) to train the "
                                      "tokenizer on")
    output_dir: str = arg("model_tiny", help="where the model and tokenizer are saved")
    like: Optional[str] = arg(None, help=f"hub model to stand in for: {', '.join(LIKE_NAMES)} "
                                         "(docs/stand_ins.md says what each copies)")
    spiece_model: Optional[str] = arg(None, help="with --like: the model's real SentencePiece model (rinna's "
                                                 "spiece.model, llm-jp's or Swallow's tokenizer.model) instead of "
                                                 "one trained on --data_dir")
    arch: str = arg("t5", choices=ARCHS, help="model architecture")
    size: str = arg("tiny", choices=SIZES, help="model size")
    tokenizer: str = arg("char", choices=TOKENIZERS, help="one piece per character, or unigram pieces within "
                                                          "runs of one script")
    vocab_size: int = arg(4000, help="tokenizer vocabulary size (an upper bound on small corpora; --like: 800 "
                                     "unless given)")
    locality_prior: float = arg(4.0, help="t5: start each encoder head attending to a neighbour with this bias "
                                          "(0 = T5's plain init; see docs/learning_from_scratch.md)")
    seed: int = arg(0, help="random seed for the weights")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(TinyModelArgs, argv)
    if args.like:
        vocab_size = args.vocab_size if args.vocab_size != TinyModelArgs.vocab_size else 800
        out = build_standin(args.like, args.output_dir, data_dir=None if args.spiece_model else args.data_dir,
                            spiece_model=args.spiece_model, vocab_size=vocab_size, seed=args.seed)
        print(f"wrote a tiny random stand-in of {args.like} to {out}")
        return
    out = build_tiny_model(args.data_dir, args.output_dir, arch=args.arch, size=args.size, seed=args.seed,
                           vocab_size=args.vocab_size, tokenizer=args.tokenizer,
                           locality_prior=args.locality_prior)
    print(f"wrote a random {args.size} {args.arch} model and its tokenizer to {out}")

