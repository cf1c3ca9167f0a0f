"""Hallucination report: words of each prediction that its source (the model input) does not contain.

    python hallucination.py --predictions model/predictions.tsv --sources data/test.tsv --output report.json
    python hallucination.py ... --tokenizer mecab --all_words --stop_words stop.txt
"""

from jaqg.cli.args import run_cli
from jaqg.cli.hallucination import main

if __name__ == "__main__":
    run_cli(main)
