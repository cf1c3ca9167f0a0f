"""Where batched generation goes: encoder, decoder forwards, and transformers' generate loop around them.

    python bench/profile_generate.py [--size tiny|t5-small] [--batch_size 16] [--max_new_tokens 24]

One batch of real-length AQG-HL inputs (JSQuAD valid when present), one thread, CPU seconds (median of 5):
(1) model.generate greedy, (2) the same tokens from a bare loop: encoder once, then one cached decoder forward per
token with argmax (checked equal to (1)), (3) the encoder alone, and torch.profiler's top operators of (1).
The gap (1) - (2) is generate's own per-step work (logits processors, stopping criteria, cache and input
bookkeeping) that a leaner loop could remove; (2) - (3) is the decoder's model code.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402

from jaqg.cli.args import arg, parse_args  # noqa: E402


@dataclass
class Args:
    size: str = arg("tiny", help="tiny or t5-small (shape, random weights)", choices=["tiny", "t5-small"])
    batch_size: int = arg(16, help="inputs in the batch")
    max_new_tokens: int = arg(24, help="tokens generated (all of them)")
    jsquad: str = arg(str(ROOT.parent / "shared" / "jsquad" / "valid-v1.3.json"), help="JSQuAD JSON")


def main() -> None:
    args = parse_args(Args)
    torch.set_num_threads(1)
    from generate_throughput import jsquad_inputs
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    from jaqg.generation.decoding import load_model
    from jaqg.models.tiny import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="profile_generate_"))
    inputs, corpus, described = jsquad_inputs(args.batch_size, Path(args.jsquad), work / "jsquad")
    model_dir = build_tiny_model(corpus, work / "model", arch="t5")
    if args.size == "t5-small":
        from transformers import T5Config, T5ForConditionalGeneration
        config = T5Config.from_pretrained(model_dir)
        config.update(dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8))
        torch.manual_seed(0)
        T5ForConditionalGeneration(config).save_pretrained(model_dir)
    model, tokenizer = load_model(str(model_dir), device="cpu")
    enc = tokenizer(inputs, return_tensors="pt", padding=True)
    n = args.max_new_tokens
    fixed = dict(max_new_tokens=n, min_new_tokens=n, do_sample=False, num_beams=1)

    def hf():
        return model.generate(**enc, **fixed)

    def bare():
        encoder_out = model.get_encoder()(**enc)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        tokens = torch.full((len(inputs), 1), model.config.decoder_start_token_id)
        for _ in range(n):
            logits = model(encoder_outputs=encoder_out, attention_mask=enc["attention_mask"],
                           decoder_input_ids=tokens[:, -1:], past_key_values=cache, use_cache=True).logits
            scores = logits[:, -1]
            scores[:, model.config.eos_token_id] = float("-inf")  # min_new_tokens, as in (1)
            tokens = torch.cat([tokens, scores.argmax(-1, keepdim=True)], dim=1)
        return tokens

    def encoder():
        return model.get_encoder()(**enc)

    def cpu_seconds(fn, reps=5):
        times = []
        for _ in range(reps):
            t = time.process_time()
            with torch.inference_mode():
                fn()
            times.append(time.process_time() - t)
        return statistics.median(times)

    with torch.inference_mode():
        same = torch.equal(hf(), bare())
    t_hf, t_bare, t_enc = cpu_seconds(hf), cpu_seconds(bare), cpu_seconds(encoder)
    print(f"{described}; {args.size} T5, batch {len(inputs)} (input {enc['input_ids'].shape[1]} tokens padded), "
          f"{n} new tokens, 1 thread, CPU seconds (median of 5):")
    print(f"  model.generate greedy        {t_hf:.4f}")
    print(f"  bare loop (same tokens: {same}) {t_bare:.4f}   generate's own work: {t_hf - t_bare:.4f} "
          f"({100 * (t_hf - t_bare) / t_hf:.0f}%), {1000 * (t_hf - t_bare) / n:.2f} ms per step")
    print(f"  encoder alone                {t_enc:.4f}   decoder forwards: {t_bare - t_enc:.4f} "
          f"({1000 * (t_bare - t_enc) / n:.2f} ms per step)")
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.inference_mode():
        hf()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=40))


if __name__ == "__main__":
    main()
