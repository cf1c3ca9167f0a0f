"""Loading a pretrained model and its tokenizer for fine-tuning."""

from __future__ import annotations

import torch

from ..core.errors import UserError
from ..tokenization.hub import load_tokenizer, refuse_remote_code
from .tiny import ensure_special_tokens


def load_pretrained(name_or_path: str, tokenizer_name_or_path: str | None = None, causal: bool = False,
                    trust_remote_code: bool = False):
    """(model, tokenizer) from a hub name or local dir, fp32; UserError with a hint when it cannot be loaded.

    The tokenizer encodes as the model's SentencePiece model does (jaqg.tokenization.hub), or the run stops;
    <hl> (and <sep>) become single tokens (the embeddings of a pretrained model grow to hold them)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto = AutoModelForCausalLM if causal else AutoModelForSeq2SeqLM
    try:
        # fp32 master weights: transformers 5 otherwise keeps the saved dtype (a bf16 hub model would train in bf16)
        model = auto.from_pretrained(name_or_path, dtype=torch.float32, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        refuse_remote_code(name_or_path, e, trust_remote_code)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{name_or_path}: cannot load a {'causal' if causal else 'seq2seq'} model ({first}); "
                        "pass a local model dir (e.g. from make_tiny_model.py) or a hub name you can reach") from None
    tokenizer = load_tokenizer(tokenizer_name_or_path or name_or_path, causal=causal,
                               trust_remote_code=trust_remote_code)
    ensure_special_tokens(model, tokenizer)
    return model, tokenizer
