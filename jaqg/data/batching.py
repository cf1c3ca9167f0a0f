"""Batches without wasted padding: tokenize once, pad each batch to its own longest row, group by length.

Model-agnostic: a feature is a dict of token-id lists (``input_ids``, ``labels``, optionally more);
seq2seq examples have separate input and label sequences, causal-LM examples (run_clm.py) use the same
collator with ``labels`` the length of ``input_ids``. Padded label positions become -100 (ignored by the loss).
"""

from __future__ import annotations

import math
import random
from typing import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

IGNORE_INDEX = -100


class TokenizedDataset(Dataset):
    """Seq2seq examples tokenized once; ``lengths`` (the longer side) drive the batch sampler."""

    def __init__(self, examples: Sequence, tokenizer, max_input_length: int, max_target_length: int):
        self.ids = [e.id for e in examples]
        enc = tokenizer([e.input for e in examples], truncation=False)["input_ids"]
        dec = tokenizer(text_target=[e.target for e in examples], truncation=False)["input_ids"]
        # Count before cutting so the user learns how much --max_*_length throws away.
        self.truncated_inputs = sum(len(x) > max_input_length for x in enc)
        self.truncated_targets = sum(len(y) > max_target_length for y in dec)
        self.features = [{"input_ids": truncate(x, max_input_length), "labels": truncate(y, max_target_length)}
                         for x, y in zip(enc, dec)]

    @property
    def lengths(self) -> list[int]:
        return [max(len(v) for v in f.values()) for f in self.features]

    def truncation_report(self, name: str) -> str:
        n = len(self.features)
        return (f"{name}: {n} examples; {self.truncated_inputs} inputs and {self.truncated_targets} targets "
                f"were truncated (raise --max_input_length / --max_target_length to keep them)")

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


def truncate(ids: list[int], max_length: int) -> list[int]:
    """Cut to max_length, keeping the final special token (</s>) when there is one to keep."""
    if len(ids) <= max_length:
        return ids
    return ids[: max_length - 1] + ids[-1:]


class Collator:
    """Pad every key to the batch's longest row: input_ids with pad_id, labels with -100; add attention_mask."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = {}
        for key in features[0]:
            rows = [f[key] for f in features]
            width = max(map(len, rows))
            if self.pad_to_multiple_of:
                width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
            pad = IGNORE_INDEX if key == "labels" else (self.pad_token_id if key == "input_ids" else 0)
            batch[key] = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
            if key == "input_ids":
                batch["attention_mask"] = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows],
                                                       dtype=torch.long)
        return batch


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length, in random order, disjoint across DDP ranks.

    Each epoch (seeded by seed + epoch): shuffle, cut into megabatches of ``bucket_factor * batch_size``,
    sort each megabatch by length, cut into batches, shuffle the batches. Every rank computes the same
    list and takes every ``num_replicas``-th batch, so ranks share nothing and get the same count
    (the list is padded by repeating batches when it does not divide evenly).

    ``start_batch`` (set by a resumed run, see ``jaqg.training.loop``) makes the next iteration begin at
    that batch of the epoch's list, so a run continued mid-epoch sees exactly the batches the uninterrupted run
    would have; later iterations start at 0 again. ``len()`` is always the whole epoch's count, which the training
    loop counts an epoch's batches by.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0, bucket_factor: int = 50, drop_last: bool = False,
                 even: bool = True):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.bucket_factor = bucket_factor
        self.drop_last = drop_last
        self.even = even
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:  # evaluation: longest first, deterministic
            order.sort(key=lambda i: -self.lengths[i])
            return [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng = random.Random(self.seed + self.epoch)
        rng.shuffle(order)
        mega = self.bucket_factor * self.batch_size
        batches = []
        for start in range(0, len(order), mega):
            chunk = sorted(order[start: start + mega], key=lambda i: -self.lengths[i])
            batches += [chunk[i: i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        rng.shuffle(batches)
        return batches

    def _rank_batches(self) -> list[list[int]]:
        batches = self._all_batches()
        if self.num_replicas > 1:
            if self.drop_last:
                batches = batches[: len(batches) - len(batches) % self.num_replicas]
            elif self.even:
                batches = batches + batches[: -len(batches) % self.num_replicas]
            batches = batches[self.rank:: self.num_replicas]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        start, self.start_batch = self.start_batch, 0
        return iter(self._rank_batches()[start:])

    def __len__(self) -> int:  # independent of the epoch: megabatch sizes are fixed
        return len(self._rank_batches())
