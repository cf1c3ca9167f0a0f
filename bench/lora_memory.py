"""Check docs/recipes.md's 7B LoRA memory table against a measured run: Swallow-7b's layer shape, fewer layers.

    python bench/lora_memory.py [--layers 2] [--tokens 1024] [--rank 8]

A LlamaForCausalLM with tokyotech-llm/Swallow-7b-hf's published per-layer shape (width 4,096, 32 heads, MLP 11,008,
vocabulary 43,176; jaqg.models.standins_llm.SWALLOW_CONFIG) but ``--layers`` layers (the whole 32 do not fit this
machine's memory next to its neighbours), random bf16 weights, LoRA rank ``--rank`` on q_proj / v_proj (fp32
adapters, jaqg.models.lora.add_lora), gradient checkpointing, one training step on one ``--tokens``-token sequence
on CPU. Memory is the process's resident set (Linux /proc and ru_maxrss): after the model is built, and the peak
over the step; the table's arithmetic for the same shape is printed beside the measured numbers.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jaqg.cli.args import arg, parse_args  # noqa: E402
from jaqg.models.lora import add_lora  # noqa: E402
from jaqg.models.standins_llm import SWALLOW_CONFIG  # noqa: E402
from jaqg.training.objectives import cross_entropy, logits_and_labels  # noqa: E402

GB = 1e9


@dataclass
class Args:
    layers: int = arg(2, help="decoder layers (Swallow-7b has 32)")
    tokens: int = arg(1024, help="tokens in the step's one sequence")
    rank: int = arg(8, help="LoRA rank on q_proj / v_proj")
    threads: int = arg(1, help="torch threads")


def rss() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / GB


def peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB


def main() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM
    args = parse_args(Args)
    torch.set_num_threads(args.threads)
    config = LlamaConfig(**{k: v for k, v in SWALLOW_CONFIG.items() if k != "architectures"})
    config.num_hidden_layers = args.layers
    d, v, t, layers = config.hidden_size, config.vocab_size, args.tokens, args.layers
    before = rss()
    torch.manual_seed(0)
    model = LlamaForCausalLM._from_config(config, dtype=torch.bfloat16)
    model = add_lora(model, args.rank, 2.0 * args.rank, 0.0)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    model.train()
    loaded = rss()
    n_params = sum(p.numel() for p in model.parameters())
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ids = torch.randint(0, v, (1, t))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    logits, labels = logits_and_labels(model, batch)
    loss = cross_entropy(logits, labels)
    loss.backward()
    optimizer.step()
    step_peak = peak()
    predicted = {
        "frozen base weights, bf16": (n_params - n_lora) * 2,
        "LoRA weights + grads + AdamW m, v (fp32)": n_lora * 16,
        "activations kept by checkpointing": layers * t * d * 2,
        "one layer recomputed in backward (~34*T*d)": 34 * t * d,
        "fp32 logits for the loss (x3)": t * v * 4 * 3,
    }
    print(f"shape: Swallow-7b layers (d {d}, MLP {config.intermediate_size}, vocabulary {v}) x {layers}; "
          f"{n_params / 1e6:.0f}M parameters, LoRA r={args.rank}: {n_lora:,}; one step of {t} tokens, bf16, "
          f"gradient checkpointing; loss {float(loss):.3f}")
    for what, size in predicted.items():
        print(f"  predicted {what:<48} {size / GB:7.3f} GB")
    weights = predicted["frozen base weights, bf16"] + predicted["LoRA weights + grads + AdamW m, v (fp32)"]
    step = sum(predicted.values()) - weights
    print(f"measured: model built {loaded - before:.3f} GB (predicted weights {weights / GB:.3f}); "
          f"peak over the step {step_peak - loaded:.3f} GB above that (predicted {step / GB:.3f}); "
          f"process peak {step_peak:.3f} GB")


if __name__ == "__main__":
    main()
