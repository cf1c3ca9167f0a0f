"""`python generate_qa.py` is `jaqg generate-qa`, the same flags: see jaqg/cli/generate_qa.py or --help."""

from jaqg.cli.args import run_cli
from jaqg.cli.generate_qa import main

if __name__ == "__main__":
    run_cli(main)
