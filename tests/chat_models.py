"""Chat models for the chat-inference tests: the Qwen stand-in (ChatML) and a harmony-style variant, and a way to
force what a model writes (``forced``)."""

import shutil
from pathlib import Path

import torch
from conftest import ROOT

from jaqg.generation.decoding import load_model
from jaqg.models.standins import build_standin

# A harmony-style template (gpt-oss; llm-jp-4 writes its turns alike): the assistant's content comes after a channel
# header and before an end marker; the generation prompt only opens the assistant turn.
HARMONY = ("{% for m in messages %}{% if m['role'] == 'assistant' %}"
           "<|start|>assistant<|channel|>final<|message|>{{ m['content'] }}"
           "{% if loop.last %}<|return|>{% else %}<|end|>{% endif %}"
           "{% else %}<|start|>{{ m['role'] }}<|message|>{{ m['content'] }}<|end|>{% endif %}{% endfor %}"
           "{% if add_generation_prompt %}<|start|>assistant{% endif %}")
HARMONY_TOKENS = ["<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|return|>"]


def make_qwen(out: Path) -> Path:
    """The Qwen2.5-Instruct stand-in (ChatML template), random weights."""
    return build_standin("Qwen/Qwen2.5-0.5B-Instruct", out, data_dir=ROOT / "examples" / "jsquad")


def make_harmony(qwen_dir: Path, out: Path) -> Path:
    """The Qwen stand-in with harmony's markers as special tokens and a harmony-style template."""
    shutil.copytree(qwen_dir, out)
    model, tok = load_model(str(out), device="cpu")
    tok.add_special_tokens({"additional_special_tokens": HARMONY_TOKENS})
    tok.chat_template = HARMONY
    model.resize_token_embeddings(len(tok))
    model.generation_config.eos_token_id = [tok.convert_tokens_to_ids("<|return|>"), tok.eos_token_id]
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def forced(model, tok, replies: dict[str, str], seen: dict):
    """Make ``model.generate`` return each row's prompt followed by the tokens of a fixed reply (a model that
    writes exactly this): the reply of the last key the row's prompt holds; remember what it was called with."""
    def fake(input_ids, attention_mask, **kwargs):
        seen.update(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        prompts = [tok.decode(row) for row in input_ids]
        rows = [tok(next(r for k, r in reversed(replies.items()) if k in p), add_special_tokens=False)["input_ids"]
                for p in prompts]
        width = max(map(len, rows))
        pad = kwargs["pad_token_id"]
        new = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new], dim=1)
    model.generate = fake
