"""The settings of one training run (``TrainingConfig``), the resume policy, and errors that name settings.

The scripts (train.py, run_clm.py) subclass ``TrainingConfig`` with their data settings; the command line turns
every field into a flag of the same name. The library names fields, never flags: a ``ConfigError`` writes
``{field}`` placeholders, shown as plain names here and as flags by the command line (``render``).
"""

from __future__ import annotations

import math
import os
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from ..core.config import option
from ..core.errors import ParamError, UserError
from ..core.io import read_json


class ConfigError(UserError):
    """A UserError whose message names settings as ``{field}`` in its template; ``str()`` shows them in backquotes
    as every library message does (jaqg.core.errors: the command line prints them as flags), ``render(f)`` as
    ``f(name)``."""

    def __init__(self, template: str, **values):
        self.template, self.values = template, values
        super().__init__(self.render(lambda name: f"`{name}`"))

    def render(self, name: Callable[[str], str]) -> str:
        fields = {f for _, f, _, _ in string.Formatter().parse(self.template) if f and f not in self.values}
        return self.template.format(**self.values, **{f: name(f) for f in fields})


@dataclass
class TrainingConfig:
    """Settings every training run shares (names follow Hugging Face's examples)."""
    model_name_or_path: Optional[str] = option(None, help="hub name or local model dir to fine-tune (needed with "
                                                          "do_train)")
    tokenizer_name_or_path: Optional[str] = option(None, help="tokenizer, if not the model's own")
    output_dir: str = option("model", help="where the best model, logs, checkpoints and results go")
    do_train: bool = option(False, help="fine-tune model_name_or_path on the data")
    do_eval: bool = option(False, help="generate for the test split and score it (without do_train: the model "
                                       "in output_dir)")
    overwrite_output_dir: bool = option(False, help="start over even if output_dir holds checkpoints")
    resume: bool = option(False, help="continue from output_dir/checkpoints/last.ckpt (after a crash, kill or Ctrl-C)")
    train_batch_size: int = option(8, help="examples per device per step")
    eval_batch_size: int = option(16, help="examples per device for validation and generation")
    gradient_accumulation_steps: int = option(1, help="optimizer step every N batches")
    learning_rate: float = option(3e-4, help="peak learning rate")
    weight_decay: float = option(0.0, help="AdamW weight decay (not on biases and norms)")
    optimizer: str = option("adamw_torch_fused", help="optimizer (adamw_torch_fused: AdamW in one fused kernel, HF "
                                                      "Trainer's default, torch's loop under mixed precision; adamw: "
                                                      "torch's per-parameter loop, the same update up to rounding)",
                            choices=["adamw", "adamw_torch_fused", "adafactor"])
    adam_epsilon: float = option(1e-8, help="AdamW epsilon")
    warmup_ratio: float = option(0.0, help="linear warmup over this fraction of the steps, then linear decay")
    warmup_steps: int = option(0, help="warmup steps (overrides warmup_ratio when > 0)")
    max_grad_norm: float = option(1.0, help="clip gradients to this norm (0 = off)")
    num_train_epochs: int = option(3, help="epochs (ignored when max_steps > 0, as in Hugging Face's Trainer)")
    max_steps: int = option(-1, help="stop after this many optimizer steps (-1 = off)")
    val_check_interval: Optional[int] = option(None, help="validate (and checkpoint) every N training batches "
                                               "(default: every epoch)")
    log_every_n_steps: int = option(10, help="log the training loss every N steps")
    save_total_limit: int = option(1, help="keep this many checkpoints, the best by validation loss "
                                           "(plus last.ckpt for resume)")
    metric_for_best_model: str = option("val_loss", help="validation value that picks the best model (and early "
                                                         "stopping): val_loss, or a val_ column the objective "
                                                         "reports (val_reward with loss scst)")
    greater_is_better: Optional[bool] = option(None, help="whether a higher metric_for_best_model is better "
                                                          "(default: unless its name ends in loss or degenerate)")
    early_stopping_patience: int = option(0, help="stop after N validations without improvement (0 = off)")
    loss: str = option("ce", help="training objective from jaqg.training.objectives (ce, label_smoothing, scst "
                                  "(train.py: jaqg.training.scst), or "
                                  "your own: register_loss / register_objective)")
    label_smoothing: float = option(0.1, help="epsilon for the label_smoothing loss")
    precision: str = option("32", help="32 | bf16-mixed | 16-mixed (T5 overflows in fp16; use bf16 on GPUs "
                                       "that have it)")
    bf16: bool = option(False, help="HF-style shorthand for precision bf16-mixed")
    fp16: bool = option(False, help="HF-style shorthand for precision 16-mixed (T5 overflows: prefer bf16)")
    seed: int = option(42, help="random seed (data order, dropout, initialisation)")
    accelerator: str = option("auto", help="cpu | gpu | auto")
    devices: str = option("auto", help="number of devices, a list like 0,1, or auto")
    num_nodes: int = option(1, help="machines (with torchrun or SLURM)")
    strategy: str = option("auto", help="Fabric strategy: auto | ddp | fsdp | deepspeed ...")
    num_workers: int = option(0, help="DataLoader worker processes")
    attn_implementation: str = option("auto", help="attention kernels: auto (T5 family: jaqg.models.t5_attention's "
                                                   "chunked attention, exact and faster on a CPU; other models: "
                                                   "transformers' default), sdpa, eager",
                                      choices=["auto", "sdpa", "eager"])
    gradient_checkpointing: bool = option(False, help="recompute activations in backward: much less memory, "
                                                      "~30%% slower")

    @property
    def best_is_greater(self) -> bool:
        if self.greater_is_better is not None:
            return self.greater_is_better
        return not self.metric_for_best_model.endswith(("loss", "degenerate"))

    def __post_init__(self):
        if self.bf16 or self.fp16:
            self.precision = "bf16-mixed" if self.bf16 else "16-mixed"
        if self.save_total_limit < 1:
            raise ParamError("save_total_limit", f"{self.save_total_limit}: keep at least 1 checkpoint (the best)")
        for name in ("train_batch_size", "eval_batch_size", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ParamError(name, f"must be at least 1, got {getattr(self, name)}")
        if self.resume:
            check_resume(self)


# Settings a resumed run may change: how long to train, how to evaluate and export, where to run. Every other
# setting shapes the training itself (model, data, batches, optimizer, schedule, seed, lengths), so resuming with
# another value would silently continue a different run (e.g. another model's tokenizer beside the checkpoint's
# weights).
RESUMABLE_CHANGES = {"resume", "overwrite_output_dir", "do_train", "do_eval", "num_train_epochs", "max_steps",
                     "eval_batch_size", "num_workers", "log_every_n_steps", "early_stopping_patience",
                     "save_total_limit", "val_check_interval", "accelerator", "devices", "num_nodes", "strategy",
                     "num_beams", "repetition_penalty", "max_eval_samples", "eval_tokenizers", "max_new_tokens",
                     "merge_lora", "use_fast_tokenizer", "bf16", "fp16", "gradient_checkpointing",
                     "attn_implementation", "backend", "ct2_compute_type", "trust_remote_code"}


# Defaults that changed: (old, new). A run recorded with the old default resumes with it when the setting is left at
# the new default, so repeating the run's own command continues it.
CHANGED_DEFAULTS = {"optimizer": ("adamw", "adamw_torch_fused")}


def check_resume(config) -> None:
    """ConfigError naming every setting of a resumed run that differs from the run in output_dir (its
    run_config.json); a setting left at a changed default takes the recorded old default."""
    path = Path(config.output_dir) / "run_config.json"
    if not path.is_file():
        return  # no earlier run recorded here: the missing checkpoint is reported when training starts
    before = read_json(path)
    for key, (old, new) in CHANGED_DEFAULTS.items():
        if before.get(key) == old and getattr(config, key) == new:
            setattr(config, key, old)
    changed = [(k, before[k], v) for k, v in asdict(config).items()
               if k not in RESUMABLE_CHANGES and k in before and before[k] != v]
    if changed:
        def shown(value) -> str:  # a value's braces are text, not placeholders
            return repr(value).replace("{", "{{").replace("}", "}}")
        parts = "; ".join(f"{{{k}}} {shown(old)} -> {shown(new)}" for k, old, new in changed)
        raise ConfigError(f"{{resume}}: {parts} {'differs' if len(changed) == 1 else 'differ'} from the run in "
                          f"{{where}} ({path.name}); repeat its command with {{resume}}, or pass "
                          "{overwrite_output_dir} to start over", where=config.output_dir)


def is_first_process() -> bool:
    """Global rank 0 before Fabric launches (torchrun and SLURM set RANK, Fabric's launcher LOCAL_RANK)."""
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"))


def parse_devices(devices: str):
    return int(devices) if devices.isdigit() else ([int(d) for d in devices.split(",") if d] if "," in devices
                                                    else devices)


def validation_interval(max_steps: int, num_train_epochs: int, val_check_interval: int | None,
                        batches_per_epoch: int, gradient_accumulation_steps: int = 1) -> int | None:
    """Batches between validations (None: every epoch), adjusted so that a short run is validated at least at
    its end (no validation, no best model). Counts are for one process; with DDP a run has fewer batches."""
    total = (max_steps * gradient_accumulation_steps if max_steps > 0 else num_train_epochs * batches_per_epoch)
    if val_check_interval and val_check_interval > total:
        interval = None if total >= batches_per_epoch else total
        print(f"val_check_interval {val_check_interval} > the run's {total} batches: validating "
              + ("every epoch" if interval is None else f"after batch {total}"))
        return interval
    if not val_check_interval and total < batches_per_epoch:
        return total  # max_steps ends the run inside the first epoch: validate there
    return val_check_interval


def batches_per_epoch(n_examples: int, batch_size: int) -> int:
    return math.ceil(n_examples / batch_size)
