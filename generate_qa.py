"""Generate filtered question-answer pairs from raw text (answer extraction -> question generation -> round trip
-> hallucination check -> duplicates); the pipeline is jaqg/qag.py.

    python generate_qa.py --model_name_or_path model_multi --input_file doc.txt --output_file qa.jsonl
    python generate_qa.py --model_name_or_path model_aqg_hl --qa_model model_qa --answers ner \\
        --input_file docs.jsonl --output_file qa.jsonl
"""

from jaqg.cli.args import run_cli
from jaqg.cli.generate_qa import main

if __name__ == "__main__":
    run_cli(main)
