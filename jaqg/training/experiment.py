"""One training run: load a model, train it with Lightning, export the best weights, evaluate, plot.

Shared by train.py (seq2seq) and run_clm.py (causal LM). ``TrainingArgs`` holds the flags both scripts
share; a script subclasses it with its data flags. Output layout of ``output_dir``::

    config.json model.safetensors tokenizer files   the best model (lowest val_loss), save_pretrained
    run_config.json                                 resolved arguments + the data dir's task/template/format
    logs/metrics.csv  loss_curve.png                training log and its picture
    checkpoints/best-step=N.ckpt  last.ckpt         Lightning checkpoints (--resume continues from last.ckpt)
    predictions.tsv  metrics.json                   after --do_eval
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import pytorch_lightning as pl
import numpy as np
import torch
from pytorch_lightning.callbacks import Checkpoint, EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch.utils.data import DataLoader

from ..data.batching import Collator, LengthGroupedBatchSampler
from ..cli.args import arg
from ..core.errors import UserError
from ..tokenization.hub import save_tokenizer
from ..core.io import FILE_MODE, atomic_write, read_json, write_json
from .module import LOSSES, LMModule
from ..models.t5_attention import set_attention


@dataclass
class TrainingArgs:
    """Flags every training script shares (names follow Hugging Face's examples)."""
    model_name_or_path: Optional[str] = arg(None, help="hub name or local model dir to fine-tune (needed with "
                                                      "--do_train)")
    tokenizer_name_or_path: Optional[str] = arg(None, help="tokenizer, if not the model's own")
    output_dir: str = arg("model", help="where the best model, logs, checkpoints and results go")
    do_train: bool = arg(False, help="fine-tune --model_name_or_path on the data")
    do_eval: bool = arg(False, help="generate for the test split and score it (without --do_train: the model "
                                    "in --output_dir)")
    overwrite_output_dir: bool = arg(False, help="start over even if --output_dir holds checkpoints")
    resume: bool = arg(False, help="continue from output_dir/checkpoints/last.ckpt (after a crash, kill or Ctrl-C)")
    train_batch_size: int = arg(8, help="examples per device per step")
    eval_batch_size: int = arg(16, help="examples per device for validation and generation")
    gradient_accumulation_steps: int = arg(1, help="optimizer step every N batches")
    learning_rate: float = arg(3e-4, help="peak learning rate")
    weight_decay: float = arg(0.0, help="AdamW weight decay (not on biases and norms)")
    optimizer: str = arg("adamw_torch_fused", help="optimizer (adamw_torch_fused: AdamW in one fused kernel, HF "
                                                   "Trainer's default, torch's loop under mixed precision; adamw: "
                                                   "torch's per-parameter loop, the same update up to rounding)",
                         choices=["adamw", "adamw_torch_fused", "adafactor"])
    adam_epsilon: float = arg(1e-8, help="AdamW epsilon")
    warmup_ratio: float = arg(0.0, help="linear warmup over this fraction of the steps, then linear decay")
    warmup_steps: int = arg(0, help="warmup steps (overrides --warmup_ratio when > 0)")
    max_grad_norm: float = arg(1.0, help="clip gradients to this norm (0 = off)")
    num_train_epochs: int = arg(3, help="epochs (ignored when --max_steps > 0, as in Hugging Face's Trainer)")
    max_steps: int = arg(-1, help="stop after this many optimizer steps (-1 = off)")
    val_check_interval: Optional[int] = arg(None, help="validate (and checkpoint) every N training batches "
                                            "(default: every epoch)")
    log_every_n_steps: int = arg(10, help="log the training loss every N steps")
    save_total_limit: int = arg(1, help="keep this many checkpoints, the best by validation loss "
                                        "(plus last.ckpt for --resume)")
    early_stopping_patience: int = arg(0, help="stop after N validations without improvement (0 = off)")
    loss: str = arg("ce", help="training loss from jaqg.training.module.LOSSES (ce, label_smoothing, or your own)")
    label_smoothing: float = arg(0.1, help="epsilon for --loss label_smoothing")
    precision: str = arg("32", help="32 | bf16-mixed | 16-mixed (T5 overflows in fp16; use bf16 on GPUs "
                                    "that have it)")
    bf16: bool = arg(False, help="HF-style shorthand for --precision bf16-mixed")
    fp16: bool = arg(False, help="HF-style shorthand for --precision 16-mixed (T5 overflows: prefer --bf16)")
    seed: int = arg(42, help="random seed (data order, dropout, initialisation)")
    accelerator: str = arg("auto", help="cpu | gpu | auto")
    devices: str = arg("auto", help="number of devices, a list like 0,1, or auto")
    num_nodes: int = arg(1, help="machines (with torchrun or SLURM)")
    strategy: str = arg("auto", help="Lightning strategy: auto | ddp | fsdp | deepspeed ...")
    num_workers: int = arg(0, help="DataLoader worker processes")
    attn_implementation: str = arg("auto", help="attention kernels: auto (T5 family: jaqg.models.t5_attention's chunked "
                                                "attention, exact and faster on a CPU; other models: transformers' "
                                                "default), sdpa, eager",
                                   choices=["auto", "sdpa", "eager"])
    gradient_checkpointing: bool = arg(False, help="recompute activations in backward: much less memory, "
                                                   "~30%% slower")

    def __post_init__(self):
        if self.bf16 or self.fp16:
            self.precision = "bf16-mixed" if self.bf16 else "16-mixed"
        if self.save_total_limit < 1:
            raise UserError(f"--save_total_limit {self.save_total_limit}: keep at least 1 checkpoint (the best)")
        if self.resume:
            check_resume_flags(self)


# Flags a resumed run may change: how long to train, how to evaluate and export, where to run. Every other flag
# shapes the training itself (model, data, batches, optimizer, schedule, seed, lengths), so --resume with another
# value would silently continue a different run (e.g. another model's tokenizer saved beside the checkpoint's weights).
RESUMABLE_CHANGES = {"resume", "overwrite_output_dir", "do_train", "do_eval", "num_train_epochs", "max_steps",
                     "eval_batch_size", "num_workers", "log_every_n_steps", "early_stopping_patience",
                     "save_total_limit", "val_check_interval", "accelerator", "devices", "num_nodes", "strategy",
                     "num_beams", "repetition_penalty", "max_eval_samples", "eval_tokenizers", "max_new_tokens",
                     "merge_lora", "use_fast_tokenizer", "bf16", "fp16", "gradient_checkpointing",
                     "attn_implementation"}


# Defaults that changed: (old, new). A run recorded with the old default resumes with it when the flag is left at
# the new default, so repeating the run's own command continues it.
CHANGED_DEFAULTS = {"optimizer": ("adamw", "adamw_torch_fused")}


def check_resume_flags(args) -> None:
    """UserError naming every flag of ``--resume`` that differs from the run being resumed (its run_config.json)."""
    path = Path(args.output_dir) / "run_config.json"
    if not path.is_file():
        return  # no earlier run recorded here: the missing checkpoint is reported when training starts
    before = read_json(path)
    for key, (old, new) in CHANGED_DEFAULTS.items():
        if before.get(key) == old and getattr(args, key) == new:
            setattr(args, key, old)
    changed = [f"--{k} {before[k]!r} -> {v!r}" for k, v in asdict(args).items()
               if k not in RESUMABLE_CHANGES and k in before and before[k] != v]
    if changed:
        raise UserError(f"--resume: {'; '.join(changed)} {'differs' if len(changed) == 1 else 'differ'} from the run in {args.output_dir} ({path.name}); "
                        "repeat its command with --resume, or pass --overwrite_output_dir to start over")


def is_first_process() -> bool:
    """Global rank 0 before the Trainer exists (torchrun and SLURM set RANK, Lightning's launcher LOCAL_RANK)."""
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"))


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (Lightning's seed_everything) before anything random is drawn."""
    pl.seed_everything(seed, verbose=False)


def parse_devices(devices: str):
    return int(devices) if devices.isdigit() else ([int(d) for d in devices.split(",") if d] if "," in devices
                                                    else devices)


def load_pretrained(name_or_path: str, tokenizer_name_or_path: str | None = None, causal: bool = False):
    """(model, tokenizer) from a hub name or local dir; UserError with a hint when it cannot be loaded.

    The tokenizer encodes as the model's SentencePiece model does (jaqg.tokenization.hub), or the run stops."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from ..tokenization.hub import load_tokenizer
    auto = AutoModelForCausalLM if causal else AutoModelForSeq2SeqLM
    try:
        # fp32 master weights: transformers 5 otherwise keeps the saved dtype (a bf16 hub model would train in bf16)
        model = auto.from_pretrained(name_or_path, dtype=torch.float32)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{name_or_path}: cannot load a {'causal' if causal else 'seq2seq'} model ({first}); "
                        "pass a local model dir (e.g. from make_tiny_model.py) or a hub name you can reach") from None
    tokenizer = load_tokenizer(tokenizer_name_or_path or name_or_path, causal=causal)
    try:  # <hl> (and <sep>) as single tokens; resizes embeddings of pretrained models (H3's jaqg.models.tiny)
        from ..models.tiny import ensure_special_tokens
    except ImportError:
        pass
    else:
        ensure_special_tokens(model, tokenizer)
    return model, tokenizer


def data_report(data_dir: str | Path) -> dict | None:
    """task/template/format of a prepared data dir (None for a hand-made one without prepare_report.json);
    a multitask dir adds its task_prefixes and templates."""
    path = Path(data_dir) / "prepare_report.json"
    if not path.is_file():
        return None
    report = read_json(path)
    keys = ("task", "template", "format", "hl_strategy", "sep") + (("task_prefixes", "templates")
                                                                   if report.get("task") == "multi" else ())
    return {k: report.get(k) for k in keys}


class BatchedData(pl.LightningDataModule):
    """Length-grouped training batches (a disjoint share per DDP rank) and longest-first validation batches.

    Checkpoints record the epoch and how many of its training batches were done (``state_dict``); a resumed run
    starts its sampler there, so a run killed mid-epoch continues with the batches it had not trained on yet,
    not with the epoch's first ones again.
    """

    def __init__(self, train_set, val_set, pad_token_id: int, train_batch_size: int, eval_batch_size: int,
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.train_set, self.val_set = train_set, val_set
        self.collate = Collator(pad_token_id)
        self.train_batch_size, self.eval_batch_size = train_batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed
        self._resume_at: tuple[int, int] | None = None

    def state_dict(self) -> dict:
        trainer = self.trainer
        if trainer is None:
            return {}
        # Saved in on_validation_end, after the batch that triggered validation counted as completed.
        done = trainer.fit_loop.epoch_loop.batch_progress.current.completed
        return {"epoch": trainer.current_epoch, "batches_done": done}

    def load_state_dict(self, state: dict) -> None:
        if "epoch" in state:  # checkpoints from before this field resume at the epoch's start, as they used to
            self._resume_at = (state["epoch"], state["batches_done"])

    def _loader(self, dataset, batch_size: int, shuffle: bool) -> DataLoader:
        trainer = self.trainer
        sampler = LengthGroupedBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=self.seed,
                                            num_replicas=trainer.world_size if trainer else 1,
                                            rank=trainer.global_rank if trainer else 0)
        if shuffle and self._resume_at:
            epoch, done = self._resume_at
            self._resume_at = None
            if done >= len(sampler):  # saved after the epoch's last batch: the next epoch starts afresh
                epoch, done = epoch + 1, 0
            # Lightning creates the iterator before it calls set_epoch on a resumed run: set both here.
            sampler.set_epoch(epoch)
            sampler.start_batch = done
        # Its own generator: a new epoch's iterator then draws its worker seed from it, not from the global
        # RNG that dropout uses, so dropout masks do not depend on where a run was resumed.
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, generator=generator)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.train_batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.eval_batch_size, shuffle=False)


class RestoreRNG(pl.Callback):
    """Checkpoints carry the global RNG states (torch, CUDA, numpy, Python; Lightning saves none), and a resumed
    run sets them right before its first training batch, so dropout draws the masks the uninterrupted run drew.
    Each process saves and restores its own states; with DDP the checkpoint holds rank 0's."""

    def __init__(self):
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        # tensors, ints and tuples only: Lightning loads checkpoints with torch.load(weights_only=True)
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
                "python": random.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self._pending = state if "torch" in state else None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        random.setstate(state["python"])


class RestoreAccumulatedGradients(pl.Callback):
    """With --gradient_accumulation_steps N, a checkpoint taken inside an accumulation window (validation falls
    on any batch; an epoch's last window may be short) also holds the gradients summed so far, and a resumed run
    puts them back before its first batch; without them the window's earlier batches would be lost and the
    optimizer step after the resume would differ. Nothing is saved at a window's end (the next batch zeroes
    the gradients). With DDP the checkpoint holds rank 0's partial sums only: a DDP run resumed mid-window says
    so and gives every rank rank 0's sums (not exact; resume from a window's end is)."""

    KEY = "accumulated_gradients"

    def __init__(self):
        self._pending: dict | None = None

    @staticmethod
    def mid_window(trainer: pl.Trainer) -> bool:
        # the same test as Lightning's _TrainingEpochLoop._should_accumulate, after the batch completed
        progress = trainer.fit_loop.epoch_loop.batch_progress
        return (trainer.accumulate_grad_batches > 1 and not progress.is_last_batch
                and progress.current.completed % trainer.accumulate_grad_batches != 0)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self.mid_window(trainer):
            checkpoint[self.KEY] = {name: p.grad.detach().cpu().clone()
                                    for name, p in pl_module.named_parameters() if p.grad is not None}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._pending = checkpoint.get(self.KEY)
        if self._pending and trainer.world_size > 1 and trainer.is_global_zero:
            print("resuming inside a gradient accumulation window with DDP: every rank gets rank 0's partial "
                  "gradients, so this run will not match the uninterrupted one exactly")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is None:
            return
        grads, self._pending = self._pending, None
        for name, p in pl_module.named_parameters():
            if name in grads:
                p.grad = grads[name].to(device=p.device, dtype=p.dtype)


def progress_bar() -> pl.Callback | None:
    """Lightning's default bar (Rich when installed), minus Rich's "Epoch 0/-2" under --max_steps (which leaves
    the epoch count open: max_epochs -1). None: let Lightning pick its TQDM bar."""
    try:
        from pytorch_lightning.callbacks import RichProgressBar
        import rich  # noqa: F401
    except ImportError:
        return None

    class ProgressBar(RichProgressBar):
        def _get_train_description(self, current_epoch: int) -> str:
            if self.trainer.max_epochs is not None and self.trainer.max_epochs >= 0:
                return super()._get_train_description(current_epoch)
            return f"{f'Epoch {current_epoch}':{len(self.validation_description)}}"

    return ProgressBar()


class SaveLast(Checkpoint):
    """last.ckpt after every validation, whether or not it improved (Lightning 2.6's save_last only writes
    when the best changes). Listed after the best-model callback, so it records the updated best."""

    def __init__(self, path: Path):
        self.path = path

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            trainer.save_checkpoint(self.path)  # every rank calls it; rank 0 writes (atomically, via fsspec)


class ValidateAtEnd(pl.Callback):
    """Validate after the run's last batch even when --val_check_interval does not divide the run, so the
    final weights compete for the best model. Lightning validates a batch when asked to stop there."""

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        loop = trainer.fit_loop
        last_step = 0 < trainer.max_steps <= trainer.global_step
        last_batch = (trainer.max_epochs not in (None, -1) and trainer.current_epoch >= trainer.max_epochs - 1
                      and loop.epoch_loop.batch_progress.is_last_batch)
        if last_step or last_batch:
            trainer.should_stop = True


class Experiment:
    """Train ``model`` on ``data`` into ``args.output_dir`` (see the module docstring for the layout)."""

    def __init__(self, args: TrainingArgs, model, tokenizer, data: BatchedData, data_info: dict | None = None,
                 coverage_examples: dict[str, Sequence] | None = None):
        """``coverage_examples``: {split: examples with id, input, target} (train.py's TSV rows, run_clm.py's
        prompt/question lines); their tokenizer coverage report (<unk>, encode->decode losses, exact-match
        ceilings; jaqg.tokenization.hub.coverage_report) is printed and kept in run_config.json
        (``tokenizer_coverage``)."""
        self.args, self.model, self.tokenizer, self.data = args, model, tokenizer, data
        self.output_dir = Path(args.output_dir)
        self.ckpt_dir = self.output_dir / "checkpoints"
        self.run_config = {**asdict(args), "data": data_info}
        if coverage_examples and any(coverage_examples.values()):
            from ..evaluation.coverage import coverage_report, format_coverage
            self.run_config["tokenizer_coverage"] = coverage_report(tokenizer, coverage_examples)
            if is_first_process():
                print(format_coverage(self.run_config["tokenizer_coverage"]))
        set_attention(model, args.attn_implementation)  # auto: eager's arithmetic in cache-sized chunks (T5 family)
        if args.gradient_checkpointing:  # on a peft model too: it forwards to the wrapped HF model
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
        self.module = LMModule(model, learning_rate=args.learning_rate, weight_decay=args.weight_decay,
                               warmup_ratio=args.warmup_ratio, warmup_steps=args.warmup_steps,
                               optimizer=args.optimizer, adam_epsilon=args.adam_epsilon, loss=args.loss,
                               label_smoothing=args.label_smoothing, precision=args.precision)

    def _resume_path(self) -> str | None:
        last = self.ckpt_dir / "last.ckpt"
        if self.args.resume:
            if not last.is_file():
                raise UserError(f"{last}: no checkpoint to resume from; run without --resume to start training")
            return str(last)
        if last.is_file() and not self.args.overwrite_output_dir:
            raise UserError(f"{last}: {self.output_dir} holds an earlier run; pass --resume to continue it "
                            "or --overwrite_output_dir to start over")
        if self.args.overwrite_output_dir and self.ckpt_dir.is_dir() and is_first_process():
            shutil.rmtree(self.ckpt_dir)  # the earlier run's best checkpoint must not compete with this run's
        return None

    def build_trainer(self) -> pl.Trainer:
        a = self.args
        self.best = ModelCheckpoint(dirpath=self.ckpt_dir, filename="best-{step}", monitor="val_loss", mode="min",
                                    save_top_k=a.save_total_limit)
        callbacks = [ValidateAtEnd(), RestoreRNG(), RestoreAccumulatedGradients(), self.best,
                     SaveLast(self.ckpt_dir / "last.ckpt")]
        if (bar := progress_bar()) is not None:
            callbacks.append(bar)
        if a.early_stopping_patience > 0:
            callbacks.append(EarlyStopping(monitor="val_loss", mode="min", patience=a.early_stopping_patience))
        # flush every logging step: a killed run keeps its log up to the kill
        loggers = [CSVLogger(self.output_dir, name="logs", version="", flush_logs_every_n_steps=1)]
        try:
            from pytorch_lightning.loggers import TensorBoardLogger
            loggers.append(TensorBoardLogger(self.output_dir, name="logs", version="tensorboard"))
        except ModuleNotFoundError:  # tensorboard is optional
            pass
        interval = self._val_interval()
        try:
            return pl.Trainer(
                accelerator=a.accelerator, devices=parse_devices(a.devices), num_nodes=a.num_nodes,
                strategy=a.strategy,
                precision=a.precision, max_epochs=-1 if a.max_steps > 0 else a.num_train_epochs, max_steps=a.max_steps,
                accumulate_grad_batches=a.gradient_accumulation_steps, gradient_clip_val=a.max_grad_norm or None,
                val_check_interval=interval,
                check_val_every_n_epoch=None if interval else 1,  # N counts batches across epochs
                log_every_n_steps=a.log_every_n_steps, callbacks=callbacks, logger=loggers,
                use_distributed_sampler=False,  # LengthGroupedBatchSampler already splits batches between ranks
                num_sanity_val_steps=0, enable_model_summary=False, default_root_dir=self.output_dir)
        except (ValueError, MisconfigurationException) as e:  # e.g. fsdp on a CPU, an unknown precision
            raise UserError(f"Lightning refused the trainer settings: {str(e).strip().splitlines()[0]}") from None

    def _val_interval(self) -> int | None:
        """--val_check_interval, adjusted so that at least the end of a short run is validated (no validation,
        no best model). Counts are for one process; with DDP the run has fewer batches, never more."""
        a = self.args
        per_epoch = math.ceil(len(self.data.train_set) / a.train_batch_size)
        total = (a.max_steps * a.gradient_accumulation_steps if a.max_steps > 0
                 else a.num_train_epochs * per_epoch)
        if a.val_check_interval and a.val_check_interval > total:
            interval = None if total >= per_epoch else total
            print(f"--val_check_interval {a.val_check_interval} > the run's {total} batches: validating "
                  + ("every epoch" if interval is None else f"after batch {total}"))
            return interval
        if not a.val_check_interval and total < per_epoch:
            return total  # --max_steps ends the run inside the first epoch: validate there
        return a.val_check_interval

    def train(self) -> bool:
        """Fit, then (global rank 0 only) export the best model and plot. Returns True on rank 0."""
        if self.args.loss not in LOSSES:
            raise UserError(f"--loss {self.args.loss}: unknown; choose from {', '.join(sorted(LOSSES))}")
        seed_everything(self.args.seed)
        resume_from = self._resume_path()
        trainer = self.build_trainer()
        previous_log = self.output_dir / "logs" / "metrics.before_resume.csv"
        if trainer.is_global_zero and resume_from:  # Lightning's CSV logger deletes an existing log
            merge_logs(previous_log, self.output_dir / "logs" / "metrics.csv", previous_log)
        if trainer.is_global_zero:
            print(json.dumps(self.run_config, ensure_ascii=False, indent=2))
            write_json(self.output_dir / "run_config.json", self.run_config)
            if resume_from:
                print(f"resuming from {resume_from}")
        # Lightning warns on every mid-epoch resume that the dataloader is "not resumable" (it looks for a
        # stateful loader); BatchedData restores the sampler's position itself, so the resume is exact.
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch "
                                "ended and your dataloader is not resumable")
        try:
            trainer.fit(self.module, datamodule=self.data, ckpt_path=resume_from)
        except SystemExit:  # Lightning turns Ctrl-C into exit(1) after its shutdown; report it as Ctrl-C
            raise KeyboardInterrupt from None
        if trainer.interrupted:
            raise KeyboardInterrupt
        if not trainer.is_global_zero:
            return False
        if previous_log.is_file():
            merge_logs(previous_log, self.output_dir / "logs" / "metrics.csv", self.output_dir / "logs" / "metrics.csv")
            previous_log.unlink()
        print(f"trained {trainer.global_step} steps")
        self.export_best()
        self.plot_loss_curve()
        return True

    def export_best(self) -> Path:
        """Write the lowest-val-loss weights + tokenizer to output_dir, never a half-written or NaN model."""
        path = self.best.best_model_path
        if not path:
            raise UserError("no validation ran, so there is no best model to export; train for at least one "
                            "validation (check --val_check_interval / --max_steps)")
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        self.module.on_load_checkpoint(checkpoint)  # a LoRA checkpoint holds the adapter only
        self.module.load_state_dict(checkpoint["state_dict"])
        bad = [n for n, p in self.model.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise UserError(f"{path}: the best checkpoint holds non-finite weights ({bad[0]}); nothing exported; "
                            "retrain with --precision 32 or bf16-mixed and a lower --learning_rate")
        score = self.best.best_model_score
        print(f"best checkpoint: {path} (val_loss {float(score):.4f})")
        save_model_atomically(self.model, self.tokenizer, self.output_dir)
        return self.output_dir

    def plot_loss_curve(self) -> Path | None:
        return plot_loss_curve(self.output_dir / "logs" / "metrics.csv", self.output_dir / "loss_curve.png")


def save_model_atomically(model, tokenizer, output_dir: Path) -> None:
    """save_pretrained into a temp dir beside output_dir, then move the files in.

    The old weights go first and the new weights come last, so an interruption leaves either the old
    model, or no loadable model at all; never new config with old weights or a truncated file.
    """
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


def merge_logs(earlier: Path, later: Path, out: Path) -> None:
    """Rows of ``earlier`` from before ``later`` starts, then ``later`` (a resumed run repeats the steps
    after its checkpoint); missing files count as empty. Written atomically to ``out``."""
    def rows(path: Path) -> list[dict]:
        if not path.is_file():
            return []
        with open(path, encoding="utf-8", newline="") as f:
            return [r for r in csv.DictReader(f) if (r.get("step") or "").isdigit()]  # a kill can cut a row
    old, new = rows(earlier), rows(later)
    first_new = min((int(r["step"]) for r in new), default=float("inf"))
    merged = [r for r in old if int(r["step"]) < first_new] + new
    if not merged:
        return
    fields = sorted({k for r in merged for k in r})
    with atomic_write(out) as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(merged)


def read_log(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """{column: [(step, value), ...]} for every numeric column of Lightning's CSV log."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(metrics_csv, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in ("", None):
                    series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def plot_loss_curve(metrics_csv: Path, png: Path) -> Path | None:
    if not metrics_csv.is_file():
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = read_log(metrics_csv)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in ("train_loss", "val_loss"):
        if series.get(name):
            steps, values = zip(*series[name])
            ax.plot(steps, values, label=name, marker="o" if name == "val_loss" else None)
    if series.get("val_loss"):
        step, best = min(series["val_loss"], key=lambda sv: sv[1])
        ax.plot([step], [best], "k*", markersize=14, label="best (exported)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(png, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return png


def load_references(data_dir: Path, examples) -> list[list[str]]:
    """References per test example: test_references.json ({id: [ref, ...]}) if the data dir has it, else the target."""
    from ..evaluation.metrics import read_reference_map
    path = data_dir / "test_references.json"
    refs = read_reference_map(json_path=path) if path.is_file() else {}  # score.py's reader: same parsing and checks
    return [refs.get(e.id) or [e.target] for e in examples]


def evaluate(model_dir: str | Path, data_dir: str | Path, output_dir: str | Path, *, batch_size: int = 16,
             max_input_length: int = 512, max_new_tokens: int = 64, num_beams: int = 1,
             repetition_penalty: float = 1.0, tokenizers=("mecab",), limit: int | None = None) -> dict:
    """Generate for data_dir/test.tsv, write predictions.tsv and metrics.json into output_dir, return metrics."""
    from ..data.formats import GPT_SEP
    from ..generation.decoding import clean_prediction, generate, load_model
    from ..core.io import prediction_text, read_examples, write_rows
    from ..evaluation.metrics import compute_metrics, format_report, read_raw_reference_map, score_data
    data_dir, output_dir = Path(data_dir), Path(output_dir)
    examples = read_examples(data_dir / "test.tsv")[:limit]
    if not examples:
        raise UserError(f"{data_dir / 'test.tsv'}: no examples to evaluate")
    model, tokenizer = load_model(str(model_dir))
    info = data_report(data_dir) or {}
    outputs = generate(model, tokenizer, [e.input for e in examples], batch_size=batch_size,
                       max_input_length=max_input_length, max_new_tokens=max_new_tokens, num_beams=num_beams,
                       repetition_penalty=repetition_penalty, progress=True,
                       keep_special_tokens=(GPT_SEP,) if info.get("task") in ("ae", "multi") else ())
    fields = [clean_prediction(o[0]) for o in outputs]
    write_rows(output_dir / "predictions.tsv", [[e.id, p, e.target] for e, p in zip(examples, fields)])
    predictions = [prediction_text(p) for p in fields]  # scored as score.py reads the file back (<empty> is "")
    references = load_references(data_dir, examples)
    ids = [e.id for e in examples]
    # score.py's scoring: JGLUE on the raw golds beside test.tsv (named in jglue_references), breakdowns;
    # the raw golds are read once, for the whole set and by_task's jglue.
    raw_map = read_raw_reference_map(ids, tsv_path=data_dir / "test.tsv")
    metrics, _ = score_data(predictions, ids, references, tsv_path=data_dir / "test.tsv", tokenizers=tuple(tokenizers),
                            tokenizer_name_or_path=str(model_dir), raw_map=raw_map)
    raw = raw_map[0]
    raw_references = [raw[e.id] for e in examples] if raw else references
    prefixes = info.get("task_prefixes")
    if prefixes:  # a multitask data dir: the same metrics per task, the task read from the input's prefix
        from ..data.formats import task_of_input
        tasks = [task_of_input(e.input, prefixes) or "unknown" for e in examples]
        metrics["by_task"] = {t: compute_metrics([p for p, x in zip(predictions, tasks) if x == t],
                                                 [r for r, x in zip(references, tasks) if x == t],
                                                 tokenizers=tuple(tokenizers), tokenizer_name_or_path=str(model_dir),
                                                 raw_references=[r for r, x in zip(raw_references, tasks) if x == t])
                              for t in dict.fromkeys(tasks)}
    write_json(output_dir / "metrics.json", metrics)
    print(format_report(metrics))
    return metrics

