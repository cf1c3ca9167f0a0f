"""`python generate.py` is `jaqg generate`, the same flags: see jaqg/cli/generate.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.generate import main

if __name__ == "__main__":
    run_cli(main)
