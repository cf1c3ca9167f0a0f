"""LoRA adapters (peft) for fine-tuning large models: wrap, report the trainable share, save, merge.

Default target modules come from the model's ``config.model_type`` through peft's own table (GPT-2 ``c_attn``,
LLaMA/Qwen/Mistral ``q_proj v_proj``, GPT-NeoX ``query_key_value``, ...). GPT-2 implements its projections as
``Conv1D`` (weight stored transposed), which LoRA must know: ``fan_in_fan_out`` is set from the module type found,
never from a model name.
"""

from __future__ import annotations

import torch

from ..core.errors import UserError


def default_target_modules(model) -> list[str]:
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = model.config.model_type
    if model_type not in DEFAULTS:
        raise UserError(f"no default LoRA target modules for model_type {model_type!r}; pass "
                        "`lora_target_modules` with the names of its attention projections (e.g. q_proj v_proj)")
    return list(DEFAULTS[model_type])


def add_lora(model, r: int, alpha: float, dropout: float = 0.05, target_modules: list[str] | None = None):
    """Freeze ``model`` and wrap it with LoRA adapters of rank ``r`` on ``target_modules`` (peft PeftModel)."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers.pytorch_utils import Conv1D

    targets = list(target_modules or default_target_modules(model))
    matched = [m for name, m in model.named_modules() if name.rsplit(".", 1)[-1] in targets]
    if not matched:
        raise UserError(f"`lora_target_modules` {' '.join(targets)} matches no layer of this "
                        f"{model.config.model_type} model; pick names from its named_modules()")
    config = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM if model.config.is_encoder_decoder else TaskType.CAUSAL_LM,
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in matched))
    return get_peft_model(model, config)


def is_lora(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def trainable_share(model: torch.nn.Module) -> str:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.3f}%)"


def load_causal_lm(name_or_path: str, dtype: torch.dtype = torch.float32):
    """A causal LM from a hub name or dir; a dir holding a LoRA adapter loads its base model plus the adapter.

    fp32 unless told: transformers 5 otherwise loads a checkpoint in the dtype it was saved in (often bf16/fp16),
    and full fine-tuning needs fp32 master weights.
    """
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{name_or_path}: cannot load a causal LM ({first}); pass a GPT-style model (hub name, "
                        "make_tiny_model.py `arch` gpt2 dir, or a run_clm.py output_dir)") from None
