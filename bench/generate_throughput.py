"""Question generation throughput (questions/s): predict.py's batched path against one-at-a-time generation.

    python bench/generate_throughput.py [--n_inputs 64] [--batch_size 16] [--size tiny] [--rounds 2]
    python bench/generate_throughput.py --model_name_or_path model_jsquad_aqg

- batched:    jaqg.generation.generate (what predict.py, generate.py and train.py --do_eval run): tokenize once,
              batches of --batch_size sorted by length, inference_mode, KV cache;
- one_by_one: the seed's pipeline style: for each input, tokenize -> model.generate -> decode, batch size 1.
Same model, inputs (AQG inputs built from synthetic JSQuAD) and decoding, greedy and beam 4. Every output
is exactly --max_new_tokens long (min_new_tokens) so an untrained model's early end-of-text cannot flatter
either side. Each method runs --rounds times, interleaved, and its best round counts (the machine is shared);
the spread of the per-round ratios (batched and one-by-one timed side by side) shows how much load moved them.
For a seq2seq model it also times the encoder alone over the batched path's batches: both paths encode the
same tokens, so (one-by-one time) / (encoder time) bounds what any batching of the decoder can reach.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jaqg.cli import arg, parse_args  # noqa: E402
from jaqg.errors import run_cli  # noqa: E402
from jaqg.formats import GPT_SEP  # noqa: E402
from jaqg.generation import generate, load_model, question_input  # noqa: E402


@dataclass
class Args:
    """Questions/s of batched generation vs one-at-a-time generation on the same model and inputs."""
    model_name_or_path: Optional[str] = arg(None, help="model to time (default: a fresh make_tiny_model T5)")
    size: str = arg("tiny", help="make_tiny_model size when no model is given", choices=["tiny", "small"])
    arch: str = arg("t5", help="make_tiny_model arch when no model is given", choices=["t5", "bart", "gpt2"])
    n_inputs: int = arg(64, help="questions generated per method and round")
    batch_size: int = arg(16, help="batch size of the batched path")
    max_new_tokens: int = arg(24, help="tokens generated per question (all of them)")
    beams: list[int] = arg([1, 4], help="beam sizes to time (1 = greedy)")
    rounds: int = arg(2, help="interleaved rounds; the best counts")
    threads: int = arg(1, help="torch threads for both paths (0 = torch's default, one per core, as predict.py "
                          "uses; the machine is shared)")
    device: str = arg("auto", help="auto | cpu | cuda")
    precision: str = arg("32", help="32 | bf16 | 16, both paths")
    output: Optional[str] = arg(None, help="also write the results as JSON here")


def synthetic_inputs(n: int, work: Path) -> list[str]:
    from jaqg.synthetic import write_synthetic_jsquad
    write_synthetic_jsquad(work, n_train=max(n, 50), n_valid=10, seed=0)
    data = json.loads((work / "train-v1.3.json").read_text(encoding="utf-8"))["data"]
    items = [(qa["answers"][0]["text"], p["context"]) for a in data for p in a["paragraphs"] for qa in p["qas"]]
    return [question_input(answer, context, None) for answer, context in items[:n]]


def one_by_one(model, tokenizer, inputs: list[str], **kw) -> list[str]:
    """The old text2text-generation pipeline's loop: one input per generate call."""
    outputs, causal = [], not model.config.is_encoder_decoder
    for text in inputs:
        prompt = text + GPT_SEP if causal else text  # the same prompt the batched path builds
        enc = tokenizer(prompt, return_tensors="pt", truncation=True, max_length=512,
                        add_special_tokens=not causal).to(model.device)
        out = model.generate(**enc, **kw)
        outputs.append(tokenizer.decode(out[0, enc["input_ids"].shape[1] if causal else 0:], skip_special_tokens=True))
    return outputs


def encoder_seconds(model, tokenizer, inputs: list[str], batch_size: int) -> float:
    """Time to encode the inputs in the batched path's length-sorted batches (seq2seq only)."""
    ordered = sorted(inputs, key=lambda x: -len(tokenizer(x)["input_ids"]))
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(ordered), batch_size):
            enc = tokenizer(ordered[i:i + batch_size], return_tensors="pt", padding=True, truncation=True,
                            max_length=512).to(model.device)
            model.get_encoder()(**enc)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = synthetic_inputs(args.n_inputs, work / "jsquad")
        model_dir = args.model_name_or_path
        if model_dir is None:
            from jaqg.tiny import build_tiny_model
            model_dir = str(build_tiny_model(work / "jsquad", work / "model", arch=args.arch, size=args.size))
        model, tokenizer = load_model(model_dir, device=args.device, precision=args.precision)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"model {args.model_name_or_path or f'tiny {args.arch} ({args.size})'}: {n_params / 1e6:.1f}M params, "
              f"{len(inputs)} inputs, {args.max_new_tokens} new tokens each, {torch.get_num_threads()} thread(s), "
              f"device {model.device}, {model.dtype}")
        fixed = dict(max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens)
        results = []
        for beams in args.beams:
            methods = {
                "batched": lambda: generate(model, tokenizer, inputs, batch_size=args.batch_size, num_beams=beams,
                                            **fixed),
                "one_by_one": lambda: one_by_one(model, tokenizer, inputs, num_beams=beams, do_sample=False,
                                                 **fixed),
            }
            timings = {name: [] for name in methods}
            for _ in range(args.rounds):
                for name, run in methods.items():
                    start = time.perf_counter()
                    with torch.inference_mode():
                        run()
                    timings[name].append(time.perf_counter() - start)
            best = {name: min(seconds) for name, seconds in timings.items()}
            per_round = [alone / batched for batched, alone in zip(timings["batched"], timings["one_by_one"])]
            rate = {name: len(inputs) / seconds for name, seconds in best.items()}
            speedup = rate["batched"] / rate["one_by_one"]
            results.append({"num_beams": beams, "batch_size": args.batch_size, "questions_per_s": rate,
                            "speedup": speedup, "seconds": best, "per_round_speedups": per_round})
            decoding = "greedy" if beams == 1 else f"beam {beams}"
            print(f"{decoding:>8}: batched {rate['batched']:7.1f} q/s | one-by-one {rate['one_by_one']:6.1f} q/s | "
                  f"speedup {speedup:4.1f}x ({'meets' if speedup >= 4 else 'below'} the 4x target; rounds "
                  f"{min(per_round):.1f}-{max(per_round):.1f}x)")
        if model.config.is_encoder_decoder:
            encoding = min(encoder_seconds(model, tokenizer, inputs, args.batch_size) for _ in range(args.rounds))
            slowest = max(r["seconds"]["one_by_one"] for r in results)
            print(f"encoder alone: {encoding:.2f} s per round (both paths pay it); batching can reach at most "
                  f"{min(r['seconds']['one_by_one'] for r in results) / encoding:.1f}x (greedy) to "
                  f"{slowest / encoding:.1f}x (slowest decoding) here")
    if args.output:
        from jaqg.io import write_json
        write_json(args.output, {"model": args.model_name_or_path or f"tiny-{args.arch}-{args.size}",
                                 "n_inputs": len(inputs), "max_new_tokens": args.max_new_tokens,
                                 "threads": torch.get_num_threads(), "precision": args.precision, "results": results})
    return 0


if __name__ == "__main__":
    run_cli(main)
