"""One training run: train a model with jaqg.training.loop, export the best weights, plot the log.

Shared by train.py (seq2seq) and run_clm.py (causal LM); evaluation is jaqg.training.evaluate's. Output layout
of ``output_dir``::

    config.json model.safetensors tokenizer files   the best model (lowest val_loss), save_pretrained
    run_config.json                                 resolved settings + the data dir's task/template/format
    logs/metrics.csv  loss_curve.png                training log and its picture
    reward_curves.png                               a run that logs rewards (--loss scst): rewards, degenerate, KL
    checkpoints/best-step=N.ckpt  last.ckpt         checkpoints (resume continues from last.ckpt)
    predictions.tsv  metrics.json                   after evaluation
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from lightning_fabric import Fabric

from ..core.io import write_json
from ..evaluation.coverage import coverage_report, format_coverage
from ..models.t5_attention import set_attention
from .config import ConfigError, TrainingConfig, is_first_process, parse_devices
from .data import TrainingData
from .export import load_best_weights, save_model_atomically
from .log import plot_loss_curve, plot_reward_curves
from .loop import TrainingLoop, build_fabric
from .objectives import get_objective


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch before anything random is drawn."""
    Fabric.seed_everything(seed, verbose=False)


class Experiment:
    """Train ``model`` on ``data`` into ``config.output_dir`` (see the module docstring for the layout)."""

    def __init__(self, config: TrainingConfig, model, tokenizer, data: TrainingData | None,
                 data_info: dict | None = None, coverage_examples: dict[str, Sequence] | None = None):
        """``coverage_examples``: {split: examples with id, input, target} (train.py's TSV rows, run_clm.py's
        prompt/question lines); their tokenizer coverage report (<unk>, encode->decode losses, exact-match
        ceilings; jaqg.evaluation.coverage.coverage_report) is printed and kept in run_config.json
        (``tokenizer_coverage``)."""
        self.config, self.model, self.tokenizer, self.data = config, model, tokenizer, data
        self.output_dir = Path(config.output_dir)
        self.ckpt_dir = self.output_dir / "checkpoints"
        self.run_config = {**asdict(config), "data": data_info}
        self.best_path: str | None = None
        self.best_score: float | None = None
        if coverage_examples and any(coverage_examples.values()):
            self.run_config["tokenizer_coverage"] = coverage_report(tokenizer, coverage_examples)
            if is_first_process():
                print(format_coverage(self.run_config["tokenizer_coverage"]))
        set_attention(model, config.attn_implementation)  # auto: eager's arithmetic in cache-sized chunks (T5)
        if config.gradient_checkpointing:  # on a peft model too: it forwards to the wrapped HF model
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False

    def resume_path(self) -> Path | None:
        """last.ckpt when resuming; ConfigError when resuming nothing or when an earlier run would be trained over."""
        last = self.ckpt_dir / "last.ckpt"
        if self.config.resume:
            if not last.is_file():
                raise ConfigError("{where}: no checkpoint to resume from; run without {resume} to start training",
                                  where=last)
            return last
        if last.is_file() and not self.config.overwrite_output_dir:
            raise ConfigError("{where}: {dir} holds an earlier run; pass {resume} to continue it "
                              "or {overwrite_output_dir} to start over", where=last, dir=self.output_dir)
        if self.config.overwrite_output_dir and self.ckpt_dir.is_dir() and is_first_process():
            shutil.rmtree(self.ckpt_dir)  # the earlier run's best checkpoint must not compete with this run's
        return None

    def train(self) -> bool:
        """Train, then (global rank 0 only) export the best model and plot. Returns True on rank 0."""
        get_objective(self.config.loss)  # an unknown objective fails before anything runs
        seed_everything(self.config.seed)
        resume_from = self.resume_path()
        fabric = build_fabric(self.config, parse_devices(self.config.devices))
        if fabric.is_global_zero:
            print(json.dumps(self.run_config, ensure_ascii=False, indent=2))
            write_json(self.output_dir / "run_config.json", self.run_config)
            if resume_from:
                print(f"resuming from {resume_from}")
        loop = TrainingLoop(fabric, self.config, self.model, self.data, self.ckpt_dir,
                            self.output_dir / "logs" / "metrics.csv")
        steps = loop.run(resume_from)
        fabric.barrier()
        if not fabric.is_global_zero:
            return False
        self.best_path, self.best_score = loop.best.best_path, loop.best.best_score
        print(f"trained {steps} steps")
        self.export_best()
        self.plot_loss_curve()
        return True

    def export_best(self) -> Path:
        """Write the lowest-val-loss weights + tokenizer to output_dir, never a half-written or NaN model."""
        if not self.best_path:
            raise ConfigError("no validation ran, so there is no best model to export; train for at least one "
                              "validation (check {val_check_interval} / {max_steps})")
        load_best_weights(self.model, self.best_path)
        name = self.config.metric_for_best_model
        value = -self.best_score if self.config.best_is_greater else self.best_score
        print(f"best checkpoint: {self.best_path} ({name} {value:.4f})")
        save_model_atomically(self.model, self.tokenizer, self.output_dir)
        return self.output_dir

    def plot_loss_curve(self) -> Path | None:
        """loss_curve.png and, when the objective logged rewards, reward_curves.png."""
        log = self.output_dir / "logs" / "metrics.csv"
        plot_reward_curves(log, self.output_dir / "reward_curves.png")
        return plot_loss_curve(log, self.output_dir / "loss_curve.png")
