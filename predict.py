"""`python predict.py` is `jaqg predict`, the same flags: see jaqg/cli/predict.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.predict import main

if __name__ == "__main__":
    run_cli(main)
