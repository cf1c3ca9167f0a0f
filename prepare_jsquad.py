"""JSQuAD -> question-answering TSVs: ``question: {question} context: {context}`` -> answer.

    python prepare_jsquad.py [--jsquad_dir jsquad] [--output_dir data]

train -> train.tsv/dev.tsv (split by article), official valid -> test.tsv (+ test_references.json with every
annotated answer), prepare_report.json with counts.
"""

from jaqg.cli.args import run_cli
from jaqg.cli.prepare import prepare_jsquad as main

if __name__ == "__main__":
    run_cli(main)
