"""Generate a prediction for every input of a TSV (or plain text) file with a trained model.

    python predict.py --model_name_or_path model --input_file data/test.tsv --output_file predictions.tsv
    python predict.py --model_name_or_path model_jsquad_aqg --input_file data_jsquad_aqg/test.tsv \
        --num_beams 4 --num_return_sequences 4 --output_file nbest.jsonl

Input: a data TSV (``id<TAB>input[<TAB>target]``), a run_clm.py data file (``prompt<sep>question</s>`` lines: the
prompt is the input, the question the target) or plain text, one input per line (ids are line numbers).
Output: ``id<TAB>prediction[<TAB>target]``; with --num_return_sequences N, N rows per id, best first, or one
JSON object per input when --output_file ends in .jsonl. Written atomically.
"""

from jaqg.cli.args import run_cli
from jaqg.cli.predict import main

if __name__ == "__main__":
    run_cli(main)
