"""JSQuAD -> answer-aware question generation data.

    python prepare_jsquad_aqg.py                          # answer: {answer} context: {context} -> data_jsquad_aqg
    python prepare_jsquad_aqg.py --highlight              # ...<hl>answer<hl>... -> data_jsquad_aqg_hl
    python prepare_jsquad_aqg.py --highlight --format gpt # {input}<sep>{question}</s> lines -> data_jsquad_aqg_hl_gpt
"""

from dataclasses import dataclass
from typing import Optional

from jaqg.cli import arg, parse_args
from jaqg.errors import run_cli
from jaqg.jsquad import JsquadArgs, load_splits
from jaqg.prepare import AqgArgs, check_args, default_output_dir, prepare


@dataclass
class Args(AqgArgs, JsquadArgs):
    """Prepare JSQuAD for answer-aware question generation (answer + context -> question)."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data_jsquad_aqg; _hl added with --highlight, _gpt with --format gpt)")


def main(argv=None):
    args = parse_args(Args, argv)
    task = "aqg_hl" if args.highlight else "aqg"
    template = check_args(args, task)
    splits, skipped, sources = load_splits(args)
    prepare(task, splits, args, template=template, fmt=args.format,
            output_dir=args.output_dir or default_output_dir("data_jsquad_aqg", task, args.format),
            hl_strategy=args.hl_strategy if args.highlight else None, sources=sources, load_skipped=skipped)


if __name__ == "__main__":
    run_cli(main)
