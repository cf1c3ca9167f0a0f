"""Score generated question-answer pairs (generate_qa.py output) against a JSQuAD file, per paragraph.

    python score_qag.py --predictions qa.jsonl --references_json jsquad/valid-v1.3.json --output qag_metrics.json

QA-aligned precision / recall / F1 as lmqg defines them, with char F1 of question + answer as the similarity
(or BERTScore with a local encoder dir: --bertscore_model DIR), and answer recall; see jaqg/qag_metrics.py. Generated
pairs belong to the paragraph their ``id`` names
(generate_qa.py --input_file on the JSQuAD .json writes paragraph ids such as ``a10336p0``).
"""

from jaqg.cli.args import run_cli
from jaqg.cli.score_qag import main

if __name__ == "__main__":
    run_cli(main)
