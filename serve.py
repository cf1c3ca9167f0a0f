"""`python serve.py` is `jaqg serve`, the same flags: see jaqg/cli/serve.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.serve import main

if __name__ == "__main__":
    run_cli(main)
