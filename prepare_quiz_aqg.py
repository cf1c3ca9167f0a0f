"""Quiz data (AI王, DPR-style JSON[.gz] or JSONL) -> answer-aware question generation data.

    python prepare_quiz_aqg.py               # answer: {answer} context: {context} -> data_quiz_aqg
    python prepare_quiz_aqg.py --highlight   # ...<hl>answer<hl>... -> data_quiz_aqg_hl
"""

from jaqg.cli.args import run_cli
from jaqg.cli.prepare import prepare_quiz as main

if __name__ == "__main__":
    run_cli(main)
