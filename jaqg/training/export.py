"""Export of a trained model: the best checkpoint's weights, saved with save_pretrained, atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from ..core.io import FILE_MODE
from ..tokenization.hub import save_tokenizer
from .checkpoint import load_trainable_state_dict
from .config import ConfigError


def load_best_weights(model, checkpoint_path: str | Path) -> None:
    """Put a checkpoint's weights into ``model``; UserError (nothing changed on disk) if any is not finite."""
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    load_trainable_state_dict(model, checkpoint["state_dict"])
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise ConfigError("{where}: the best checkpoint holds non-finite weights ({name}); nothing exported; retrain "
                          "with {precision} 32 or bf16-mixed and a lower {learning_rate}", where=checkpoint_path,
                          name=bad[0])


def save_model_atomically(model, tokenizer, output_dir: Path) -> None:
    """save_pretrained into a temp dir beside output_dir, then move the files in.

    The old weights go first and the new weights come last, so an interruption leaves either the old
    model, or no loadable model at all; never new config with old weights or a truncated file.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=output_dir))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp)  # with the SentencePiece model it was checked against
        files = sorted(tmp.iterdir(), key=lambda p: p.suffix == ".safetensors" or p.name.endswith(".index.json"))
        for old in output_dir.glob("model*.safetensors*"):
            old.unlink()
        for f in files:
            f.chmod(FILE_MODE)
            os.replace(f, output_dir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def merge_lora_export(model, tokenizer, output_dir: Path):
    """Move an exported LoRA adapter into output_dir/adapter and export the merged plain model in its place;
    returns the merged model."""
    output_dir = Path(output_dir)
    adapter_dir = output_dir / "adapter"
    adapter_dir.mkdir(exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "README.md"):  # README: peft's card
        if (output_dir / name).exists():
            (output_dir / name).replace(adapter_dir / name)
    save_tokenizer(tokenizer, adapter_dir)  # so the adapter dir alone serves evaluation / generation
    merged = model.merge_and_unload()
    save_model_atomically(merged, tokenizer, output_dir)
    print(f"merged LoRA into a plain model in {output_dir} (adapter in {adapter_dir})")
    return merged
