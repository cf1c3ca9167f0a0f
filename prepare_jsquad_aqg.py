"""`python prepare_jsquad_aqg.py` is `jaqg prepare-jsquad-aqg`, the same flags: see jaqg/cli/prepare.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.prepare import prepare_jsquad_aqg as main

if __name__ == "__main__":
    run_cli(main)
