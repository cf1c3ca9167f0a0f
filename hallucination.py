"""`python hallucination.py` is `jaqg hallucination`, the same flags: see jaqg/cli/hallucination.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.hallucination import main

if __name__ == "__main__":
    run_cli(main)
