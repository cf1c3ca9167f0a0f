"""`python score_qag.py` is `jaqg score-qag`, the same flags: see jaqg/cli/score_qag.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.score_qag import main

if __name__ == "__main__":
    run_cli(main)
