"""Where a training step goes: forward, backward, optimizer, data, the Fabric loop's own work (torch.profiler, one
thread).

    python bench/profile_step.py [--work_dir DIR] [--size tiny|t5-small] [--batch_size 16] [--steps 8]

Data and model as bench/train_throughput.py makes them (QA TSVs from JSQuAD valid when present; DIR may be that
bench's --work_dir, to reuse them). Prints (1) CPU seconds per
step of a plain PyTorch loop split into collate / forward+loss / backward / clip / AdamW (default, foreach, fused),
(2) the same steps as train.py's Fabric loop takes them, for its overhead, (3) torch.profiler's top operators of the
plain loop with fused AdamW. The model runs on train.py's attention (--attn_implementation, default auto).
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from train_throughput import WorkDirArgs, epoch_ours, length_grouped_batches  # noqa: E402

from jaqg.cli.args import arg, parse_args  # noqa: E402


@dataclass
class Args(WorkDirArgs):
    batch_size: int = arg(16, help="examples per step")
    steps: int = arg(8, help="steps timed per variant")
    threads: int = arg(1, help="torch threads")
    attn_implementation: str = arg("auto", help="train.py's --attn_implementation (auto: jaqg.models.t5_attention)",
                                   choices=["auto", "sdpa", "eager"])


def main() -> None:
    args = parse_args(Args)
    if args.threads > 0:  # 0: torch's default (one per core)
        torch.set_num_threads(args.threads)
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    from jaqg.models.t5_attention import set_attention
    from jaqg.training.objectives import cross_entropy, logits_and_labels

    bench = length_grouped_batches(args, args.batch_size, 256, args.steps + 1, prefix="profile_step_")
    base, train_set, collate, order, described = (bench.model, bench.train_set, bench.collate, bench.order,
                                                  bench.described)
    set_attention(base, args.attn_implementation)

    def plain(impl: str) -> dict[str, float]:
        model = copy.deepcopy(base).train()
        kw = {"foreach": dict(foreach=True), "fused": dict(fused=True)}.get(impl, {})
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **kw)
        parts = dict(collate=0.0, forward=0.0, backward=0.0, clip=0.0, optimizer=0.0)
        for i, idx in enumerate(order):
            t0 = time.process_time()
            batch = collate([train_set[j] for j in idx])
            t1 = time.process_time()
            logits, labels = logits_and_labels(model, batch)
            loss = cross_entropy(logits, labels)
            t2 = time.process_time()
            loss.backward()
            t3 = time.process_time()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            t4 = time.process_time()
            opt.step()
            opt.zero_grad()
            t5 = time.process_time()
            if i:  # the first step allocates
                for k, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    parts[k] += dt / args.steps
        return parts

    def fabric_loop() -> float:
        times = epoch_ours(copy.deepcopy(base), train_set, collate, args.batch_size, "adamw_torch_fused",
                           sampler=order)
        return (times[-1][1] - times[1][1]) / (len(times) - 2)  # from the first step's end, as before

    print(f"{described}; {args.size} T5, batch {args.batch_size}, attention {base.config._attn_implementation}, "
          f"{args.steps} steps, CPU seconds per step:")
    for impl in ("default", "foreach", "fused"):
        parts = plain(impl)
        print(f"  plain loop, AdamW {impl:<8} total {sum(parts.values()):.4f}  "
              + "  ".join(f"{k} {v:.4f}" for k, v in parts.items()))
    print(f"  Fabric (train.py's objective and optimizer: fused AdamW) total {fabric_loop():.4f}")

    model = copy.deepcopy(base).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)  # train.py's default optimizer
    from torch.profiler import ProfilerActivity, profile
    batches = [collate([train_set[j] for j in idx]) for idx in order]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[1:]:
            logits, labels = logits_and_labels(model, batch)
            cross_entropy(logits, labels).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=40))


if __name__ == "__main__":
    main()
