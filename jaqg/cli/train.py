"""Fine-tune a seq2seq model (T5, BART, ...) on a prepared data dir, keep the best model, evaluate it.

    python train.py --do_train --do_eval --model_name_or_path sonoisa/t5-base-japanese
    python train.py --do_eval --output_dir model          # evaluate the model already in output_dir
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import UserError
from ..core.io import read_examples, read_json
from ..data.batching import TokenizedDataset
from ..models.loading import load_pretrained
from ..training.config import TrainingConfig
from ..training.data import TrainingData, data_report
from ..training.evaluate import evaluate
from ..training.experiment import Experiment, seed_everything
from ..training.scst import ScstConfig
from .args import arg, parse_args
from .generation_args import BackendArgs


@dataclass
class Args(TrainingConfig, ScstConfig, BackendArgs):
    """Fine-tune a seq2seq model on a prepared data dir (--do_train) and score it on test.tsv (--do_eval).

    ``--loss scst`` fine-tunes a supervised question generator on rewards (jaqg.training.scst: --reward,
    --qa_model, --kl_coef, --mle_weight, --num_samples)."""
    data_dir: Optional[str] = arg(None, help="prepared data dir with train.tsv, dev.tsv, test.tsv (default: data; "
                                             "--do_eval alone: the data dir the model in --output_dir was trained on)")
    max_input_length: int = arg(512, help="input tokens kept (longer inputs are truncated and counted)")
    max_target_length: int = arg(64, help="target tokens kept in training; also the generation length")
    num_beams: int = arg(1, help="beam size for --do_eval generation")
    repetition_penalty: float = arg(1.0, help="generation repetition penalty for --do_eval")
    max_train_samples: Optional[int] = arg(None, help="train on only the first N training examples")
    max_eval_samples: Optional[int] = arg(None, help="evaluate only the first N test examples")
    eval_tokenizers: list[str] = arg(["mecab"], help="word tokenizers for BLEU/ROUGE in metrics.json")

    def __post_init__(self):
        if self.data_dir is None:  # before TrainingConfig's checks: --resume compares it with the earlier run's
            self.data_dir = trained_on(self.output_dir) if self.do_eval and not self.do_train else None
            self.data_dir = self.data_dir or "data"
        super().__post_init__()


def trained_on(output_dir: str) -> str | None:
    """The data dir recorded in a trained output_dir's run_config.json, if it still exists (else None).

    Evaluating a multitask or AQG model again on the default ``data/`` (QA) would overwrite its metrics with
    scores on the wrong task."""
    path = Path(output_dir) / "run_config.json"
    data_dir = read_json(path).get("data_dir") if path.is_file() else None
    if data_dir and Path(data_dir).is_dir():
        print(f"evaluating on {data_dir}, the data dir {output_dir} was trained on (--data_dir for another)")
        return data_dir
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    if not (args.do_train or args.do_eval):
        raise UserError("nothing to do: pass --do_train and/or --do_eval")
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such data dir; run a prepare script first (e.g. python prepare_jsquad.py) "
                        "or pass --data_dir")
    if args.do_train and not train(args):
        return 0  # DDP ranks other than 0 stop here: rank 0 writes every output
    if args.do_eval:
        if not (Path(args.output_dir) / "config.json").is_file():
            raise UserError(f"{args.output_dir}: no trained model here; train with --do_train first "
                            "or pass the --output_dir of a trained model")
        evaluate(args.output_dir, data_dir, args.output_dir, batch_size=args.eval_batch_size,
                 max_input_length=args.max_input_length, max_new_tokens=args.max_target_length,
                 num_beams=args.num_beams, repetition_penalty=args.repetition_penalty,
                 tokenizers=args.eval_tokenizers, limit=args.max_eval_samples, **args.backend_kwargs())
        print(f"predictions: {Path(args.output_dir) / 'predictions.tsv'}\nmetrics: "
              f"{Path(args.output_dir) / 'metrics.json'}")
    return 0


def train(args: Args) -> bool:
    """Train and export; True on the process that writes outputs (global rank 0)."""
    if not args.model_name_or_path:
        raise UserError("--do_train needs --model_name_or_path (a hub name, or a dir from make_tiny_model.py)")
    data_dir = Path(args.data_dir)
    train_examples = read_examples(data_dir / "train.tsv")[: args.max_train_samples]
    dev_examples = read_examples(data_dir / "dev.tsv")
    for path, examples in ((data_dir / "train.tsv", train_examples), (data_dir / "dev.tsv", dev_examples)):
        if not examples:
            raise UserError(f"{path}: no examples; a data dir needs non-empty train.tsv and dev.tsv")
    seed_everything(args.seed)  # new <hl>/<sep> embedding rows are drawn at random: the same ones every run
    model, tokenizer = load_pretrained(args.model_name_or_path, args.tokenizer_name_or_path,
                                       trust_remote_code=args.trust_remote_code)
    train_set = TokenizedDataset(train_examples, tokenizer, args.max_input_length, args.max_target_length)
    dev_set = TokenizedDataset(dev_examples, tokenizer, args.max_input_length, args.max_target_length)
    print(train_set.truncation_report("train"))
    print(dev_set.truncation_report("dev"))
    data = TrainingData(train_set, dev_set, tokenizer.pad_token_id, args.train_batch_size, args.eval_batch_size,
                       num_workers=args.num_workers, seed=args.seed)
    # prints <unk> and encode->decode losses under the model's tokenizer, and the exact-match ceilings they imply
    experiment = Experiment(args, model, tokenizer, data, data_info=data_report(data_dir),
                            coverage_examples={"train": train_examples, "dev": dev_examples})
    trained = experiment.train()
    if trained:
        print(f"best model: {args.output_dir}\nloss curve: {Path(args.output_dir) / 'loss_curve.png'}\n"
              f"logs: {Path(args.output_dir) / 'logs' / 'metrics.csv'}")
    return trained

