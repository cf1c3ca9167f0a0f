"""The attention lever alone: forward + backward of the same training batches under transformers' sdpa and eager
attention and jaqg.models.t5_attention's chunked attention (and the encoder alone under inference), one thread.

    python bench/attention_step.py [--size tiny|t5-small] [--batch_size 16] [--batches 6] [--rounds 3]
                                   [--chunk_bytes 1048576 ...]

Data and model as bench/train_throughput.py makes them (QA TSVs from JSQuAD valid when present, length-grouped
batches). Each variant first runs one batch, and its loss and gradients are compared with eager's (the same
arithmetic: they agree to float rounding); then the variants run interleaved, --rounds times, and the median CPU
seconds per round are printed with the ratio to sdpa. Several --chunk_bytes values time the chunked attention at
each chunk size (jaqg.models.t5_attention.CHUNK_BYTES); --compile adds the chunked model under torch.compile.
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from train_throughput import WorkDirArgs, length_grouped_batches  # noqa: E402

from jaqg.cli.args import arg, parse_args  # noqa: E402


@dataclass
class Args(WorkDirArgs):
    batch_size: int = arg(16, help="examples per batch")
    batches: int = arg(6, help="length-grouped batches per round")
    rounds: int = arg(3, help="interleaved repetitions")
    chunk_bytes: list[int] = arg([], help="chunk sizes to time (default: jaqg.models.t5_attention.CHUNK_BYTES)")
    compile: bool = arg(False, help="also time the chunked model under torch.compile (inductor, dynamic shapes; "
                                    "its compile time is printed apart)")


def main() -> None:
    args = parse_args(Args)
    torch.set_num_threads(1)
    import warnings
    warnings.filterwarnings("ignore")
    import jaqg.models.t5_attention as t5_attention
    from jaqg.training.objectives import cross_entropy, logits_and_labels

    bench = length_grouped_batches(args, args.batch_size, 512, args.batches, prefix="attention_step_")
    base = bench.model
    batches = [bench.collate([bench.train_set[j] for j in idx]) for idx in bench.order]
    print(f"{bench.described}; {args.size} T5, batch inputs x tokens "
          f"{[tuple(b['input_ids'].shape) for b in batches]}")

    chunk_sizes = args.chunk_bytes or [t5_attention.CHUNK_BYTES]
    variants = {"sdpa": ("sdpa", None), "eager": ("eager", None)}
    for size in chunk_sizes:
        variants[f"chunked {size // 1024} KiB"] = (t5_attention.CHUNKED_T5, size)
    if args.compile:
        variants["chunked, compiled"] = (t5_attention.CHUNKED_T5, chunk_sizes[0])
    models = {}
    for name, (implementation, _) in variants.items():
        models[name] = copy.deepcopy(base).train()
        models[name].set_attn_implementation(implementation)

    def step(name: str, batch) -> tuple[float, list[torch.Tensor]]:
        implementation, size = variants[name]
        if size:
            t5_attention.CHUNK_BYTES = size
        model = models[name]
        logits, labels = logits_and_labels(model, batch)
        loss = cross_entropy(logits, labels)
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=True)
        return loss.item(), grads

    if args.compile:
        compiled = models["chunked, compiled"]
        compiled.forward = torch.compile(compiled.forward, dynamic=True)
        start = time.process_time()
        step("chunked, compiled", batches[0])
        print(f"torch.compile: first forward+backward (compiling) {time.process_time() - start:.1f} CPU-s")
    eager_loss, eager_grads = step("eager", batches[0])
    for name in variants:
        loss, grads = step(name, batches[0])
        diff = max((a - b).abs().max().item() for a, b in zip(grads, eager_grads))
        print(f"  {name:<16} loss {loss:.7f} (eager {eager_loss:.7f}), largest gradient difference to eager {diff:.1e}")

    def encode(name: str) -> None:
        implementation, size = variants[name]
        if size:
            t5_attention.CHUNK_BYTES = size
        with torch.inference_mode():
            for batch in batches:
                models[name].get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    timings = {name: {"train": [], "encode": []} for name in variants}
    for r in range(args.rounds):
        for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            start = time.process_time()
            for batch in batches:
                step(name, batch)
            middle = time.process_time()
            encode(name)
            timings[name]["train"].append(middle - start)
            timings[name]["encode"].append(time.process_time() - middle)
    print(f"CPU seconds per round (median of {args.rounds}; {len(batches)} batches), sdpa / variant in brackets:")
    base_train = statistics.median(timings["sdpa"]["train"])
    base_encode = statistics.median(timings["sdpa"]["encode"])
    for name, t in timings.items():
        train, encode_s = statistics.median(t["train"]), statistics.median(t["encode"])
        encoded = ("(compiled: only the model's forward is)" if name == "chunked, compiled" else
                   f"{encode_s:6.3f} ({base_encode / encode_s:.2f}x)")
        print(f"  {name:<16} forward+backward {train:7.3f} ({base_train / train:.2f}x)   encoder, inference {encoded}")


if __name__ == "__main__":
    main()
