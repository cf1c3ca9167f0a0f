"""JSQuAD -> answer-aware question generation data.

    python prepare_jsquad_aqg.py                          # answer: {answer} context: {context} -> data_jsquad_aqg
    python prepare_jsquad_aqg.py --highlight              # ...<hl>answer<hl>... -> data_jsquad_aqg_hl
    python prepare_jsquad_aqg.py --highlight --format gpt # {input}<sep>{question}</s> lines -> data_jsquad_aqg_hl_gpt
"""

from jaqg.cli.args import run_cli
from jaqg.cli.prepare import prepare_jsquad_aqg as main

if __name__ == "__main__":
    run_cli(main)
