"""Checkpoints of a training run: what they hold, and the best-k bookkeeping.

A checkpoint (``checkpoints/last.ckpt`` after every validation, ``best-step=N.ckpt`` for the best ones) is a dict:

    state_dict             the trainable weights (LoRA: the adapter only; the frozen base reloads from the hub)
    optimizer, scheduler   their state_dicts
    global_step, epoch     optimizer steps done; the epoch in progress
    sampler                {epoch, batches_done}: where the epoch's batch list continues
    rng                    torch, CUDA, numpy and Python RNG states (the process that wrote it: global rank 0)
    accumulated_gradients  the gradients summed so far when saved inside an accumulation window
    best                   BestCheckpoints' state (scores and paths of the best checkpoints)
    early_stopping         {best, wait}
    log_rows               rows of logs/metrics.csv written so far (a resumed run drops the later ones)
    val_loss               the validation loss this checkpoint was saved after
"""

from __future__ import annotations

import io
import math
import os
import random
from pathlib import Path

import numpy as np
import torch


def trainable_state_dict(model) -> dict[str, torch.Tensor]:
    """The weights that train, on the CPU. LoRA freezes the base: it is reloaded from model_name_or_path, so a
    checkpoint holds only what trains (a 7B base would otherwise add 13.5 GB to every .ckpt)."""
    frozen = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k not in frozen}


def load_trainable_state_dict(model, state: dict[str, torch.Tensor]) -> None:
    """Load a checkpoint's weights, the frozen ones left out taken from the model as loaded; strict otherwise,
    so a checkpoint lacking a trainable weight fails."""
    current = model.state_dict()
    frozen = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    full = {**{n: current[n] for n in frozen if n in current}, **state}
    model.load_state_dict(full, strict=True)


def rng_state() -> dict:
    # tensors, ints and tuples only, so that the checkpoint also loads with torch.load(weights_only=True)
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
            "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().cpu().clone() for name, p in model.named_parameters() if p.grad is not None}


def set_gradients(model, grads: dict[str, torch.Tensor]) -> None:
    for name, p in model.named_parameters():
        if name in grads:
            p.grad = grads[name].to(device=p.device, dtype=p.dtype)


def write_checkpoint(state: dict, paths: list[Path]) -> None:
    """Serialise once, write each path atomically (temp file + rename): a kill leaves the old file or the new."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class BestCheckpoints:
    """The ``keep`` checkpoints with the lowest validation loss (ties: the earlier stays), as paths and scores.
    A non-finite loss counts as +inf: it is kept only while there is room."""

    def __init__(self, directory: Path, keep: int):
        self.directory, self.keep = Path(directory), keep
        self.scores: dict[str, float] = {}

    def offer(self, score: float, step: int) -> tuple[Path | None, list[Path]]:
        """(path to save this checkpoint at or None, paths to delete) for a validation at ``step``."""
        score = score if math.isfinite(score) else math.inf
        path = self.directory / f"best-step={step}.ckpt"
        version = 0
        while str(path) in self.scores:  # two validations within one optimizer step (accumulation)
            version += 1
            path = self.directory / f"best-step={step}-v{version}.ckpt"
        if len(self.scores) < self.keep:
            self.scores[str(path)] = score
            return path, []
        worst = max(self.scores, key=self.scores.get)
        if not score < self.scores[worst]:
            return None, []
        del self.scores[worst]
        self.scores[str(path)] = score
        return path, [Path(worst)] if worst != str(path) else []

    @property
    def best_path(self) -> str | None:
        return min(self.scores, key=self.scores.get) if self.scores else None

    @property
    def best_score(self) -> float | None:
        return self.scores[self.best_path] if self.scores else None

    def state_dict(self) -> dict:
        return {"scores": dict(self.scores)}

    def load_state_dict(self, state: dict) -> None:
        self.scores = dict(state.get("scores", {}))


class EarlyStopping:
    """Stop after ``patience`` validations without a strictly lower loss (or at once on a non-finite loss)."""

    def __init__(self, patience: int):
        self.patience, self.best, self.wait = patience, math.inf, 0

    def update(self, score: float) -> bool:
        """True when the run should stop."""
        if self.patience <= 0:
            return False
        if not math.isfinite(score):
            return True
        if score < self.best:
            self.best, self.wait = score, 0
            return False
        self.wait += 1
        return self.wait >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait = state.get("best", math.inf), state.get("wait", 0)
