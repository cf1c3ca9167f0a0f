"""JSQuAD -> answer-aware question generation data.

    python prepare_jsquad_aqg.py                          # answer: {answer} context: {context} -> data_jsquad_aqg
    python prepare_jsquad_aqg.py --highlight              # ...<hl>answer<hl>... -> data_jsquad_aqg_hl
    python prepare_jsquad_aqg.py --highlight --format gpt # {input}<sep>{question}</s> lines -> data_jsquad_aqg_hl_gpt
"""

from dataclasses import dataclass
from typing import Optional

from jaqg.cli.args import arg, parse_args
from jaqg.cli.args import run_cli
from jaqg.data.jsquad import JsquadArgs, load_splits
from jaqg.data.prepare import AqgArgs, prepare_aqg


@dataclass
class Args(AqgArgs, JsquadArgs):
    """Prepare JSQuAD for answer-aware question generation (answer + context -> question)."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data_jsquad_aqg; _hl added with --highlight, _gpt with --format gpt)")


def main(argv=None):
    prepare_aqg(parse_args(Args, argv), load_splits, "data_jsquad_aqg")


if __name__ == "__main__":
    run_cli(main)
