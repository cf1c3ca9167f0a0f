"""Reinforcement from QA feedback for causal LMs on chat data: TRL's GRPOTrainer (Shao et al. 2024, DeepSeekMath,
group-relative advantages) with LoRA and jaqg's own reward components (``jaqg train-grpo``).

Data: a chat data dir (``prepare_jsquad_aqg.py --highlight --format chat``, or ``aqg`` chat data): each line's
``messages[:-1]`` is the prompt, its last (assistant) turn the reference question; the answer and passage a
question is judged against are read back from the user turn with the data dir's task and instruction template
(jaqg.training.rewards.input_parser). Rewards: one TRL reward function per component of ``reward``
(jaqg.training.rewards.COMPONENTS: one implementation, shared with ``--loss scst``), weighted by TRL's
``reward_weights``, plus ``degenerate`` at weight 0 (logged, not rewarded). TRL logs each function's mean as
``rewards/NAME/mean``; ``logs/metrics.csv`` gets them as ``reward_NAME`` beside ``reward`` (the weighted total),
``kl``, ``train_loss`` and ``completion_length``, and ``reward_curves.png`` is drawn from it.

Output: the LoRA adapter merged into the base weights, saved with ``save_pretrained`` and the tokenizer,
atomically, with ``run_config.json``; TRL's checkpoints under ``checkpoints/``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import torch

from ..core.config import option
from ..core.errors import ParamError, UserError
from ..core.io import atomic_dir, read_json, read_lines, write_json
from ..data.chat_sft import parse_prompt_line
from ..evaluation.roundtrip import load_qa_model
from ..models.lora import default_target_modules, load_causal_lm, trainable_share
from ..tokenization.hub import load_tokenizer
from .log import MetricsLog, plot_reward_curves
from .rewards import COMPONENTS, DEFAULT_REWARDS, RewardItem, degenerate, input_parser, parse_rewards


@dataclass
class GrpoConfig:
    """The settings of ``jaqg train-grpo`` (flags of the same names)."""
    model_name_or_path: Optional[str] = option(None, help="the supervised causal LM to start from (hub name or "
                                                          "dir, e.g. a run_clm.py chat SFT output_dir)")
    data_dir: Optional[str] = option(None, help="chat data dir: train.jsonl (dev.jsonl optional) and "
                                                "prepare_report.json (task aqg or aqg_hl)")
    output_dir: str = option("model_grpo", help="where the merged model, logs and reward curves go")
    reward: list[str] = option(DEFAULT_REWARDS, help="reward components NAME:WEIGHT (qa_f1, hallucination, "
                                                     "fragment, "
                                                     "leakage, form, ref_f1; negative = a penalty)")
    qa_model: Optional[str] = option(None, help="frozen QA model dir answering the generated questions (qa_f1)")
    num_generations: int = option(4, help="completions sampled per prompt (the GRPO group)")
    max_completion_length: int = option(48, help="tokens generated per completion")
    beta: float = option(0.04, help="weight of the KL penalty to the starting model (0 = off: no reference copy)")
    temperature: float = option(1.0, help="sampling temperature of the completions")
    learning_rate: float = option(1e-5, help="peak learning rate")
    per_device_train_batch_size: int = option(8, help="completions per device and step (a multiple of "
                                                      "num_generations)")
    gradient_accumulation_steps: int = option(1, help="steps accumulated per optimizer update")
    max_steps: int = option(100, help="optimizer steps")
    logging_steps: int = option(5, help="log every N steps")
    save_steps: int = option(500, help="TRL checkpoint every N steps")
    max_train_samples: Optional[int] = option(None, help="use only the first N training prompts")
    lora_r: int = option(8, help="LoRA rank (0 = full fine-tuning)")
    lora_alpha: float = option(16.0, help="LoRA alpha")
    lora_dropout: float = option(0.05, help="LoRA dropout")
    lora_target_modules: Optional[list[str]] = option(None, help="module names to adapt (default: peft's "
                                                                 "table for the model type)")
    seed: int = option(42, help="random seed")
    overwrite_output_dir: bool = option(False, help="replace an existing output_dir")


def read_prompts(path: Path, parse, limit: int | None = None) -> list[dict]:
    """Chat JSONL -> TRL rows ``{prompt: messages[:-1], answer, passage, reference}``; UserError naming the line
    of a row that is not a conversation ending in an assistant turn after a user turn."""
    rows = []
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            messages = parse_prompt_line(line, lineno, path).messages
        except ValueError as e:
            raise UserError(f"{path}:{lineno}: {e}; expected {{\"messages\": [..., user, assistant]}} (the "
                            "prompt, then the reference question as the last assistant turn); fix or remove this "
                            "line") from None
        answer, passage = parse(messages[-2]["content"])
        if not answer:
            raise UserError(f"{path}:{lineno}: no answer found in the user turn with the data dir's instruction "
                            "template (prepare_report.json); prepare the data with prepare_jsquad_aqg.py")
        rows.append({"prompt": messages[:-1], "answer": answer, "passage": passage,
                     "reference": messages[-1]["content"]})
        if limit and len(rows) >= limit:
            break
    return rows


def completion_text(completion) -> str:
    """TRL hands a conversational completion as [{"role": "assistant", "content": ...}], a plain one as text."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict)).strip()
    return str(completion).strip()


def reward_functions(weights: list[tuple[str, float]], judges: dict) -> tuple[list, list[float]]:
    """One TRL reward function per component (named after it, as TRL logs ``rewards/NAME/mean``) and their
    weights; ``degenerate`` is appended with weight 0 (logged only)."""
    def make(name: str):
        def fn(completions, answer, passage, reference, **_):
            items = [RewardItem(a, p, r) for a, p, r in zip(answer, passage, reference)]
            return COMPONENTS[name]([completion_text(c) for c in completions], items, judges)
        fn.__name__ = name
        return fn

    def degenerate_share(completions, answer, passage, reference, **_):
        return [float(degenerate(completion_text(c), RewardItem(a, p, r)))
                for c, a, p, r in zip(completions, answer, passage, reference)]
    degenerate_share.__name__ = "degenerate"
    return [make(name) for name, _ in weights] + [degenerate_share], [w for _, w in weights] + [0.0]


def log_row(logs: dict) -> dict:
    """TRL's log keys -> metrics.csv columns (``rewards/qa_f1/mean`` -> ``reward_qa_f1``, ``loss`` ->
    ``train_loss``, the degenerate function's mean -> ``degenerate``)."""
    row = {}
    for key, value in logs.items():
        if not isinstance(value, (int, float)):
            continue
        if key.startswith("rewards/") and key.endswith("/mean"):
            name = key[len("rewards/"):-len("/mean")]
            row["degenerate" if name == "degenerate" else f"reward_{name}"] = value
        elif key in ("reward", "reward_std", "kl", "entropy", "learning_rate", "grad_norm"):
            row[key] = value
        elif key == "loss":
            row["train_loss"] = value
        elif key == "completions/mean_length":
            row["completion_length"] = value
    return row


def check_config(config: GrpoConfig) -> None:
    for name in ("model_name_or_path", "data_dir"):
        if not getattr(config, name):
            raise ParamError(name, "is required")
    if config.num_generations < 2:
        raise ParamError("num_generations", f"must be at least 2 (GRPO compares completions within a group), got "
                                            f"{config.num_generations}")
    if config.per_device_train_batch_size % config.num_generations:
        raise ParamError("per_device_train_batch_size", f"{config.per_device_train_batch_size} must be a multiple "
                                                        f"of `num_generations` {config.num_generations}")
    out = Path(config.output_dir)
    if out.exists() and any(out.iterdir()) and not config.overwrite_output_dir:
        raise UserError(f"{out}: exists and is not empty; pass `overwrite_output_dir` or another `output_dir`")


def train_grpo(config: GrpoConfig) -> Path:
    """Run GRPO with TRL and write ``output_dir`` (see the module docstring); returns it."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import GRPOConfig as TrlConfig
    from trl import GRPOTrainer

    check_config(config)
    weights = parse_rewards(config.reward)
    data_dir = Path(config.data_dir)
    report_path = data_dir / "prepare_report.json"
    if not (data_dir / "train.jsonl").is_file() or not report_path.is_file():
        raise UserError(f"{data_dir}: no train.jsonl and prepare_report.json; prepare chat data with "
                        "prepare_jsquad_aqg.py --highlight --format chat")
    info = read_json(report_path)
    if info.get("format") != "chat":
        raise ParamError("data_dir", f"{data_dir} holds {info.get('format')!r} data; train-grpo takes chat data")
    parse = input_parser(info.get("task"), info.get("template"))
    rows = read_prompts(data_dir / "train.jsonl", parse, config.max_train_samples)
    needs_qa = any(name == "qa_f1" for name, _ in weights)
    if needs_qa and not config.qa_model:
        raise ParamError("qa_model", "the `qa_f1` reward needs a QA model dir; pass one, or drop qa_f1 from `reward`")
    judges = {"qa": load_qa_model(config.qa_model, device="cpu" if not torch.cuda.is_available() else "cuda")
              if needs_qa else None}
    functions, reward_weights = reward_functions(weights, judges)

    tokenizer = load_tokenizer(config.model_name_or_path, causal=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{config.model_name_or_path}: its tokenizer has no chat template; start from a chat model "
                        "or a run_clm.py chat SFT output_dir")
    model = load_causal_lm(config.model_name_or_path)
    peft_config = None
    if config.lora_r > 0:
        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                 target_modules=config.lora_target_modules or default_target_modules(model),
                                 task_type="CAUSAL_LM")
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "run_config.json", {**asdict(config), "data": info, "trainer": "trl.GRPOTrainer"})
    metrics = MetricsLog(out / "logs" / "metrics.csv")

    class ToCsv(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            row = log_row(logs or {})
            if row:
                metrics.log(state.global_step, int(state.epoch or 0), **row)

    args = TrlConfig(output_dir=str(out / "checkpoints"), learning_rate=config.learning_rate,
                     per_device_train_batch_size=config.per_device_train_batch_size,
                     gradient_accumulation_steps=config.gradient_accumulation_steps,
                     num_generations=config.num_generations, max_completion_length=config.max_completion_length,
                     beta=config.beta, temperature=config.temperature, max_steps=config.max_steps,
                     logging_steps=config.logging_steps, save_steps=config.save_steps, seed=config.seed,
                     reward_weights=reward_weights, report_to="none", use_cpu=not torch.cuda.is_available(),
                     disable_tqdm=True)
    trainer = GRPOTrainer(model=model, reward_funcs=functions, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=tokenizer, peft_config=peft_config, callbacks=[ToCsv()])
    print(trainable_share(trainer.model))
    trainer.train()
    policy = trainer.model
    merged = policy.merge_and_unload() if peft_config is not None else policy
    with atomic_dir(out / "model") as staging:
        merged.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    for path in (out / "model").iterdir():  # the model files at the top of output_dir, as train.py's
        path.replace(out / path.name)
    (out / "model").rmdir()
    plot_reward_curves(out / "logs" / "metrics.csv", out / "reward_curves.png")
    print(json.dumps({k: v for k, v in (metrics.rows[-1] if metrics.rows else {}).items()}, ensure_ascii=False))
    return out
