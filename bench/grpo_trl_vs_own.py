"""GRPO on a causal LM with LoRA: one step of TRL's GRPOTrainer against the same step written as our own loop
would run it (the scst objective's recipe for a decoder-only model), on the same tiny model, prompts and rewards.

    python bench/grpo_trl_vs_own.py --model_name_or_path tiny_qwen --data_dir data_chat [--steps 6] [--prompts 2]
        [--num_generations 4] [--max_completion_length 16] [--which trl|own]

Each variant runs in this process alone (pass --which, one process per variant, so peak RSS is its own): the
reward mix is ref_f1:1 form:0.5 leakage:-1.5 hallucination:-0.5 (no QA model: the judge's cost is the same for
both), one thread, LoRA r=8 on q_proj/v_proj, KL to the start (TRL: beta 0.04 with the adapter disabled for the
reference; own: the k3 estimate, the adapter disabled too). Prints the median seconds per optimizer step after the
first (warm-up) and the peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jaqg.core.io import read_json  # noqa: E402
from jaqg.training.grpo import GrpoConfig, read_prompts, reward_functions  # noqa: E402
from jaqg.training.rewards import RewardItem, input_parser, parse_rewards, score  # noqa: E402

REWARDS = ["ref_f1:1", "form:0.5", "leakage:-1.5", "hallucination:-0.5"]


def own(config: GrpoConfig, rows: list[dict], steps: int, prompts: int) -> list[float]:
    """GRPO as our loop would do it: sample a group per prompt, group-normalised advantages, policy gradient on the
    completion tokens' log-probabilities, k3 KL to the adapter-disabled start; AdamW on the LoRA weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(config.model_name_or_path, padding_side="left")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32),
                           LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                                      task_type="CAUSAL_LM"))
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    weights, k = parse_rewards(REWARDS), config.num_generations
    times = []
    for step in range(steps):
        start = time.perf_counter()
        batch = rows[step * prompts:(step + 1) * prompts]
        texts = [tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in batch]
        enc = tok(texts, return_tensors="pt", padding=True)
        model.eval()
        with torch.no_grad():
            seqs = model.generate(**enc, do_sample=True, num_return_sequences=k, top_k=0, top_p=1.0,
                                  max_new_tokens=config.max_completion_length, pad_token_id=tok.pad_token_id)
        model.train()
        completion = seqs[:, enc["input_ids"].shape[1]:]
        eos = (completion == tok.eos_token_id).int()
        keep = ((eos.cumsum(-1) - eos) == 0) & (completion != tok.pad_token_id)
        questions = tok.batch_decode(completion.masked_fill(~keep, tok.pad_token_id), skip_special_tokens=True)
        items = [RewardItem(r["answer"], r["passage"], r["reference"]) for r in batch for _ in range(k)]
        rewards = torch.tensor(score(questions, items, weights)[0]).view(-1, k)
        adv = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).flatten()
        mask = torch.cat([enc["attention_mask"].repeat_interleave(k, 0), keep.long()], 1)

        def logps(m):
            logits = m(input_ids=seqs, attention_mask=mask).logits[:, enc["input_ids"].shape[1] - 1:-1]
            return logits.float().log_softmax(-1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)
        logp = logps(model)
        with torch.no_grad(), model.disable_adapter():
            ref = logps(model)
        d = (ref - logp) * keep
        kl = ((d.exp() - d - 1) * keep).sum(1) / keep.sum(1).clamp(min=1)
        pg = -(adv[:, None] * logp * keep).sum(1) / keep.sum(1).clamp(min=1)
        loss = (pg + config.beta * kl).mean()
        loss.backward()
        optim.step()
        optim.zero_grad()
        times.append(time.perf_counter() - start)
    return times


def trl(config: GrpoConfig, rows: list[dict], steps: int, prompts: int) -> list[float]:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    times, last = [], [time.perf_counter()]

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

    functions, reward_weights = reward_functions(parse_rewards(REWARDS), {})
    args = GRPOConfig(output_dir="/tmp/grpo_bench", learning_rate=1e-5,
                      per_device_train_batch_size=prompts * config.num_generations,
                      num_generations=config.num_generations, max_completion_length=config.max_completion_length,
                      beta=config.beta, max_steps=steps, logging_steps=1000, save_strategy="no", seed=0,
                      reward_weights=reward_weights, report_to="none", use_cpu=True, disable_tqdm=True)
    trainer = GRPOTrainer(model=AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype=torch.float32),
                          reward_funcs=functions, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=AutoTokenizer.from_pretrained(config.model_name_or_path),
                          peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                                 target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
                          callbacks=[Clock()])
    last[0] = time.perf_counter()
    trainer.train()
    return times


def main() -> None:
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--model_name_or_path", required=True)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--which", choices=["trl", "own"], required=True)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--num_generations", type=int, default=4)
    p.add_argument("--max_completion_length", type=int, default=16)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = GrpoConfig(model_name_or_path=a.model_name_or_path, data_dir=a.data_dir,
                        num_generations=a.num_generations, max_completion_length=a.max_completion_length)
    info = read_json(Path(a.data_dir) / "prepare_report.json")
    rows = read_prompts(Path(a.data_dir) / "train.jsonl", input_parser(info["task"], info["template"]),
                        limit=a.steps * a.prompts * 2)
    times = (trl if a.which == "trl" else own)(config, rows, a.steps, a.prompts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{a.which}: {len(times)} steps, median {statistics.median(times[1:]):.3f} s/step after the first "
          f"({1 / statistics.median(times[1:]):.2f} steps/s); peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
