"""Question generation speed (questions per CPU-second): predict.py's batched path against transformers' own batched
``model.generate`` on the same batches, and (extra line) the seed's one-input-per-call pipeline.

    python bench/generate_throughput.py [--n_inputs 64] [--batch_size 16] [--size tiny|small|t5-small] [--rounds 3]
    python bench/generate_throughput.py --model_name_or_path model_jsquad_aqg

- ours:         jaqg.generation.decoding.generate (what predict.py, generate.py and train.py --do_eval run):
                tokenize once, batches of --batch_size sorted by length, inference_mode, KV cache, beam-shared
                cross-attention;
- hf_generate:  what a user would write: the same length-sorted batches, ``tokenizer(batch, padding=True)`` ->
                ``model.generate(**enc, num_beams=...)`` -> ``batch_decode``, under inference_mode;
- one_by_one:   the seed's pipeline style, batch size 1 (``--one_by_one``; slow at real lengths).
Inputs: AQG-HL inputs (answer highlighted in the context) built from real JSQuAD (``--jsquad``, default
../shared/jsquad/valid-v1.3.json; synthetic JSQuAD when absent). Every output is exactly --max_new_tokens long
(min_new_tokens) so an untrained model's early end-of-text cannot flatter either side. Time is CPU time of this
process (time.process_time; the machine is shared, wall time mostly measures the neighbours; on a GPU, wall time
after a synchronize), one torch thread by default; after an untimed warm-up call of each, methods run interleaved
(the order alternating between rounds), --rounds times, and the table shows the median round and the spread (min-
max) of the per-round ratios. For a seq2seq model it also times the encoder alone over the same batches: both sides
encode the same tokens, so (hf time) / (encoder time) bounds what any decoding loop can reach.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jaqg.cli.args import (  # noqa: E402
    arg,
    parse_args,
    run_cli,  # noqa: E402
)
from jaqg.data.formats import GPT_SEP  # noqa: E402
from jaqg.generation.decoding import generate, load_model  # noqa: E402
from jaqg.generation.inputs import question_input  # noqa: E402


@dataclass
class Args:
    """Questions/s of batched generation vs one-at-a-time generation on the same model and inputs."""
    model_name_or_path: Optional[str] = arg(None, help="model to time (default: a fresh make_tiny_model T5)")
    size: str = arg("tiny", help="make_tiny_model size when no model is given (t5-small: its shape, random "
                    "weights, the character vocabulary)", choices=["tiny", "small", "t5-small"])
    arch: str = arg("t5", help="make_tiny_model arch when no model is given", choices=["t5", "bart", "gpt2"])
    n_inputs: int = arg(64, help="questions generated per method and round")
    batch_size: int = arg(16, help="batch size of the batched path")
    max_new_tokens: int = arg(24, help="tokens generated per question (all of them)")
    beams: list[int] = arg([1, 4], help="beam sizes to time (1 = greedy)")
    rounds: int = arg(3, help="interleaved rounds")
    jsquad: str = arg(str(ROOT.parent / "shared" / "jsquad" / "valid-v1.3.json"),
                      help="JSQuAD JSON for real-length inputs (synthetic JSQuAD when absent)")
    one_by_one: bool = arg(False, help="also time the seed's one-input-per-call pipeline")
    threads: int = arg(1, help="torch threads for both paths (0 = torch's default, one per core, as predict.py "
                          "uses; the machine is shared)")
    device: str = arg("auto", help="auto | cpu | cuda")
    precision: str = arg("32", help="32 | bf16 | 16, both paths")
    output: Optional[str] = arg(None, help="also write the results as JSON here")
    ct2: list[str] = arg(["float32", "int8"], help="CTranslate2 compute types to time too, each against "
                         "hf_generate (none: --ct2 with no value is not allowed; pass --ct2 none)")


def jsquad_inputs(n: int, source: Path, work: Path) -> tuple[list[str], Path, str]:
    """(AQG-HL inputs, a dir holding the JSQuAD JSON for the tokenizer, a line naming the data)."""
    if source.is_file():
        corpus, described = source.parent, f"AQG-HL inputs from {source}"
    else:
        from jaqg.data.synthetic import write_synthetic_jsquad
        corpus, described = work, f"AQG-HL inputs from synthetic JSQuAD ({source} is absent)"
        write_synthetic_jsquad(work, n_train=max(n, 50), n_valid=10, seed=0)
        source = work / "train-v1.3.json"
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    items = [(qa["answers"][0]["text"], p["context"]) for a in data for p in a["paragraphs"] for qa in p["qas"]]
    inputs = []
    for answer, context in items:
        try:
            inputs.append(question_input(answer, context, {"task": "aqg_hl"}))
        except ValueError:  # an answer that normalization moved out of the context
            continue
        if len(inputs) == n:
            break
    return inputs, corpus, described


def seconds_now(device) -> float:
    """CPU time of this process; on a GPU, wall time after the queued kernels finish."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def hf_generate(model, tokenizer, inputs: list[str], batch_size: int, **kw) -> list[str]:
    """transformers' batched generate on the batches ours uses (length-sorted, longest first)."""
    order = sorted(inputs, key=lambda x: -len(tokenizer(x)["input_ids"]))
    outputs = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "right" if model.config.is_encoder_decoder else "left"  # a decoder continues the prompt
    try:
        for i in range(0, len(order), batch_size):
            enc = tokenizer(order[i:i + batch_size], return_tensors="pt", padding=True, truncation=True,
                            max_length=512).to(model.device)
            outputs += tokenizer.batch_decode(model.generate(**enc, **kw), skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return outputs


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
    start = seconds_now(model.device)
    with torch.inference_mode():
        for i in range(0, len(ordered), batch_size):
            enc = tokenizer(ordered[i:i + batch_size], return_tensors="pt", padding=True, truncation=True,
                            max_length=512).to(model.device)
            model.get_encoder()(**enc)
    return seconds_now(model.device) - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs, corpus, described = jsquad_inputs(args.n_inputs, Path(args.jsquad), work / "jsquad")
        model_dir = args.model_name_or_path
        if model_dir is None:
            from jaqg.models.tiny import build_tiny_model
            size = "tiny" if args.size == "t5-small" else args.size
            model_dir = str(build_tiny_model(corpus, work / "model", arch=args.arch, size=size))
            if args.size == "t5-small":
                from transformers import T5Config, T5ForConditionalGeneration
                config = T5Config.from_pretrained(model_dir)
                config.update(dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8))
                torch.manual_seed(0)
                T5ForConditionalGeneration(config).save_pretrained(model_dir)
        model, tokenizer = load_model(model_dir, device=args.device, precision=args.precision)
        n_params = sum(p.numel() for p in model.parameters())
        lengths = sorted(len(x) for x in tokenizer(inputs)["input_ids"])
        print(f"{described}: {len(inputs)} inputs, tokens median {lengths[len(lengths) // 2]} (max {lengths[-1]}); "
              f"model {args.model_name_or_path or f'{args.arch} ({args.size})'}: {n_params / 1e6:.1f}M params; "
              f"{args.max_new_tokens} new tokens each, batch {args.batch_size}, {torch.get_num_threads()} "
              f"thread(s), device {model.device}, {model.dtype}")
        fixed = dict(max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens)
        ct2_models = {f"ct2_{t}": load_model(model_dir, device=args.device, backend="ctranslate2", ct2_compute_type=t,
                                             threads=max(args.threads, 1))[0]
                      for t in args.ct2 if t != "none"}
        results = []
        for beams in args.beams:
            methods = {
                "ours": lambda: generate(model, tokenizer, inputs, batch_size=args.batch_size, num_beams=beams,
                                         **fixed),
                "hf_generate": lambda: hf_generate(model, tokenizer, inputs, args.batch_size, num_beams=beams,
                                                   do_sample=False, **fixed),
            }
            for name, ct2_model in ct2_models.items():  # the same inputs, batches, lengths; our tokenizer
                methods[name] = lambda m=ct2_model: generate(m, tokenizer, inputs, batch_size=args.batch_size,
                                                             num_beams=beams, **fixed)
            if args.one_by_one:
                methods["one_by_one"] = lambda: one_by_one(model, tokenizer, inputs, num_beams=beams,
                                                           do_sample=False, **fixed)
            timings = {name: [] for name in methods}
            with torch.inference_mode():  # untimed: the first call of each pays one-off allocations
                generate(model, tokenizer, inputs[:args.batch_size], batch_size=args.batch_size, num_beams=beams,
                         **fixed)
                hf_generate(model, tokenizer, inputs[:args.batch_size], args.batch_size, num_beams=beams,
                            do_sample=False, **fixed)
                for ct2_model in ct2_models.values():
                    generate(ct2_model, tokenizer, inputs[:args.batch_size], batch_size=args.batch_size,
                             num_beams=beams, **fixed)
            for r in range(args.rounds):
                names = list(methods) if r % 2 == 0 else list(methods)[::-1]  # alternate who goes first
                for name in names:
                    run = methods[name]
                    start = seconds_now(model.device)
                    with torch.inference_mode():
                        run()
                    timings[name].append(seconds_now(model.device) - start)
            rate = {name: len(inputs) / statistics.median(seconds) for name, seconds in timings.items()}
            per_round = {name: [theirs / mine for mine, theirs in zip(timings["ours"], seconds)]
                         for name, seconds in timings.items() if name != "ours" and name not in ct2_models}
            results.append({"num_beams": beams, "batch_size": args.batch_size, "questions_per_cpu_s": rate,
                            "cpu_seconds": timings, "per_round_speedups": per_round})
            decoding = "greedy" if beams == 1 else f"beam {beams}"
            target = 1.2 if beams == 1 else 2.0
            line = f"{decoding:>8}: ours {rate['ours']:7.2f} q/CPU-s"
            for name, ratios in per_round.items():
                line += (f" | {name} {rate[name]:7.2f} q/CPU-s, ours is {statistics.median(ratios):.2f}x "
                         f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x)")
            print(line + f"; target vs hf_generate {target}x", flush=True)
            for name in ct2_models:  # CTranslate2 against what a user would write: batched model.generate
                ratios = [hf / mine for mine, hf in zip(timings[name], timings["hf_generate"])]
                r = results[-1]
                r.setdefault("ct2_speedups_vs_hf_generate", {})[name] = ratios
                print(f"{'':>8}  {name} {rate[name]:7.2f} q/CPU-s, {statistics.median(ratios):.2f}x hf_generate "
                      f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x)", flush=True)
        if model.config.is_encoder_decoder:
            from jaqg.models.t5_attention import chunked_attention
            encoding = {"hf": [], "ours": []}
            for _ in range(args.rounds):
                encoding["hf"].append(encoder_seconds(model, tokenizer, inputs, args.batch_size))
                with chunked_attention(model):  # what jaqg.generation.decoding runs (T5 family; others keep theirs)
                    encoding["ours"].append(encoder_seconds(model, tokenizer, inputs, args.batch_size))
            hf_enc, our_enc = min(encoding["hf"]), min(encoding["ours"])
            print(f"encoder alone: {hf_enc:.2f} CPU-s per round on the model's attention, {our_enc:.2f} on ours "
                  f"({hf_enc / our_enc:.2f}x)")
            for r in results:
                hf_best = min(r["cpu_seconds"]["hf_generate"])
                print(f"  beam {r['num_beams']}: with our encoder, a decoder loop costing nothing would reach "
                      f"{hf_best / our_enc:.1f}x hf")
    if args.output:
        from jaqg.core.io import write_json
        write_json(args.output, {"model": args.model_name_or_path or f"tiny-{args.arch}-{args.size}",
                                 "inputs": described, "n_inputs": len(inputs), "max_new_tokens": args.max_new_tokens,
                                 "threads": torch.get_num_threads(), "precision": args.precision, "results": results})
    return 0


if __name__ == "__main__":
    run_cli(main)
