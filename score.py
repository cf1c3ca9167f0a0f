"""`python score.py` is `jaqg score`, the same flags: see jaqg/cli/score.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.score import main

if __name__ == "__main__":
    run_cli(main)
