"""Score a predictions file: exact match, char F1, JGLUE's official JSQuAD EM/F1, and BLEU / ROUGE under several
Japanese tokenizers, broken down by question type and length; compare two systems; score generated questions with
a QA model.

    python score.py --predictions model/predictions.tsv --references data/test.tsv --output metrics.json
    python score.py --predictions P.tsv --references data/test.tsv --references_json data/test_references.json \\
        --tokenizers mecab sudachi_C t5 --tokenizer_name_or_path model --per_example_output scores.tsv
    python score.py --predictions A.tsv --compare B.tsv --references data/test.tsv --report_dir report/
    python score.py --predictions model_jsquad_aqg_hl/predictions.tsv --references data_jsquad_aqg_hl/test.tsv \\
        --qa_model model
"""

from jaqg.cli.args import run_cli
from jaqg.cli.score import main

if __name__ == "__main__":
    run_cli(main)
