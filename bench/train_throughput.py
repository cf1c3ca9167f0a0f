"""Training throughput (non-pad tokens/s) of train.py's step against two baselines, side by side.

    python bench/train_throughput.py [--steps 8] [--batch_size 16] [--size tiny] [--rounds 2] [--threads 1]

- ours:     jaqg.batching (tokenize once, dynamic padding, length-grouped batches) + jaqg.module.LMModule
            under a Lightning Trainer, i.e. what train.py runs;
- original: the seed's approach: every example padded to 512 input / 64 target tokens, random order
            (same LMModule and Trainer, only the batches differ);
- hf:       transformers' Seq2SeqTrainer + DataCollatorForSeq2Seq, train_sampling_strategy="group_by_length".
Same model weights, data (synthetic JSQuAD -> prepare_jsquad.py QA TSV), batch size and number of steps.
Tokens are counted per batch as it is collated (inputs' attention mask + labels != -100); the first
``--warmup`` steps are not timed. Each method runs ``--rounds`` times, interleaved, and its best round
counts. Throughput is per CPU-second of the process (one torch thread by default): on a shared machine wall
time mostly measures the neighbours; wall-clock tokens/s is printed beside it. Model FLOPs utilisation =
6 * (encoder params * input tokens + (decoder params + LM head) * target tokens) per CPU-second, against the
measured fp32 matmul FLOP per CPU-second of this machine (attention's length-squared terms are not counted).
"""

from __future__ import annotations

import copy
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jaqg.cli import arg, parse_args  # noqa: E402


@dataclass
class Args:
    steps: int = arg(8, help="timed steps per method (after --warmup)")
    warmup: int = arg(2, help="untimed steps first")
    batch_size: int = arg(16, help="examples per step, all methods")
    size: str = arg("tiny", help="make_tiny_model size", choices=["tiny", "small"])
    rounds: int = arg(2, help="interleaved repetitions; the best round of each method counts")
    n_train: int = arg(300, help="synthetic questions to draw batches from")
    threads: int = arg(1, help="torch threads (1: CPU time then measures work, not waiting for a shared core)")
    work_dir: str = arg("", help="keep data and model here (default: a temp dir)")


class CountingCollator:
    """Wrap a collator and record each batch's non-pad tokens (input, target) in collate order."""

    def __init__(self, collate):
        self.collate, self.tokens = collate, []

    def __call__(self, features):
        batch = self.collate(features)
        self.tokens.append((int(batch["attention_mask"].sum()), int((batch["labels"] != -100).sum())))
        return batch


def pad_to_fixed(collate, max_input: int, max_target: int):
    """The original approach: pad every batch to the maximum lengths."""
    def fixed(features):
        padded = [{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features]
        batch = collate(padded)
        width = {"input_ids": max_input, "attention_mask": max_input, "labels": max_target}
        for key, w in width.items():
            pad = -100 if key == "labels" else 0
            batch[key] = torch.nn.functional.pad(batch[key], (0, w - batch[key].shape[1]), value=pad)
        return batch
    return fixed


def step_times_lightning(model, train_set, collate, batch_sampler=None, shuffle_batch_size=None, steps=10):
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader
    from jaqg.module import LMModule

    times = []

    class Clock(pl.Callback):
        def on_train_batch_end(self, *args):
            times.append((time.perf_counter(), time.process_time()))

    loader = (DataLoader(train_set, batch_sampler=batch_sampler, collate_fn=collate) if batch_sampler else
              DataLoader(train_set, batch_size=shuffle_batch_size, shuffle=True, collate_fn=collate, drop_last=True))
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[Clock()], gradient_clip_val=1.0)
    trainer.fit(LMModule(model, learning_rate=1e-4), train_dataloaders=loader)
    return times


def step_times_hf(model, tokenizer, train_set, batch_size, steps, out_dir):
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback
    times = []

    class Clock(TrainerCallback):
        def on_step_end(self, *args, **kwargs):
            times.append((time.perf_counter(), time.process_time()))

    collate = CountingCollator(DataCollatorForSeq2Seq(tokenizer, model=model))
    features = [dict(f) for f in train_set]
    args = Seq2SeqTrainingArguments(output_dir=out_dir, per_device_train_batch_size=batch_size, max_steps=steps,
                                    learning_rate=1e-4, max_grad_norm=1.0, train_sampling_strategy="group_by_length",
                                    logging_strategy="no", save_strategy="no", report_to=[], use_cpu=True,
                                    disable_tqdm=True, dataloader_num_workers=0, seed=0)
    Seq2SeqTrainer(model=model, args=args, train_dataset=features, data_collator=collate,
                   callbacks=[Clock()]).train()
    return times, collate.tokens


def matmul_peak_flops(n: int = 1024, reps: int = 10) -> float:
    """fp32 matmul FLOP per CPU-second of this process (best of 5)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(5):
        a @ b
        t = time.process_time()
        for _ in range(reps):
            a @ b
        best = min(best, time.process_time() - t)
    return 2 * n ** 3 * reps / best


def param_counts(model) -> tuple[int, int]:
    """(encoder params, decoder params + LM head) that do matmuls per token; embedding lookups excluded."""
    enc = sum(p.numel() for n, p in model.named_parameters() if n.startswith("encoder.") and "embed" not in n)
    dec = sum(p.numel() for n, p in model.named_parameters() if n.startswith("decoder.") and "embed" not in n)
    return enc, dec + model.get_output_embeddings().weight.numel()


def prepare(work: Path, args: Args) -> tuple[Path, Path]:
    data, model = work / "data_qa", work / "model"
    if not (data / "train.tsv").exists():
        py = sys.executable
        subprocess.run([py, "-m", "jaqg.synthetic", "--output_dir", work / "jsquad", "--n_train", str(args.n_train),
                        "--n_valid", "50"], check=True, cwd=ROOT, capture_output=True)
        subprocess.run([py, "prepare_jsquad.py", "--jsquad_dir", work / "jsquad", "--output_dir", data], check=True,
                       cwd=ROOT, capture_output=True)
    if not (model / "config.json").exists():
        from jaqg.tiny import build_tiny_model
        build_tiny_model(work / "jsquad", model, arch="t5", size=args.size)  # same text as the QA TSVs
    return data, model


def main() -> None:
    args = parse_args(Args)
    torch.set_num_threads(args.threads)
    import logging
    import warnings
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from jaqg.batching import Collator, LengthGroupedBatchSampler, TokenizedDataset
    from jaqg.experiment import load_pretrained
    from jaqg.io import read_examples

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="train_bench_"))
    data, model_dir = prepare(work, args)
    base_model, tokenizer = load_pretrained(str(model_dir))
    examples = read_examples(data / "train.tsv")
    train_set = TokenizedDataset(examples, tokenizer, 512, 64)
    lengths = train_set.lengths
    print(f"data: {len(examples)} examples, input tokens median {sorted(len(f['input_ids']) for f in train_set)[len(train_set) // 2]}, "
          f"target tokens median {sorted(len(f['labels']) for f in train_set)[len(train_set) // 2]}; "
          f"model: {args.size} T5, {sum(p.numel() for p in base_model.parameters()) / 1e6:.1f}M params; "
          f"batch {args.batch_size}, {args.steps} timed steps after {args.warmup}; torch threads {args.threads}")
    total_steps = args.warmup + args.steps
    peak = matmul_peak_flops()
    enc_params, dec_params = param_counts(base_model)

    def ours():
        collate = CountingCollator(Collator(tokenizer.pad_token_id))
        sampler = LengthGroupedBatchSampler(lengths, args.batch_size, seed=0)
        return step_times_lightning(copy.deepcopy(base_model), train_set, collate, batch_sampler=sampler,
                                    steps=total_steps), collate.tokens

    def original():
        collate = CountingCollator(pad_to_fixed(Collator(tokenizer.pad_token_id), 512, 64))
        return step_times_lightning(copy.deepcopy(base_model), train_set, collate,
                                    shuffle_batch_size=args.batch_size, steps=total_steps), collate.tokens

    def hf():
        return step_times_hf(copy.deepcopy(base_model), tokenizer, train_set, args.batch_size, total_steps,
                             str(work / "hf_out"))

    methods = {"ours (train.py)": ours, "original (pad 512/64, random)": original,
               "hf Seq2SeqTrainer group_by_length": hf}
    best: dict[str, tuple[float, float, float]] = {}
    for r in range(args.rounds):
        for name, run in methods.items():
            times, tokens = run()
            timed = tokens[args.warmup: total_steps]
            (wall0, cpu0), (wall1, cpu1) = times[args.warmup - 1], times[total_steps - 1]
            n_tokens = sum(i + t for i, t in timed)
            flops = 6 * sum(enc_params * i + dec_params * t for i, t in timed)
            print(f"  round {r + 1} {name:<36} {n_tokens / (cpu1 - cpu0):8.0f} tokens/CPU-s "
                  f"{n_tokens / (wall1 - wall0):8.0f} tokens/s wall  {(cpu1 - cpu0) / args.steps:.3f} CPU-s/step")
            if n_tokens / (cpu1 - cpu0) > best.get(name, (0,))[0]:
                best[name] = (n_tokens / (cpu1 - cpu0), n_tokens / (wall1 - wall0), flops / (cpu1 - cpu0))
    ours_tok = best["ours (train.py)"][0]
    print(f"\nmatmul peak (fp32 1024x1024, {args.threads} thread(s)): {peak / 1e9:.1f} GFLOP per CPU-second")
    print("non-pad tokens per CPU-second (CPU time of this process: the 2 cores here are shared, wall time "
          "mostly measures the neighbours)")
    print(f"{'method':<38}{'tokens/CPU-s':>13}{'ours is':>9}{'MFU':>7}{'tokens/s wall':>15}")
    for name, (tok_cpu, tok_wall, flops) in best.items():
        print(f"{name:<38}{tok_cpu:>13.0f}{ours_tok / tok_cpu:>8.2f}x{100 * flops / peak:>6.1f}%{tok_wall:>15.0f}")

if __name__ == "__main__":
    main()
