"""One optimizer step and one batched generation at the real full shapes of hub models, on CPU, with peak memory.

    python bench/hub_shapes.py [--models sonoisa/t5-base-japanese rinna/japanese-gpt2-medium] [--batch_size 4]
                               [--input_length 128] [--target_length 32] [--steps 2] [--threads 1]

For planning, not for speed claims: how long a training step and a generation call take at a hub model's real size
before any GPU hour is spent. Each model runs in its own process (so its peak resident memory is its own): the
family's published config from jaqg.models.standins.FAMILIES at full size, random fp32 weights (speed and memory do not
depend on the values), torch AdamW (what train.py's default optimizer is); one untimed warm-up step (it allocates
AdamW's state), then ``--steps`` timed steps of forward + backward + optimizer step on ``--batch_size`` examples of
``--input_length`` input and ``--target_length`` target tokens (a causal LM gets one sequence of their sum, loss on
all of it). Generation: greedy, KV cache, the batch's inputs, exactly ``--target_length`` new tokens. Times are wall
seconds and CPU seconds of the process (on a shared machine the wall time includes waiting for a core); the spread is
min-max over the timed steps. Peak memory: ``ru_maxrss`` of the process. Default lengths: about the 90th percentile
of JSQuAD AQG-HL inputs (150 rinna tokens) and questions (25).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jaqg.cli.args import arg, parse_args  # noqa: E402


@dataclass
class Args:
    """Time one optimizer step and one batched generation of hub models at their full shapes on CPU."""
    models: list[str] = arg(["sonoisa/t5-base-japanese", "rinna/japanese-gpt2-medium"],
                            help="families of jaqg.models.standins.FAMILIES, at their real config")
    batch_size: int = arg(4, help="examples per step and per generation call")
    input_length: int = arg(128, help="input tokens per example")
    target_length: int = arg(32, help="target tokens per example; also the new tokens generated")
    steps: int = arg(2, help="timed optimizer steps (after one untimed warm-up step)")
    threads: int = arg(1, help="torch threads")
    one: str = arg("", help="(internal) run one model in this process and print its JSON")


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_one(name: str, args: Args) -> dict:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from jaqg.models.standins import family
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = dict(family(name).config)
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    seq2seq = config.is_encoder_decoder
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_config(config).float().train()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    b, n_in, n_out = args.batch_size, args.input_length, args.target_length
    low = 10  # token ids above the special ones
    if seq2seq:
        batch = {"input_ids": torch.randint(low, config.vocab_size, (b, n_in)),
                 "labels": torch.randint(low, config.vocab_size, (b, n_out))}
    else:
        ids = torch.randint(low, config.vocab_size, (b, n_in + n_out))
        batch = {"input_ids": ids, "labels": ids}

    def step():
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: AdamW state, allocator
    steps = [_timed(step) for _ in range(args.steps)]
    model.eval()
    prompt = torch.randint(low, config.vocab_size, (b, n_in))

    def gen():
        with torch.inference_mode():
            model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n_out,
                           min_new_tokens=n_out, do_sample=False, num_beams=1, pad_token_id=config.pad_token_id
                           if config.pad_token_id is not None else config.eos_token_id)

    generation = _timed(gen)
    return {"model": name, "params": params, "seq2seq": seq2seq,
            "step_wall": [s[0] for s in steps], "step_cpu": [s[1] for s in steps],
            "generate_wall": generation[0], "generate_cpu": generation[1],
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    if args.one:
        print(json.dumps(run_one(args.one, args)))
        return 0
    flags = [f"--batch_size={args.batch_size}", f"--input_length={args.input_length}",
             f"--target_length={args.target_length}", f"--steps={args.steps}", f"--threads={args.threads}"]
    rows = []
    for name in args.models:
        proc = subprocess.run([sys.executable, __file__, f"--one={name}", *flags], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"batch {args.batch_size}, input {args.input_length} + target {args.target_length} tokens, "
          f"{args.threads} torch thread(s), fp32, {os.cpu_count()} CPU cores on the machine")
    print("| model | parameters | optimizer step, wall s (min-max) | step, CPU s | generation of "
          f"{args.target_length} tokens x {args.batch_size}, wall s | CPU s | peak memory GB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        w, c = r["step_wall"], r["step_cpu"]
        print(f"| {r['model']} | {r['params'] / 1e6:.0f}M | {min(w):.1f}-{max(w):.1f} | {min(c):.1f}-{max(c):.1f} "
              f"| {r['generate_wall']:.1f} | {r['generate_cpu']:.1f} | {r['peak_rss_gb']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
