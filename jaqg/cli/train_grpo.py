"""Reinforce a causal LM question generator on chat data with TRL's GRPOTrainer, LoRA and jaqg's rewards
(``jaqg train-grpo``; jaqg.training.grpo).

    jaqg train-grpo --model_name_or_path output_chat_sft --data_dir data_jsquad_aqg_hl_chat --qa_model model_qa \\
        --reward qa_f1:1 --reward ref_f1:0.5 --reward leakage:-1.5 --max_steps 200 --output_dir model_grpo
"""

from __future__ import annotations

from dataclasses import dataclass

from ..training.grpo import GrpoConfig, train_grpo
from .args import parse_args


@dataclass
class Args(GrpoConfig):
    """GRPO (TRL) of a chat causal LM question generator with LoRA on jaqg's reward components."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    out = train_grpo(args)
    print(f"model: {out}\nreward curves: {out / 'reward_curves.png'}\nlogs: {out / 'logs' / 'metrics.csv'}")
    return 0
