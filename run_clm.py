"""`python run_clm.py` is `jaqg train-clm`, the same flags: see jaqg/cli/train_clm.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.train_clm import main

if __name__ == "__main__":
    run_cli(main)
