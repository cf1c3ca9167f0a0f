"""`python train.py` is `jaqg train`, the same flags: see jaqg/cli/train.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.train import main

if __name__ == "__main__":
    run_cli(main)
