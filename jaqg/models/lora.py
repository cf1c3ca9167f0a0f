"""LoRA adapters (peft) for fine-tuning large models: wrap, report the trainable share, save, merge.

Default target modules come from the model's ``config.model_type`` through peft's own table (GPT-2 ``c_attn``,
LLaMA/Qwen/Mistral ``q_proj v_proj``, GPT-NeoX ``query_key_value``, ...). GPT-2 implements its projections as
``Conv1D`` (weight stored transposed), which LoRA must know: ``fan_in_fan_out`` is set from the module type found,
never from a model name.

DoRA (``use_dora``: peft's weight-decomposed LoRA, Liu et al. 2024, arXiv:2402.09353) trains a magnitude vector
beside the low-rank update. QLoRA (``load_in_4bit`` / ``load_in_8bit``, Dettmers et al. 2023, arXiv:2305.14314)
loads the frozen base through bitsandbytes (NF4 with double quantization, or LLM.int8) and prepares it with peft's
``prepare_model_for_kbit_training``; it needs a CUDA GPU and bitsandbytes, and is refused in one line before
anything loads otherwise (this path is not exercised on the CPU-only machine this project is tested on).
"""

from __future__ import annotations

import importlib.util

import torch

from ..core.errors import ParamError, UserError
from ..tokenization.hub import refuse_remote_code


def default_target_modules(model) -> list[str]:
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = model.config.model_type
    if model_type not in DEFAULTS:
        raise UserError(f"no default LoRA target modules for model_type {model_type!r}; pass "
                        "`lora_target_modules` with the names of its attention projections (e.g. q_proj v_proj)")
    return list(DEFAULTS[model_type])


def add_lora(model, r: int, alpha: float, dropout: float = 0.05, target_modules: list[str] | None = None,
             use_dora: bool = False, gradient_checkpointing: bool = False):
    """Freeze ``model`` and wrap it with LoRA (or DoRA) adapters of rank ``r`` on ``target_modules`` (peft
    PeftModel). A bitsandbytes-quantized model is first prepared for k-bit training (QLoRA)."""
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training
    from transformers.pytorch_utils import Conv1D

    if getattr(model, "is_quantized", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)

    targets = list(target_modules or default_target_modules(model))
    matched = [m for name, m in model.named_modules() if name.rsplit(".", 1)[-1] in targets]
    if not matched:
        raise UserError(f"`lora_target_modules` {' '.join(targets)} matches no layer of this "
                        f"{model.config.model_type} model; pick names from its named_modules()")
    config = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM if model.config.is_encoder_decoder else TaskType.CAUSAL_LM,
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in matched), use_dora=use_dora)
    return get_peft_model(model, config)


def is_lora(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def trainable_share(model: torch.nn.Module) -> str:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.3f}%)"


def quantization_config(load_in_4bit: bool, load_in_8bit: bool, compute_dtype: torch.dtype, lora_r: int):
    """transformers' ``BitsAndBytesConfig`` for QLoRA (NF4 + double quantization, or 8-bit), or None when neither
    is asked for. UserError, before anything loads, without a CUDA GPU, without bitsandbytes, or without LoRA."""
    if not (load_in_4bit or load_in_8bit):
        return None
    which = "load_in_4bit" if load_in_4bit else "load_in_8bit"
    if load_in_4bit and load_in_8bit:
        raise ParamError("load_in_4bit", "and `load_in_8bit` exclude each other; pass one")
    if not lora_r:
        raise ParamError(which, "trains LoRA adapters on a frozen quantized base; pass `lora_r` too")
    if not torch.cuda.is_available():
        raise UserError(f"`{which}` (QLoRA through bitsandbytes) needs a CUDA GPU and this machine has none; "
                        "on CPU train LoRA without it")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(f"`{which}` needs bitsandbytes, which is not installed: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    if load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def load_causal_lm(name_or_path: str, dtype: torch.dtype = torch.float32, quantization=None,
                   trust_remote_code: bool = False):
    """A causal LM from a hub name or dir; a dir holding a LoRA adapter loads its base model plus the adapter.

    fp32 unless told: transformers 5 otherwise loads a checkpoint in the dtype it was saved in (often bf16/fp16),
    and full fine-tuning needs fp32 master weights. ``quantization`` (``quantization_config``): the weights are
    quantized on the current CUDA device as they load.
    """
    from transformers import AutoModelForCausalLM

    extra = {} if quantization is None else {"quantization_config": quantization,
                                             "device_map": {"": torch.cuda.current_device()}}
    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype, trust_remote_code=trust_remote_code,
                                                    **extra)
    except (OSError, ValueError, KeyError) as e:
        refuse_remote_code(name_or_path, e, trust_remote_code)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{name_or_path}: cannot load a causal LM ({first}); pass a GPT-style model (hub name, "
                        "make_tiny_model.py `arch` gpt2 dir, or a run_clm.py output_dir)") from None
