"""Build a tokenizer + randomly initialised model from a data dir, for offline runs (see jaqg/tiny.py), or a tiny
stand-in of a hub model dir with its real file layout (``--like NAME``, see jaqg/standins.py)."""

from jaqg.cli.args import run_cli
from jaqg.cli.make_tiny_model import main

if __name__ == "__main__":
    run_cli(main)
