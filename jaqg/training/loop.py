"""The training loop, on Lightning Fabric: one loop for seq2seq and causal LMs, any objective.

Per batch: the objective's loss (divided by the accumulation) is backpropagated, gradients are synchronised
across ranks only at a window's last batch (``no_backward_sync``), then clipped, stepped, scheduled. An epoch's
last window may be short. Validation (every ``val_check_interval`` batches counted across epochs, else every
epoch, and always at the run's end) is the global token-weighted cross-entropy over every validation example
exactly once; after it the best checkpoints and ``last.ckpt`` are written (jaqg.training.checkpoint). A run
resumed from last.ckpt continues exactly: weights, optimizer, schedule, sampler position, RNG states and the
gradients of an unfinished accumulation window come back.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from lightning_fabric import Fabric
from tqdm import tqdm

from ..core.errors import UserError
from .checkpoint import (
    BestCheckpoints,
    EarlyStopping,
    gradients,
    load_trainable_state_dict,
    rng_state,
    set_gradients,
    set_rng_state,
    trainable_state_dict,
    write_checkpoint,
)
from .config import ConfigError, TrainingConfig, batches_per_epoch, validation_interval
from .data import TrainingData
from .log import MetricsLog
from .objectives import batch_tokens, get_objective, loss_sums, split_result
from .optim import build_optimizer, build_schedule, total_steps


class NonFiniteLoss(ConfigError):
    pass


def progress_description(epoch: int, max_epochs: int | None) -> str:
    """"Epoch 1/2" (0-based, of the last epoch's index); "Epoch 0" when max_steps leaves the count open."""
    return f"Epoch {epoch}" if max_epochs is None or max_epochs < 0 else f"Epoch {epoch}/{max_epochs - 1}"


class TrainingLoop:
    """Trains ``model`` on ``data`` with ``fabric``; checkpoints in ``ckpt_dir``, the log in ``log_path``."""

    def __init__(self, fabric: Fabric, config: TrainingConfig, model, data: TrainingData, ckpt_dir: Path,
                 log_path: Path):
        self.fabric, self.config, self.raw_model, self.data = fabric, config, model, data
        self.ckpt_dir, self.log_path = Path(ckpt_dir), Path(log_path)
        self.objective = get_objective(config.loss)
        self.best = BestCheckpoints(self.ckpt_dir, config.save_total_limit)
        self.early_stopping = EarlyStopping(config.early_stopping_patience)
        self.global_step = self.epoch = self.batches_total = 0
        self.log: MetricsLog | None = None
        self.val_logs: dict[str, float] = {}

    # ---- setup and resume -------------------------------------------------------------------------------------
    def _setup(self, resume_from: Path | None) -> tuple:
        c, fabric = self.config, self.fabric
        loader, self.sampler = self.data.train_loader(fabric.world_size, fabric.global_rank)
        val_loader = self.data.val_loader(fabric.world_size, fabric.global_rank)
        self.per_epoch = len(self.sampler)
        self.interval = validation_interval(c.max_steps, c.num_train_epochs, c.val_check_interval,
                                            batches_per_epoch(len(self.data.train_set), c.train_batch_size),
                                            c.gradient_accumulation_steps)
        self.raw_model.train()  # from_pretrained returns eval mode
        optimizer = build_optimizer(self.raw_model, c.optimizer, c.learning_rate, c.weight_decay, c.adam_epsilon,
                                    c.precision)
        self.scheduler = build_schedule(optimizer, total_steps(c.max_steps, c.num_train_epochs, self.per_epoch,
                                                               c.gradient_accumulation_steps),
                                        c.warmup_steps, c.warmup_ratio)
        self.model, self.optimizer = fabric.setup(self.raw_model, optimizer)
        self.loader, self.val_loader = fabric.setup_dataloaders(loader, val_loader, use_distributed_sampler=False)
        self.pending_rng = self.pending_grads = None
        keep_rows, start_batch = 0, 0
        if resume_from is not None:
            checkpoint = fabric.load(resume_from, weights_only=False)
            if "pytorch-lightning_version" in checkpoint or "sampler" not in checkpoint:
                raise ConfigError("{where}: a checkpoint written by the Lightning Trainer jaqg used before its own "
                                  "loop; it cannot be resumed here: start over with {overwrite_output_dir}",
                                  where=str(resume_from))
            load_trainable_state_dict(self.raw_model, checkpoint["state_dict"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.scheduler.load_state_dict(checkpoint["scheduler"])
            self.global_step, self.batches_total = checkpoint["global_step"], checkpoint["batches_total"]
            self.epoch, start_batch = checkpoint["sampler"]["epoch"], checkpoint["sampler"]["batches_done"]
            if start_batch >= self.per_epoch:  # saved after the epoch's last batch: the next epoch starts afresh
                self.epoch, start_batch = self.epoch + 1, 0
            self.best.load_state_dict(checkpoint["best"])
            self.early_stopping.load_state_dict(checkpoint["early_stopping"])
            self.pending_rng, self.pending_grads = checkpoint["rng"], checkpoint.get("accumulated_gradients")
            keep_rows = checkpoint["log_rows"]
            if self.pending_grads and fabric.world_size > 1 and fabric.is_global_zero:
                print("resuming inside a gradient accumulation window with DDP: every rank gets rank 0's partial "
                      "gradients, so this run will not match the uninterrupted one exactly")
            if fabric.is_global_zero:
                print(f"resumed at step {self.global_step}")
        if fabric.is_global_zero:
            self.log = MetricsLog(self.log_path, keep_rows=keep_rows)
        return start_batch

    # ---- the loop ---------------------------------------------------------------------------------------------
    def run(self, resume_from: Path | None = None) -> int:
        """Train to the end (max_steps, the epochs, or early stopping); returns the optimizer steps done."""
        c, fabric = self.config, self.fabric
        start_batch = self._setup(resume_from)
        accumulation = c.gradient_accumulation_steps
        options = {"label_smoothing": c.label_smoothing, "config": c}
        max_epochs = -1 if c.max_steps > 0 else c.num_train_epochs
        if c.max_steps > 0 and self.global_step >= c.max_steps:  # resumed after the last step (e.g. in the export)
            return self.global_step
        bar = tqdm(total=self.per_epoch, disable=not fabric.is_global_zero, mininterval=0.5, dynamic_ncols=True)
        try:
            while max_epochs < 0 or self.epoch < max_epochs:
                self.sampler.set_epoch(self.epoch)
                self.sampler.start_batch = start_batch
                bar.reset(total=self.per_epoch)
                bar.update(start_batch)
                bar.set_description(progress_description(self.epoch, max_epochs))
                window_loss, window_batches, window_tokens = 0.0, 0, 0
                window_start = time.perf_counter()
                for index, batch in enumerate(self.loader, start=start_batch):
                    if self.pending_rng is not None:  # a resumed run: the uninterrupted run's RNG at this batch
                        set_rng_state(self.pending_rng)
                        self.pending_rng = None
                    if self.pending_grads is not None:  # ... and its unfinished window's gradients
                        set_gradients(self.raw_model, self.pending_grads)
                        self.pending_grads = None
                    last_batch = index == self.per_epoch - 1
                    stepping = (index + 1) % accumulation == 0 or last_batch
                    with fabric.no_backward_sync(self.model, enabled=not stepping):
                        loss, logs = split_result(self.objective(self.model, batch, **options))
                        if not torch.isfinite(loss):
                            # Stop before the optimizer step: a NaN update would poison every later checkpoint.
                            hint = ("T5 overflows in fp16: use {precision} bf16-mixed or 32" if "16" in c.precision
                                    else "lower {learning_rate}, or try {precision} 32 / bf16-mixed")
                            raise NonFiniteLoss(f"training loss is {{value}} at step {{step}}; {hint}",
                                                value=loss.item(), step=self.global_step)
                        fabric.backward(loss / accumulation)
                    window_loss += float(loss.detach())
                    window_batches += 1
                    window_tokens += batch_tokens(self.raw_model, batch)
                    self.batches_total += 1
                    if stepping:
                        if c.max_grad_norm > 0:
                            fabric.clip_gradients(self.model, self.optimizer, max_norm=c.max_grad_norm,
                                                  error_if_nonfinite=False)
                        self.optimizer.step()
                        self.scheduler.step()
                        self.optimizer.zero_grad(set_to_none=True)
                        self.global_step += 1
                        now = time.perf_counter()
                        if self.log is not None and self.global_step % c.log_every_n_steps == 0:
                            self.log.log(self.global_step - 1, self.epoch, train_loss=window_loss / window_batches,
                                         tokens_per_s=window_tokens / max(now - window_start, 1e-9),
                                         **{k: float(v) for k, v in logs.items()})
                        bar.set_postfix(train_loss=f"{window_loss / window_batches:.4f}", refresh=False)
                        window_loss, window_batches, window_tokens = 0.0, 0, 0
                        window_start = now
                    bar.update(1)
                    run_ends = ((c.max_steps > 0 and self.global_step >= c.max_steps)
                                or (max_epochs > 0 and self.epoch == max_epochs - 1 and last_batch))
                    due = (self.batches_total % self.interval == 0) if self.interval else last_batch
                    if due or run_ends:
                        stop = self.validate_and_checkpoint(index, last_batch, stepping)
                        bar.set_postfix(val_loss=f"{self.last_val_loss:.4f}", refresh=False)
                        window_start = time.perf_counter()  # validation time is not training throughput
                        if stop:
                            return self.global_step
                    if run_ends:
                        return self.global_step
                start_batch = 0
                self.epoch += 1
            return self.global_step
        finally:
            bar.close()

    # ---- validation and checkpoints ---------------------------------------------------------------------------
    def validate(self) -> float:
        """The token-level cross-entropy over the whole validation set: every rank sums over its shard, the sums
        and token counts are added across ranks, then divided (a global token-weighted mean)."""
        validation_sums = getattr(self.objective, "validation_sums", None)
        self.raw_model.eval()
        try:
            total, n_tokens = loss_sums(self.raw_model, self.val_loader, context=self.fabric.autocast)
            extra = validation_sums(self.raw_model, self.val_loader, self.config) if validation_sums else {}
        finally:
            self.raw_model.train()
        sums = self.fabric.all_reduce(torch.tensor([total, float(n_tokens)], dtype=torch.float64), reduce_op="sum")
        total, n_tokens = float(sums[0]), float(sums[1])
        self.val_logs = {}
        if extra:  # the objective's own validation values: summed over every rank's shard, then averaged
            names = sorted(extra)
            parts = self.fabric.all_reduce(torch.tensor([[float(extra[k][0]), float(extra[k][1])] for k in names],
                                                        dtype=torch.float64), reduce_op="sum")
            self.val_logs = {f"val_{k}": float(s / c) if c else math.nan for k, (s, c) in zip(names, parts.tolist())}
        return total / n_tokens if n_tokens else math.nan

    def best_key(self, val_loss: float) -> float:
        """The value the best checkpoints and early stopping minimise: the config's metric_for_best_model,
        negated when greater is better."""
        name = self.config.metric_for_best_model
        values = {"val_loss": val_loss, **self.val_logs}
        if name not in values:
            raise ConfigError("{metric_for_best_model} {name}: this run's validation does not report it; choose "
                              "from {names}", name=name, names=", ".join(sorted(values)))
        return -values[name] if self.config.best_is_greater else values[name]

    def validate_and_checkpoint(self, index: int, last_batch: bool, stepped: bool) -> bool:
        """Validate, log, write the checkpoints; True when early stopping ends the run."""
        fabric = self.fabric
        val_loss = self.last_val_loss = self.validate()
        # the 0-based index of the optimizer step this batch belongs to (the one just taken, or the one accumulating)
        log_step = self.global_step - 1 if stepped else self.global_step
        if self.log is not None:
            self.log.log(max(log_step, 0), self.epoch, val_loss=val_loss, **self.val_logs)
        best_path, delete = self.best.offer(self.best_key(val_loss), self.global_step)
        stop = self.early_stopping.update(self.best_key(val_loss))
        checkpoint = {"state_dict": trainable_state_dict(self.raw_model), "optimizer": self.optimizer.state_dict(),
                      "scheduler": self.scheduler.state_dict(), "global_step": self.global_step, "epoch": self.epoch,
                      "batches_total": self.batches_total,
                      "sampler": {"epoch": self.epoch, "batches_done": index + 1},
                      "rng": rng_state(), "best": self.best.state_dict(),
                      "early_stopping": self.early_stopping.state_dict(),
                      "log_rows": len(self.log.rows) if self.log is not None else 0, "val_loss": val_loss}
        if not stepped:  # inside an accumulation window: its gradients so far
            checkpoint["accumulated_gradients"] = gradients(self.raw_model)
        if fabric.is_global_zero:
            write_checkpoint(checkpoint, [p for p in (best_path,) if p] + [self.ckpt_dir / "last.ckpt"])
            for path in delete:
                path.unlink(missing_ok=True)
        fabric.barrier()
        return stop


def build_fabric(config: TrainingConfig, devices) -> Fabric:
    try:
        fabric = Fabric(accelerator=config.accelerator, devices=devices, num_nodes=config.num_nodes,
                        strategy=config.strategy, precision=config.precision)
    except (ValueError, RuntimeError, TypeError) as e:  # e.g. fsdp on a CPU, an unknown precision
        raise UserError(f"Fabric refused the training settings: {str(e).strip().splitlines()[0]}") from None
    fabric.launch()
    return fabric
