"""Fine-tune a seq2seq model (T5, BART, ...) on a prepared data dir, keep the best model, evaluate it.

    python train.py --do_train --do_eval --model_name_or_path sonoisa/t5-base-japanese
    python train.py --do_eval --output_dir model          # evaluate the model already in output_dir
"""

from jaqg.cli.args import run_cli
from jaqg.cli.train import main

if __name__ == "__main__":
    run_cli(main)
