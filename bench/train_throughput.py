"""Training speed of train.py's step against transformers' Seq2SeqTrainer: whole epochs of the same examples.

    python bench/train_throughput.py [--size tiny|t5-small] [--batch_size 16] [--n_examples 256] [--rounds 3]
    python bench/train_throughput.py --size t5-small --batch_size 8 --n_examples 48 --rounds 2

- ours:  jaqg.data.batching (tokenize once, dynamic padding, length-grouped batches) + jaqg.training's objective and
optimizer
         under Lightning Fabric, as jaqg.training.loop steps, with train.py's optimizer settings (``--optim`` as
         train.py's);
- hf:    transformers' Seq2SeqTrainer + DataCollatorForSeq2Seq (dynamic padding), train_sampling_strategy=
         "group_by_length", its default optimizer (adamw_torch_fused), what a user would pick instead;
- original (extra line, ``--original``): the seed's approach, every example padded to 512/64 tokens, random order.
Data: QA TSVs that prepare_jsquad.py makes from real JSQuAD (``--jsquad``, default ../shared/jsquad/valid-v1.3.json;
synthetic JSQuAD when absent); the first ``--n_examples`` training examples, ONE WHOLE EPOCH per method and round:
both sides train on exactly these examples, in batches of ``--batch_size``. (Timing a few steps misleads: HF's
group_by_length puts each megabatch's longest batch first.) Models: ``tiny`` (make_tiny_model's tiny T5) or a
random T5 of t5-small's shape (d_model 512, 6+6 layers, d_ff 2048, 8 heads; the character vocabulary, not 32k).

Time is CPU time of this process (time.process_time) from the start of training (before ours' first batch, HF's
on_train_begin) to the last optimizer step's end, so both sides are timed on the same examples and tokens; one torch
thread by default: the machine is shared, and wall time mostly measures the neighbours (on a GPU: wall time after a
synchronize). Methods run interleaved, ``--rounds`` times, the order alternating between rounds; the table shows
each method's median round and the spread (min-max) of the per-round ratio ours/hf. MFU = 6 * (encoder params *
input tokens + (decoder params + LM head) * target tokens) per CPU-second, against the measured fp32 matmul FLOP per
CPU-second (attention's length-squared terms are not counted).
"""

from __future__ import annotations

import copy
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jaqg.cli.args import arg, parse_args  # noqa: E402

SHAPES = {"t5-small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8),
          "t5-base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12)}


@dataclass
class Args:
    size: str = arg("tiny", help="tiny (make_tiny_model), or t5-small / t5-base (their shapes, random weights)",
                    choices=["tiny", "t5-small", "t5-base"])
    device: str = arg("cpu", help="cpu | cuda (on cuda, time is wall time after a synchronize, and peak memory "
                                  "is reported)", choices=["cpu", "cuda"])
    precision: str = arg("32", help="32 | bf16 (bf16-mixed in Fabric, bf16=True in HF)", choices=["32", "bf16"])
    batch_size: int = arg(16, help="examples per optimizer step, both sides")
    n_examples: int = arg(256, help="examples in the epoch each method trains on")
    rounds: int = arg(3, help="interleaved repetitions of every method")
    threads: int = arg(1, help="torch threads (1: CPU time then measures work, not waiting for a shared core; "
                          "0: torch's default)")
    jsquad: str = arg(str(ROOT.parent / "shared" / "jsquad" / "valid-v1.3.json"),
                      help="a JSQuAD JSON to prepare QA TSVs from (synthetic JSQuAD when the file is absent)")
    optim: str = arg("adamw_torch_fused", help="ours: train.py's --optim", choices=["adamw", "adamw_torch_fused"])
    attn_implementation: str = arg("auto", help="ours: train.py's --attn_implementation (auto: "
                                                "jaqg.models.t5_attention's "
                                                "chunked attention; hf keeps transformers' default, sdpa)",
                                   choices=["auto", "sdpa", "eager"])
    original: bool = arg(False, help="also time the seed's approach (pad to 512/64, random order)")
    work_dir: str = arg("", help="keep data and models here (default: a temp dir)")


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
        batch = collate([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
        width = {"input_ids": max_input, "attention_mask": max_input, "labels": max_target}
        for key, w in width.items():
            batch[key] = torch.nn.functional.pad(batch[key], (0, w - batch[key].shape[1]),
                                                 value=-100 if key == "labels" else 0)
        return batch
    return fixed


def clock(device: str) -> tuple[float, float]:
    """(wall, process CPU) seconds; on a GPU, after the queued kernels finish."""
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter(), time.process_time()


def epoch_ours(model, train_set, collate, batch_size: int, optim: str, sampler=None,
               device: str = "cpu", precision: str = "32") -> list:
    """One epoch of train.py's step (jaqg.training: the objective, optimizer, schedule and clipping under Lightning
    Fabric, as jaqg.training.loop runs them); (wall, cpu) after each optimizer step."""
    from lightning_fabric import Fabric
    from torch.utils.data import DataLoader

    from jaqg.training.objectives import get_objective
    from jaqg.training.optim import build_optimizer, build_schedule

    loader = (DataLoader(train_set, batch_sampler=sampler, collate_fn=collate) if sampler else
              DataLoader(train_set, batch_size=batch_size, shuffle=True, collate_fn=collate))
    fabric_precision = "bf16-mixed" if precision == "bf16" else "32"
    fabric = Fabric(accelerator="gpu" if device == "cuda" else "cpu", devices=1, precision=fabric_precision)
    model.train()
    optimizer = build_optimizer(model, optim, learning_rate=1e-4, precision=fabric_precision)
    scheduler = build_schedule(optimizer, len(loader))
    model, optimizer = fabric.setup(model, optimizer)
    loader = fabric.setup_dataloaders(loader, use_distributed_sampler=False)
    objective = get_objective("ce")
    times = [clock(device)]
    for batch in loader:
        loss = objective(model, batch)
        fabric.backward(loss)
        fabric.clip_gradients(model, optimizer, max_norm=1.0, error_if_nonfinite=False)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss)  # the loop reads the loss every step (log, NaN guard)
        times.append(clock(device))
    return times


def epoch_hf(model, tokenizer, features, batch_size: int, out_dir: str, device: str = "cpu",
             precision: str = "32") -> tuple[list, list, str]:
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback
    times = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *args, **kwargs):
            times.append(clock(device))

        def on_step_end(self, *args, **kwargs):
            times.append(clock(device))

    collate = CountingCollator(DataCollatorForSeq2Seq(tokenizer, model=model))
    args = Seq2SeqTrainingArguments(output_dir=out_dir, per_device_train_batch_size=batch_size, num_train_epochs=1,
                                    learning_rate=1e-4, max_grad_norm=1.0, train_sampling_strategy="group_by_length",
                                    logging_strategy="no", save_strategy="no", report_to=[],
                                    use_cpu=device == "cpu", bf16=precision == "bf16",
                                    disable_tqdm=True, dataloader_num_workers=0, seed=0)
    Seq2SeqTrainer(model=model, args=args, train_dataset=[dict(f) for f in features], data_collator=collate,
                   callbacks=[Clock()]).train()
    return times, collate.tokens, str(args.optim)


def matmul_peak_flops(n: int = 1024, reps: int = 10, device: str = "cpu", precision: str = "32") -> float:
    """Matmul FLOP per second (CPU: per CPU-second of this process; GPU: per wall second, n = 8192), best of 5."""
    n = 8192 if device == "cuda" else n
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        a @ b
        t = clock(device)
        for _ in range(reps):
            a @ b
        t1 = clock(device)
        best = min(best, (t1[0] - t[0]) if device == "cuda" else (t1[1] - t[1]))
    return 2 * n ** 3 * reps / best


def param_counts(model) -> tuple[int, int]:
    """(encoder params, decoder params + LM head) that do matmuls per token; embedding lookups excluded."""
    enc = sum(p.numel() for n, p in model.named_parameters() if n.startswith("encoder.") and "embed" not in n)
    dec = sum(p.numel() for n, p in model.named_parameters() if n.startswith("decoder.") and "embed" not in n)
    return enc, dec + model.get_output_embeddings().weight.numel()


def prepare(work: Path, args: Args) -> tuple[Path, Path, str]:
    """(QA data dir, model dir, a line naming the data)."""
    py, data = sys.executable, work / "data_qa"
    source = Path(args.jsquad)
    if source.is_file():
        described = f"QA TSVs prepared from {source}"
        if not (data / "train.tsv").exists():
            subprocess.run([py, "prepare_jsquad.py", "--train_file", source, "--valid_file", source,
                            "--output_dir", data], check=True, cwd=ROOT, capture_output=True)
        corpus = data
    else:
        described = f"synthetic JSQuAD ({source} is absent)"
        corpus = work / "jsquad"
        if not (data / "train.tsv").exists():
            subprocess.run([py, "-m", "jaqg", "make-synthetic-jsquad", "--output_dir", corpus, "--n_train", "2000",
                            "--n_valid", "50"], check=True, cwd=ROOT, capture_output=True)
            subprocess.run([py, "prepare_jsquad.py", "--jsquad_dir", corpus, "--output_dir", data], check=True,
                           cwd=ROOT, capture_output=True)
    model = work / f"model_{args.size}"
    if not (model / "config.json").exists():
        from jaqg.models.tiny import build_tiny_model
        build_tiny_model(data if source.is_file() else corpus, model, arch="t5", size="tiny")
        if args.size in SHAPES:
            from transformers import T5Config, T5ForConditionalGeneration
            config = T5Config.from_pretrained(model)
            config.update(SHAPES[args.size])
            torch.manual_seed(0)
            T5ForConditionalGeneration(config).save_pretrained(model)
    return data, model, described


@dataclass
class WorkDirArgs:
    """Flags of the side benches (profile_step.py, attention_step.py) that reuse this bench's data and models."""
    work_dir: str = arg("", help="keep data and models here, as bench/train_throughput.py --work_dir "
                                 "(default: a temp dir)")
    size: str = arg("tiny", help="model in the work dir", choices=["tiny", "t5-small"])


@dataclass
class BenchBatches:
    model: object
    tokenizer: object
    train_set: object  # jaqg.data.batching.TokenizedDataset
    collate: object  # jaqg.data.batching.Collator
    order: list  # the first length-grouped batches, as lists of train_set indices
    described: str  # the line naming the data


def length_grouped_batches(args: WorkDirArgs, batch_size: int, n_examples: int, n_batches: int,
                           prefix: str) -> BenchBatches:
    """This bench's QA data and model (made in ``args.work_dir``, or a temp dir named ``prefix``...), the first
    ``n_examples`` training examples tokenized, and their first ``n_batches`` length-grouped batches (seed 0)."""
    from jaqg.core.io import read_examples
    from jaqg.data.batching import Collator, LengthGroupedBatchSampler, TokenizedDataset
    from jaqg.models.loading import load_pretrained

    work = Path(args.work_dir or tempfile.mkdtemp(prefix=prefix))
    data, model_dir, described = prepare(work, Args(size=args.size))
    model, tokenizer = load_pretrained(str(model_dir))
    train_set = TokenizedDataset(read_examples(data / "train.tsv")[:n_examples], tokenizer, 512, 64)
    order = list(LengthGroupedBatchSampler(train_set.lengths, batch_size, seed=0))[:n_batches]
    return BenchBatches(model, tokenizer, train_set, Collator(tokenizer.pad_token_id), order, described)


def main() -> None:
    args = parse_args(Args)
    if args.threads > 0:  # 0: torch's default (one per core)
        torch.set_num_threads(args.threads)
    import logging
    import warnings
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from jaqg.core.io import read_examples
    from jaqg.data.batching import Collator, LengthGroupedBatchSampler, TokenizedDataset
    from jaqg.models.loading import load_pretrained
    from jaqg.models.t5_attention import set_attention

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="train_bench_"))
    data, model_dir, described = prepare(work, args)
    base_model, tokenizer = load_pretrained(str(model_dir))
    examples = read_examples(data / "train.tsv")[: args.n_examples]
    train_set = TokenizedDataset(examples, tokenizer, 512, 64)
    inputs = sorted(len(f["input_ids"]) for f in train_set)
    targets = sorted(len(f["labels"]) for f in train_set)
    steps = -(-len(train_set) // args.batch_size)
    print(f"data: {described}; {len(train_set)} examples ({steps} steps of {args.batch_size}), input tokens median "
          f"{inputs[len(inputs) // 2]} (max {inputs[-1]}), target tokens median {targets[len(targets) // 2]}; "
          f"model: {args.size} T5, {sum(p.numel() for p in base_model.parameters()) / 1e6:.1f}M params; "
          f"torch threads {args.threads}; ours: --optim {args.optim}, attention {args.attn_implementation}")
    peak = matmul_peak_flops(device=args.device, precision=args.precision)
    enc_params, dec_params = param_counts(base_model)

    def ours():
        collate = CountingCollator(Collator(tokenizer.pad_token_id))
        sampler = LengthGroupedBatchSampler(train_set.lengths, args.batch_size, seed=0)
        model = copy.deepcopy(base_model)
        set_attention(model, args.attn_implementation)
        times = epoch_ours(model, train_set, collate, args.batch_size, args.optim, sampler=sampler,
                                device=args.device, precision=args.precision)
        return times, collate.tokens

    def original():
        collate = CountingCollator(pad_to_fixed(Collator(tokenizer.pad_token_id), 512, 64))
        return epoch_ours(copy.deepcopy(base_model), train_set, collate, args.batch_size, args.optim,
                               device=args.device, precision=args.precision), collate.tokens

    hf_optim = []

    def hf():
        times, tokens, optim = epoch_hf(copy.deepcopy(base_model), tokenizer, train_set, args.batch_size,
                                        str(work / "hf_out"), device=args.device, precision=args.precision)
        hf_optim.append(optim)
        return times, tokens

    methods = {"ours (train.py)": ours, "hf Seq2SeqTrainer group_by_length": hf}
    if args.original:
        methods["original (pad 512/64, random)"] = original
    rounds: dict[str, list[dict]] = {name: [] for name in methods}
    for r in range(args.rounds):
        for name in (list(methods) if r % 2 == 0 else list(methods)[::-1]):  # alternate who goes first
            run = methods[name]
            if args.device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            times, tokens = run()
            assert len(times) == steps + 1, f"{name}: {len(times) - 1} steps, expected {steps}"
            timed = tokens[:steps]  # the whole epoch: the same examples and tokens on both sides
            (wall0, cpu0), (wall1, cpu1) = times[0], times[-1]
            cpu = cpu1 - cpu0 if args.device == "cpu" else wall1 - wall0  # GPU: wall seconds
            result = dict(steps_per_s=steps / cpu, tokens_per_s=sum(i + t for i, t in timed) / cpu,
                          wall_steps_per_s=steps / (wall1 - wall0),
                          mfu=6 * sum(enc_params * i + dec_params * t for i, t in timed) / cpu / peak,
                          peak_gib=torch.cuda.max_memory_allocated() / 2 ** 30 if args.device == "cuda" else 0.0)
            rounds[name].append(result)
            print(f"  round {r + 1} {name:<36} {result['steps_per_s']:7.3f} steps/CPU-s "
                  f"{result['tokens_per_s']:8.0f} tokens/CPU-s  {result['wall_steps_per_s']:7.3f} steps/s wall"
                  + (f"  peak {result['peak_gib']:.2f} GiB" if args.device == "cuda" else ""),
                  flush=True)
    hf_name = "hf Seq2SeqTrainer group_by_length"
    unit = "CPU-s" if args.device == "cpu" else "s (GPU, wall)"
    print(f"\nmatmul peak ({args.precision}, {args.device}, {args.threads} thread(s)): {peak / 1e9:.1f} GFLOP per "
          f"{unit}; "
          f"hf optimizer: {hf_optim[0]}")
    print("optimizer steps per CPU-second over a whole epoch (median round); 'ours is' = ours / method, "
          "per round (min-max)")
    print(f"{'method':<38}{'steps/CPU-s':>12}{'tokens/CPU-s':>14}{'MFU':>7}{'ours is':>9}{'rounds':>14}")
    for name, results in rounds.items():
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        ratios = [o["steps_per_s"] / m["steps_per_s"] for o, m in zip(rounds["ours (train.py)"], results)]
        print(f"{name:<38}{med['steps_per_s']:>12.3f}{med['tokens_per_s']:>14.0f}{100 * med['mfu']:>6.1f}%"
              f"{statistics.median(ratios):>8.2f}x{min(ratios):>8.2f}-{max(ratios):.2f}x")
    ratios = [o["steps_per_s"] / h["steps_per_s"] for o, h in zip(rounds["ours (train.py)"], rounds[hf_name])]
    print(f"ours / Seq2SeqTrainer: {statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f}x; "
          f"target 1.3x)")


if __name__ == "__main__":
    main()
