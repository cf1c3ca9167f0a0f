"""Self-critical sequence training (SCST; Rennie et al. 2017) for seq2seq question generators: ``loss="scst"``.

Per batch: ``num_samples`` questions are sampled per input and one is decoded greedily (both without gradients,
the model in eval mode); each is scored by the reward mix (jaqg.training.rewards), the greedy question's reward
being the baseline. The loss is REINFORCE with that baseline plus two anchors to the supervised start::

    loss = -mean((r(sample) - r(greedy)) * log p(sample)) + kl_coef * KL + mle_weight * CE(reference question)

KL is the k3 estimate ``exp(d) - d - 1`` (d = log p_ref - log p, per sampled token; non-negative, unbiased for
KL(p || p_ref) under the samples) against a frozen copy of the starting model, reloaded from
``model_name_or_path`` under the run's seed (so its new-token rows match what the run started from): checkpoints
hold nothing extra and a resumed run continues exactly. The QA judge is loaded from ``qa_model`` once.
What a question is judged against (the answer and passage) is read back from the batch's decoded inputs, with the
data dir's task and template (aqg or aqg_hl). Logged per step: ``reward`` (samples), ``reward_greedy``, each
component ``reward_{name}`` (samples), ``kl``, ``degenerate`` (share of samples; jaqg.training.rewards), ``mle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..core.config import option
from ..core.errors import ParamError
from ..data.batching import IGNORE_INDEX
from ..evaluation.roundtrip import load_qa_model
from ..generation.decoding import clean_text
from ..models.loading import load_pretrained
from .data import data_report
from .objectives import logits_and_labels, register_objective
from .rewards import DEFAULT_REWARDS, RewardItem, degenerate, input_parser, parse_rewards, score


@dataclass
class ScstConfig:
    """The settings of ``loss="scst"`` (train.py's flags of the same names)."""
    reward: list[str] = option(DEFAULT_REWARDS, help="reward components NAME:WEIGHT (qa_f1, hallucination, "
                                                     "fragment, "
                                                     "leakage, form, ref_f1; a negative weight is a penalty); "
                                                     "repeat the flag or give several after it")
    qa_model: Optional[str] = option(None, help="frozen QA model dir that answers the generated questions (the "
                                                "qa_f1 reward)")
    kl_coef: float = option(0.05, help="weight of the KL penalty to the starting model (0 = off)")
    mle_weight: float = option(0.0, help="weight of the supervised cross-entropy mixed into the scst loss")
    num_samples: int = option(4, help="questions sampled per input for scst")


class ScstState:
    """What the objective loads once per run: tokenizer, frozen reference, QA judge, reward weights, input parser."""

    def __init__(self, config, device: torch.device):
        # built on the first step (a resumed run's first is mid-run): loading draws no number from the run's RNG
        with torch.random.fork_rng(devices=[]):
            self._load(config, device)

    def _load(self, config, device: torch.device) -> None:
        self.weights = parse_rewards(getattr(config, "reward", DEFAULT_REWARDS))
        self.kl_coef = float(getattr(config, "kl_coef", 0.0))
        self.mle_weight = float(getattr(config, "mle_weight", 0.0))
        self.num_samples = int(getattr(config, "num_samples", 4))
        if self.num_samples < 1:
            raise ParamError("num_samples", f"must be at least 1, got {self.num_samples}")
        self.max_new_tokens = int(getattr(config, "max_target_length", 64))
        torch.manual_seed(config.seed)  # as train.py drew the new-token rows before loading the model
        reference, self.tokenizer = load_pretrained(config.model_name_or_path, config.tokenizer_name_or_path)
        self.reference = reference.to(device).eval().requires_grad_(False) if self.kl_coef > 0 else None
        qa_model = getattr(config, "qa_model", None)
        needs_qa = any(name == "qa_f1" for name, _ in self.weights)
        if needs_qa and not qa_model:
            raise ParamError("qa_model", "the `qa_f1` reward needs a QA model dir; pass one, or drop qa_f1 from "
                                         "`reward`")
        self.judges = {"qa": load_qa_model(qa_model, device=str(device)) if needs_qa else None}
        info = data_report(config.data_dir) if getattr(config, "data_dir", None) else None
        self.parse = input_parser((info or {}).get("task"), (info or {}).get("template"))

    def items(self, batch: dict) -> list[RewardItem]:
        tok = self.tokenizer
        drop = {t for t in (tok.pad_token, tok.eos_token) if t}
        inputs = [tok.convert_tokens_to_string([t for t in tok.convert_ids_to_tokens(ids) if t not in drop])
                  for ids in batch["input_ids"].tolist()]
        references = self.decode(batch["labels"])
        return [RewardItem(*self.parse(text), reference=ref) for text, ref in zip(inputs, references)]

    def decode(self, labels: torch.Tensor) -> list[str]:
        ids = labels.masked_fill(labels == IGNORE_INDEX, self.tokenizer.pad_token_id)
        return [clean_text(t) for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


_STATES: dict = {}


def state_for(config, device: torch.device) -> ScstState:
    """The run's ScstState, built on the first step (one run per process: an earlier run's is dropped)."""
    key = (id(config), str(device))
    if key not in _STATES:
        _STATES.clear()
        _STATES[key] = ScstState(config, device)
    return _STATES[key]


def sampled_labels(sequences: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """Generated decoder sequences (start token first) as labels: up to and including the first EOS, -100 after."""
    labels = sequences[:, 1:]
    eos = (labels == eos_token_id).int()
    after = (eos.cumsum(-1) - eos) > 0
    return labels.masked_fill(after, IGNORE_INDEX)


def token_log_probs(model, input_ids, attention_mask, labels) -> torch.Tensor:
    """log p(label token) per position (0 where ignored), from one teacher-forced forward pass."""
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    logits, labels = logits_and_labels(model, batch)
    keep = labels != IGNORE_INDEX
    logp = logits.float().log_softmax(-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return logp * keep


def scst_loss(log_probs: torch.Tensor, keep: torch.Tensor, advantages: torch.Tensor,
              ref_log_probs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(policy-gradient loss, mean per-token k3 KL to the reference (0 without one)) of sampled sequences:
    ``-mean(advantage * sum_t log p)``; a positive advantage pushes the sample's log-probability up."""
    pg = -(advantages.detach() * log_probs.sum(-1)).mean()
    if ref_log_probs is None:
        return pg, torch.zeros((), device=log_probs.device)
    d = (ref_log_probs - log_probs) * keep
    kl = ((torch.exp(d) - d - 1) * keep).sum() / keep.sum().clamp(min=1)
    return pg, kl


@register_objective("scst")
def scst(model, batch: dict, config=None, **_) -> tuple[torch.Tensor, dict]:
    raw = getattr(model, "module", model)  # Fabric's wrapper: generate on the HF model itself
    if not raw.config.is_encoder_decoder:
        raise ParamError("loss", "scst trains seq2seq question generators (T5, BART); this model is a causal LM")
    if config is None:
        raise ParamError("loss", "scst needs the run's config (the training loop passes it)")
    device = batch["input_ids"].device
    state = state_for(config, device)
    k, n = state.num_samples, batch["input_ids"].shape[0]
    eos = raw.config.eos_token_id
    was_training = raw.training
    raw.eval()
    try:
        with torch.no_grad():
            common = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                          max_new_tokens=state.max_new_tokens, num_beams=1)
            # from the model's own distribution (whatever its generation_config says): the log-probs below are its
            samples = raw.generate(**common, do_sample=True, num_return_sequences=k, top_k=0, top_p=1.0,
                                   temperature=1.0, repetition_penalty=1.0, no_repeat_ngram_size=0)
            greedy = raw.generate(**common, do_sample=False)
    finally:
        raw.train(was_training)
    labels = sampled_labels(samples, eos)
    items = state.items(batch)
    sample_items = [it for it in items for _ in range(k)]
    questions = state.decode(labels) + state.decode(sampled_labels(greedy, eos))
    totals, parts = score(questions, sample_items + items, state.weights, state.judges)
    rewards = torch.tensor(totals[: n * k], dtype=torch.float32, device=device)
    baseline = torch.tensor(totals[n * k:], dtype=torch.float32, device=device).repeat_interleave(k)
    input_ids = batch["input_ids"].repeat_interleave(k, 0)
    attention_mask = batch["attention_mask"].repeat_interleave(k, 0)
    log_probs = token_log_probs(model, input_ids, attention_mask, labels)
    keep = labels != IGNORE_INDEX
    ref_log_probs = None
    if state.reference is not None:
        with torch.no_grad():
            ref_log_probs = token_log_probs(state.reference, input_ids, attention_mask, labels)
    pg, kl = scst_loss(log_probs, keep, rewards - baseline, ref_log_probs)
    loss = pg + state.kl_coef * kl
    logs = {"reward": rewards.mean().item(), "reward_greedy": sum(totals[n * k:]) / n, "kl": kl.item(),
            "degenerate": sum(degenerate(q, it) for q, it in zip(questions, sample_items)) / (n * k)}
    logs.update({f"reward_{name}": sum(values[: n * k]) / (n * k) for name, values in parts.items()})
    if state.mle_weight > 0:
        logits, targets = logits_and_labels(model, batch)
        mle = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
        loss = loss + state.mle_weight * mle
        logs["mle"] = mle.item()
    return loss, logs


@torch.no_grad()
def validation_sums(model, batches, config) -> dict[str, tuple[float, int]]:
    """The greedy questions' reward (``reward``), each component (``reward_{name}``) and the ``degenerate`` share
    over the validation batches, as (sum, count): the loop logs them as val_ columns."""
    raw = getattr(model, "module", model)
    # every name from the start: a rank whose shard is empty still reports them (the ranks add them up)
    names = ["reward", *(f"reward_{k}" for k, _ in parse_rewards(getattr(config, "reward", DEFAULT_REWARDS))),
             "degenerate"]
    sums: dict[str, list] = {name: [0.0, 0] for name in names}
    for batch in batches:
        state = state_for(config, batch["input_ids"].device)
        greedy = raw.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              max_new_tokens=state.max_new_tokens, num_beams=1, do_sample=False)
        questions = state.decode(sampled_labels(greedy, raw.config.eos_token_id))
        items = state.items(batch)
        totals, parts = score(questions, items, state.weights, state.judges)
        values = {"reward": totals, **{f"reward_{k}": v for k, v in parts.items()},
                  "degenerate": [float(degenerate(q, it)) for q, it in zip(questions, items)]}
        for name, vals in values.items():
            sums[name][0] += sum(vals)
            sums[name][1] += len(vals)
    return {name: (s, n) for name, (s, n) in sums.items()}


scst.validation_sums = validation_sums
