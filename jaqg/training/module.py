"""The LightningModule that fine-tunes any Hugging Face seq2seq or causal LM, with a pluggable loss.

Defining a new loss (the extension point) takes a few lines anywhere before training starts::

    from jaqg.training.module import register_loss

    @register_loss("my_loss")
    def my_loss(logits, labels, **options):   # logits [B, T, V], labels [B, T] with -100 = ignore
        ...                                   # options: e.g. label_smoothing from the command line
        return scalar_tensor

then ``train.py --loss my_loss`` (the module holding it must be imported first, e.g. from a wrapper script).
Logits and labels arrive already aligned: causal LMs are shifted before the loss is called.
The validation loss (which picks the best model) is always plain cross-entropy, so runs with
different training losses stay comparable.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from ..data.batching import IGNORE_INDEX
from ..core.errors import UserError

LOSSES: dict[str, Callable[..., torch.Tensor]] = {}


def register_loss(name: str):
    """Decorator: make ``fn(logits, labels, **options) -> scalar`` selectable as ``--loss name``."""
    def add(fn):
        LOSSES[name] = fn
        return fn
    return add


@register_loss("ce")
def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, **_) -> torch.Tensor:
    # float(): a bf16/fp16 log-softmax over a 32k vocabulary loses too much precision
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)


@register_loss("label_smoothing")
def label_smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.1,
                                 **_) -> torch.Tensor:
    """(1 - eps) * NLL of the label + eps * mean NLL over the vocabulary, over non-ignored tokens."""
    log_probs = logits.float().log_softmax(-1)
    keep = labels != IGNORE_INDEX
    nll = -log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    uniform = -log_probs.mean(-1)
    return ((1 - label_smoothing) * nll + label_smoothing * uniform)[keep].mean()


class NonFiniteLoss(UserError):
    pass


class LMModule(pl.LightningModule):
    """Wraps an ``AutoModelForSeq2SeqLM`` or ``AutoModelForCausalLM``; batches hold input_ids,
    attention_mask and labels (-100 where ignored)."""

    def __init__(self, model, *, learning_rate: float = 3e-4, weight_decay: float = 0.0, warmup_ratio: float = 0.0,
                 warmup_steps: int = 0, optimizer: str = "adamw_torch_fused", adam_epsilon: float = 1e-8,
                 loss: str = "ce", label_smoothing: float = 0.1, precision: str = "32"):
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        if loss not in LOSSES:
            raise UserError(f"--loss {loss}: unknown loss; choose one of {', '.join(sorted(LOSSES))} "
                            "or register one with jaqg.training.module.register_loss")
        self.model = model.train()  # from_pretrained returns eval mode, and Lightning 2 keeps submodule modes
        self.loss_fn = LOSSES[loss]
        self.is_causal = not model.config.is_encoder_decoder
        self._last_batch_end: float | None = None

    def frozen_parameter_names(self) -> set[str]:
        return {n for n, p in self.named_parameters(remove_duplicate=False) if not p.requires_grad}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # LoRA freezes the base: it is reloaded from --model_name_or_path, so a checkpoint holds only what trains
        # (a 7B base would otherwise add 13.5 GB to every .ckpt).
        frozen = self.frozen_parameter_names()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k not in frozen}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Fill the frozen weights a checkpoint left out from the model as loaded; loading stays strict, so a
        checkpoint lacking a trainable weight still fails."""
        state, current = checkpoint["state_dict"], self.state_dict()
        for name in self.frozen_parameter_names():
            state.setdefault(name, current[name])

    def logits_and_labels(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        labels = batch["labels"]
        if self.is_causal:
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            return logits[:, :-1], labels[:, 1:]  # token t predicts token t+1
        # decoder inputs = labels shifted right; asking the model for its own loss would compute it twice
        decoder_input_ids = self.model.prepare_decoder_input_ids_from_labels(labels=labels)
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            decoder_input_ids=decoder_input_ids).logits
        return logits, labels

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits, labels = self.logits_and_labels(batch)
        loss = self.loss_fn(logits, labels, label_smoothing=self.hparams.label_smoothing)
        if not torch.isfinite(loss):
            # Stop before the optimizer step: a NaN update would poison every later checkpoint.
            hint = ("T5 overflows in fp16: use --precision bf16-mixed or 32" if "16" in str(self.hparams.precision)
                    else "lower --learning_rate, or try --precision 32 / bf16-mixed")
            raise NonFiniteLoss(f"training loss is {loss.item()} at step {self.global_step}; {hint}")
        self.log("train_loss", loss, prog_bar=True, batch_size=labels.shape[0])
        self._tokens = int(batch["attention_mask"].sum()) + (0 if self.is_causal
                                                             else int((batch["labels"] != IGNORE_INDEX).sum()))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        # wall time between batch ends covers data loading, forward, backward and the optimizer step
        now = time.perf_counter()
        if self._last_batch_end is not None:
            self.log("tokens_per_s", self._tokens / (now - self._last_batch_end), prog_bar=True, batch_size=1)
        self._last_batch_end = now

    def on_train_start(self) -> None:
        if self.global_step and self.trainer.is_global_zero:
            print(f"resumed at step {self.global_step}")

    def on_train_epoch_start(self) -> None:
        # Lightning only calls set_epoch on samplers, not on batch samplers: reshuffle buckets per epoch here.
        # (Not called when a run resumes mid-epoch: experiment.BatchedData sets the resumed epoch itself.)
        sampler = getattr(self.trainer.train_dataloader, "batch_sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.current_epoch)

    def on_validation_epoch_start(self) -> None:
        self._last_batch_end = None  # validation time is not training throughput

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits, labels = self.logits_and_labels(batch)
        n_tokens = int((labels != IGNORE_INDEX).sum())
        # weighting by token count makes the epoch value the token-level mean, whatever the batch shapes
        self.log("val_loss", cross_entropy(logits, labels), prog_bar=True, batch_size=max(n_tokens, 1),
                 sync_dist=True)

    def configure_optimizers(self):
        hp = self.hparams
        # no weight decay on biases and norm weights, as in Hugging Face's Trainer
        decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim < 2]
        groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if hp.optimizer == "adafactor":
            from transformers.optimization import Adafactor
            opt = Adafactor(groups, lr=hp.learning_rate, scale_parameter=False, relative_step=False,
                            warmup_init=False)
        else:
            # adamw: torch's default kernels (a per-parameter loop on CPU); adamw_torch_fused (HF's name and HF's
            # default): one fused kernel, the same update up to rounding (t5-small shape on CPU: 0.23 -> 0.07 s a step).
            # Under mixed precision Lightning refuses to clip a fused optimizer's gradients: torch's loop there.
            full_precision = str(hp.precision) in ("32", "32-true", "64", "64-true")
            fused = dict(fused=True) if hp.optimizer == "adamw_torch_fused" and full_precision else {}
            opt = torch.optim.AdamW(groups, lr=hp.learning_rate, eps=hp.adam_epsilon, **fused)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = hp.warmup_steps or math.ceil(hp.warmup_ratio * total)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: linear_warmup_decay(step, warmup, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def linear_warmup_decay(step: int, warmup: int, total: int) -> float:
    """LR multiplier: 0 -> 1 over ``warmup`` steps, then linearly down to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))
