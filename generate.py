"""Generate questions for an answer in a context with a trained AQG model (seq2seq or causal LM).

    python generate.py --answer 甲府市 --context 山梨県の県庁所在地は甲府市です。
    python generate.py --answer 甲府市 --context 山梨県の県庁所在地は甲府市です。 --bad_words 山梨 山梨県
    python generate.py --input_file items.jsonl --num_beams 8 --num_beam_groups 4 --diversity_penalty 1.0 \
        --num_return_sequences 4 --json

The input is built the way the model was trained (its run_config.json: answer/context template, or the
context with the answer highlighted); --highlight forces the highlighted form.
"""

from jaqg.cli.args import run_cli
from jaqg.cli.generate import main

if __name__ == "__main__":
    run_cli(main)
