"""Training objectives: a function of (model, batch) -> loss, or (loss, {name: value to log}).

The objective is the extension point of training. A new one is a registered function::

    from jaqg.training.objectives import register_objective

    @register_objective("my_objective")
    def my_objective(model, batch, **options):  # model: called like the HF model; batch: input_ids,
        ...                                     # attention_mask, labels (-100 = ignore); options:
        return loss, {"reward": reward}         # label_smoothing, config (the run's TrainingConfig)

and is selected with ``loss="my_objective"`` (the module holding it must be imported first, e.g. from a wrapper
script). An objective may do anything inside the step, e.g. generate and score a reward; the logged values
appear as columns of logs/metrics.csv. A loss on aligned (logits, labels) is the common special case:
``register_loss`` makes one an objective (``from_loss``); causal LMs are shifted before the loss is called.
The validation loss (which picks the best model unless ``metric_for_best_model`` names another value) is always
plain token-level cross-entropy (``loss_sums``), so runs with different objectives stay comparable. An objective
may also carry an attribute
``validation_sums(model, batches, config) -> {name: (sum, count)}`` (the model in eval mode, the validation
batches of this rank): each ``sum / count``, added over the ranks, is logged beside ``val_loss`` as ``val_{name}``.
"""

from __future__ import annotations

from typing import Callable, Iterable, Union

import torch
import torch.nn.functional as F

from ..core.errors import ParamError
from ..data.batching import IGNORE_INDEX

ObjectiveResult = Union[torch.Tensor, tuple[torch.Tensor, dict]]
OBJECTIVES: dict[str, Callable[..., ObjectiveResult]] = {}
LOSSES: dict[str, Callable[..., torch.Tensor]] = {}


def register_objective(name: str):
    """Decorator: make ``fn(model, batch, **options) -> loss | (loss, logs)`` selectable as the run's loss."""
    def add(fn):
        OBJECTIVES[name] = fn
        return fn
    return add


def register_loss(name: str):
    """Decorator: make ``fn(logits, labels, **options) -> scalar`` (logits [B, T, V], labels [B, T] with -100 =
    ignore, already aligned) selectable as the run's loss; it is also registered as an objective."""
    def add(fn):
        LOSSES[name] = fn
        OBJECTIVES[name] = from_loss(fn)
        return fn
    return add


def from_loss(loss_fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """The objective that computes the model's logits for ``batch`` and applies ``loss_fn(logits, labels)``."""
    def objective(model, batch: dict, **options) -> torch.Tensor:
        logits, labels = logits_and_labels(model, batch)
        return loss_fn(logits, labels, **options)
    objective.__name__ = f"objective_of_{getattr(loss_fn, '__name__', 'loss')}"
    return objective


def get_objective(name: str) -> Callable[..., ObjectiveResult]:
    if name not in OBJECTIVES:
        raise ParamError("loss", f"{name}: unknown; choose from {', '.join(sorted(OBJECTIVES))} or register one "
                                 "with jaqg.training.objectives.register_objective / register_loss")
    return OBJECTIVES[name]


def split_result(result: ObjectiveResult) -> tuple[torch.Tensor, dict]:
    if isinstance(result, tuple):
        loss, logs = result
        return loss, dict(logs or {})
    return result, {}


def is_causal(model) -> bool:
    return not model.config.is_encoder_decoder


def logits_and_labels(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the labels they predict, aligned: causal LMs are shifted (token t predicts token t+1)."""
    labels = batch["labels"]
    if is_causal(model):
        if "position_ids" in batch:
            # Packed rows (jaqg.data.chat_sft.pack): positions restart at each example, and with no attention mask
            # (and no cache) transformers makes the mask block-diagonal from them: no attention across examples.
            logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        else:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return logits[:, :-1], labels[:, 1:]
    # decoder inputs = labels shifted right; asking the model for its own loss would compute it twice
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels=labels)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   decoder_input_ids=decoder_input_ids).logits
    return logits, labels


def batch_tokens(model, batch: dict) -> int:
    """Tokens a training batch processes (inputs, plus targets for seq2seq): the throughput unit."""
    tokens = int(batch["attention_mask"].sum())
    return tokens if is_causal(model) else tokens + int((batch["labels"] != IGNORE_INDEX).sum())


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


@torch.no_grad()
def loss_sums(model, batches: Iterable[dict], context=None) -> tuple[float, int]:
    """(summed token-level cross-entropy, labelled tokens) over ``batches``: the validation loss's parts, summed
    (not averaged) so that shards of a data set (DDP ranks) combine exactly. ``context``: a context manager
    factory each forward runs in (e.g. autocast)."""
    total = torch.zeros((), dtype=torch.float64)
    n_tokens = 0
    for batch in batches:
        if context is None:
            logits, labels = logits_and_labels(model, batch)
        else:
            with context():
                logits, labels = logits_and_labels(model, batch)
        loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                               reduction="sum")
        total += loss.double().cpu()
        n_tokens += int((labels != IGNORE_INDEX).sum())
    return float(total), n_tokens
