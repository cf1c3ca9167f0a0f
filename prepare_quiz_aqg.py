"""Quiz data (AI王, DPR-style JSON[.gz] or JSONL) -> answer-aware question generation data.

    python prepare_quiz_aqg.py               # answer: {answer} context: {context} -> data_quiz_aqg
    python prepare_quiz_aqg.py --highlight   # ...<hl>answer<hl>... -> data_quiz_aqg_hl
"""

from dataclasses import dataclass
from typing import Optional

from jaqg.cli.args import arg, parse_args
from jaqg.cli.args import run_cli
from jaqg.data.prepare import AqgArgs, prepare_aqg
from jaqg.data.quiz import QuizArgs, load_splits


@dataclass
class Args(AqgArgs, QuizArgs):
    """Prepare quiz data for answer-aware question generation (answer + context -> question)."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data_quiz_aqg; _hl added with --highlight, _gpt with --format gpt)")


def main(argv=None):
    prepare_aqg(parse_args(Args, argv), load_splits, "data_quiz_aqg")


if __name__ == "__main__":
    run_cli(main)
