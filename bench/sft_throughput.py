"""Chat SFT speed of run_clm.py's step against TRL's SFTTrainer: whole epochs of the same conversations.

    python bench/sft_throughput.py [--n_examples 128] [--batch_size 8] [--rounds 3] [--block_size 1024]

Data: AQG-HL chat JSONL that prepare_jsquad_aqg.py --highlight --format chat makes from real JSQuAD (``--jsquad``,
default ../shared/jsquad/valid-v1.3.json; synthetic JSQuAD when absent), the first ``--n_examples`` conversations.
Tokenizer: a Qwen2-style byte-level BPE of ``--vocab_size`` pieces trained on that data (the Qwen2.5 stand-in's
layout, so lengths are close to a real vocabulary's) with ChatML plus TRL's ``{% generation %}`` markers; model: a
random tiny Llama (``--hidden_size``, 2 layers). Both sides train on identical labels (assistant content and
``<|im_end|>``; tests/training/test_chat_sft_trl.py checks them token by token) for ONE WHOLE EPOCH per round:
- unpacked: ours = jaqg.data.chat_sft + the dynamic-padding Collator + length-grouped batches of ``--batch_size``
  conversations + jaqg.training's objective/optimizer under Lightning Fabric (bench/train_throughput.epoch_ours);
  TRL = SFTTrainer(assistant_only_loss=True, train_sampling_strategy="group_by_length") with the same batch size;
- packed: ours = --packing (best-fit decreasing rows of ``--block_size``, position ids restarting per example,
  ``--batch_size`` rows a step); TRL = packing=True (its default "bfd" strategy, padding-free rows of max_length =
  ``--block_size``), ``--batch_size`` rows a step.
Time is CPU time of this process from the start of training to the last optimizer step (one torch thread: the
machine is shared); tokens/s counts every token of the epoch's conversations (the same on both sides). Methods run
interleaved, the order alternating between rounds; the table gives each method's median round and the per-round
ratio ours / TRL with its spread (min-max).
"""

from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from train_throughput import clock, epoch_ours  # noqa: E402 (bench/ is this script's dir)

from jaqg.cli.args import arg, parse_args  # noqa: E402


@dataclass
class Args:
    n_examples: int = arg(128, help="conversations in the epoch each method trains on")
    batch_size: int = arg(8, help="conversations (unpacked) or rows (packed) per optimizer step, both sides")
    block_size: int = arg(1024, help="tokens per packed row (TRL's max_length)")
    rounds: int = arg(3, help="interleaved repetitions of every method")
    vocab_size: int = arg(8000, help="BPE vocabulary of the tokenizer trained on the data")
    hidden_size: int = arg(128, help="the tiny Llama's width (2 layers, 4 heads, 2 key-value heads)")
    threads: int = arg(1, help="torch threads (1: CPU time measures work on a shared machine)")
    jsquad: str = arg(str(ROOT.parent / "shared" / "jsquad" / "valid-v1.3.json"),
                      help="a JSQuAD JSON to prepare chat data from (synthetic JSQuAD when the file is absent)")
    work_dir: str = arg("", help="keep data and tokenizer here (default: a temp dir)")
    modes: list[str] = arg(["unpacked", "packed"], help="which comparisons to run", choices=["unpacked", "packed"])


def prepare(work: Path, args: Args) -> tuple[Path, str]:
    py, data = sys.executable, work / "chat"
    source = Path(args.jsquad)
    if source.is_file():
        described = f"AQG-HL chat JSONL prepared from {source}"
        flags = ["--train_file", source, "--valid_file", source]
    else:
        described = f"AQG-HL chat JSONL from synthetic JSQuAD ({source} is absent)"
        subprocess.run([py, "-m", "jaqg", "make-synthetic-jsquad", "--output_dir", work / "jsquad", "--n_train",
                        "1000", "--n_valid", "50"], check=True, cwd=ROOT, capture_output=True)
        flags = ["--jsquad_dir", work / "jsquad"]
    if not (data / "train.jsonl").exists():
        subprocess.run([py, "prepare_jsquad_aqg.py", "--highlight", "--format", "chat", *flags, "--output_dir", data],
                       check=True, cwd=ROOT, capture_output=True)
    return data, described


def build_tokenizer(data: Path, work: Path, vocab_size: int):
    """The Qwen2.5 stand-in's tokenizer layout, its BPE trained on the chat data, ChatML with generation markers."""
    from jaqg.data.clm_data import load_tokenizer
    from jaqg.models.standins import build_standin
    from jaqg.models.standins_llm import QWEN_CHAT_TEMPLATE_MARKED
    texts = work / "texts"
    texts.mkdir(exist_ok=True)
    lines = [m["content"].replace("\n", " ") for line in open(data / "train.jsonl", encoding="utf-8")
             for m in json.loads(line)["messages"]]
    (texts / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model_dir = work / "qwen_tok"
    if not (model_dir / "config.json").exists():
        build_standin("Qwen/Qwen2.5-0.5B-Instruct", model_dir, data_dir=texts, vocab_size=vocab_size)
    tok = load_tokenizer(str(model_dir))
    tok.chat_template = QWEN_CHAT_TEMPLATE_MARKED
    return tok


def tiny_llama(vocab_size: int, hidden: int):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096)
    config._attn_implementation = "sdpa"
    return LlamaForCausalLM(config)


def epoch_trl(model, tokenizer, conversations: list[dict], args: Args, packed: bool, out_dir: str):
    """One epoch of SFTTrainer; (wall, cpu) at the start and after every optimizer step, and its row count."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer
    times = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            times.append(clock("cpu"))

        def on_step_end(self, *a, **k):
            times.append(clock("cpu"))

    config = SFTConfig(output_dir=out_dir, per_device_train_batch_size=args.batch_size, num_train_epochs=1,
                       learning_rate=1e-4, max_grad_norm=1.0, assistant_only_loss=True, packing=packed,
                       max_length=args.block_size, logging_strategy="no", save_strategy="no", report_to=[],
                       use_cpu=True, disable_tqdm=True, dataloader_num_workers=0, seed=0,
                       **({} if packed else {"train_sampling_strategy": "group_by_length"}))
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(conversations),
                         processing_class=tokenizer, callbacks=[Clock()])
    rows = len(trainer.train_dataset)
    trainer.train()
    return times, rows


def main() -> None:
    args = parse_args(Args)
    torch.set_num_threads(args.threads)
    import logging
    import warnings
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from jaqg.data.batching import Collator, LengthGroupedBatchSampler
    from jaqg.data.chat_sft import pack, read_chat_file, tokenize_chat
    from jaqg.data.clm_data import ClmDataset

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="sft_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    data, described = prepare(work, args)
    tokenizer = build_tokenizer(data, work, args.vocab_size)
    examples, _ = read_chat_file(data / "train.jsonl")
    examples = examples[: args.n_examples]
    train_set = tokenize_chat(examples, tokenizer, args.block_size, "train")
    lengths = sorted(train_set.lengths)
    total = sum(lengths)
    rows, report = pack(train_set.features, args.block_size)
    packed_set = ClmDataset(rows)
    base = tiny_llama(len(tokenizer), args.hidden_size)
    print(f"data: {described}; {len(examples)} conversations, tokens median {lengths[len(lengths) // 2]} "
          f"(min {lengths[0]}, max {lengths[-1]}), {total} in all; tokenizer: Qwen2-style BPE, {len(tokenizer)} "
          f"tokens; model: tiny Llama {sum(p.numel() for p in base.parameters()) / 1e6:.2f}M params, width "
          f"{args.hidden_size}; batch {args.batch_size}; torch threads {args.threads}\n{report}")
    conversations = [{"messages": e.messages} for e in examples]
    padded = {}

    def ours(packed: bool):
        dataset = packed_set if packed else train_set
        collate = Collator(tokenizer.pad_token_id)
        sampler = LengthGroupedBatchSampler(dataset.lengths, args.batch_size, seed=0)
        widths = [max(dataset.lengths[i] for i in b) * len(b) for b in sampler]
        padded[("ours", packed)] = sum(widths) - total
        times = epoch_ours(copy.deepcopy(base), dataset, collate, args.batch_size, "adamw_torch_fused",
                           sampler=sampler)
        return times, len(dataset)

    def trl(packed: bool):
        return epoch_trl(copy.deepcopy(base), tokenizer, conversations, args, packed, str(work / "trl_out"))

    results: dict[str, dict[str, list]] = {}
    for mode in args.modes:
        packed = mode == "packed"
        methods = {"ours": ours, "trl": trl}
        results[mode] = {name: [] for name in methods}
        for r in range(args.rounds):
            for name in (list(methods) if r % 2 == 0 else list(methods)[::-1]):
                times, n_rows = methods[name](packed)
                cpu = times[-1][1] - times[0][1]
                results[mode][name].append((total / cpu, len(times) - 1, n_rows))
                print(f"  {mode} round {r + 1} {name:<5} {total / cpu:8.0f} tokens/CPU-s  {len(times) - 1} steps, "
                      f"{n_rows} rows", flush=True)
    print("\ntokens per CPU-second over a whole epoch (median round); ours / TRL per round (min-max)")
    print(f"{'mode':<10}{'ours tok/s':>12}{'TRL tok/s':>12}{'ours/TRL':>10}{'spread':>14}{'rows ours/TRL':>15}"
          f"{'ours pad tokens':>17}")
    for mode, by in results.items():
        ratios = [o[0] / t[0] for o, t in zip(by["ours"], by["trl"])]
        print(f"{mode:<10}{statistics.median(o[0] for o in by['ours']):>12.0f}"
              f"{statistics.median(t[0] for t in by['trl']):>12.0f}{statistics.median(ratios):>9.2f}x"
              f"{min(ratios):>8.2f}-{max(ratios):.2f}x{by['ours'][0][2]:>8}/{by['trl'][0][2]:<6}"
              f"{padded[('ours', mode == 'packed')]:>17}")


if __name__ == "__main__":
    main()
