"""`python make_tiny_model.py` is `jaqg make-tiny-model`, the same flags: see jaqg/cli/make_tiny_model.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.make_tiny_model import main

if __name__ == "__main__":
    run_cli(main)
