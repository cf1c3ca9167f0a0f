"""Fine-tune a causal LM (GPT-2 style) for question generation, optionally with LoRA; evaluate it.

    python prepare_jsquad_aqg.py --highlight --format gpt
    python run_clm.py --model_name_or_path=rinna/japanese-gpt2-medium \\
      --train_file=data_jsquad_aqg_hl_gpt/train.txt --validation_file=data_jsquad_aqg_hl_gpt/dev.txt \\
      --do_train --do_eval --num_train_epochs=10 --save_steps=10000 --save_total_limit=3 \\
      --per_device_train_batch_size=1 --per_device_eval_batch_size=1 --output_dir=output_gpt/ \\
      --use_fast_tokenizer=False

Flags follow Hugging Face's examples/pytorch/language-modeling/run_clm.py; training is jaqg.training.experiment's
(the same Fabric loop and output layout as train.py). Each line of a GPT file is
``prompt<sep>question</s>``: the loss falls on the question only, unless --group_texts trains a plain LM on
blocks of concatenated text. --do_eval reports perplexity on --validation_file, generates a question for every
validation prompt and scores it (predictions.tsv, metrics.json in --output_dir).
"""

from jaqg.cli.args import run_cli
from jaqg.cli.train_clm import main

if __name__ == "__main__":
    run_cli(main)
