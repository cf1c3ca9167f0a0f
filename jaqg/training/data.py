"""The batches of a training run: length-grouped training batches (a disjoint share per rank), validation batches
that cover every example exactly once across ranks, and the prepared data dir's report."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..core.io import read_json
from ..data.batching import Collator, LengthGroupedBatchSampler


class TrainingData:
    """Training and validation sets with their batch sizes. ``train_loader`` returns the loader and its batch
    sampler, whose ``set_epoch`` / ``start_batch`` the loop sets (a resumed run continues mid-epoch there)."""

    def __init__(self, train_set, val_set, pad_token_id: int, train_batch_size: int, eval_batch_size: int,
                 num_workers: int = 0, seed: int = 0):
        self.train_set, self.val_set = train_set, val_set
        self.collate = Collator(pad_token_id)
        self.train_batch_size, self.eval_batch_size = train_batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed

    def _loader(self, dataset, sampler) -> DataLoader:
        # Its own generator: a new epoch's iterator then draws its worker seed from it, not from the global
        # RNG that dropout uses, so dropout masks do not depend on where a run was resumed.
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, generator=generator)

    def train_loader(self, num_replicas: int = 1, rank: int = 0) -> tuple[DataLoader, LengthGroupedBatchSampler]:
        sampler = LengthGroupedBatchSampler(self.train_set.lengths, self.train_batch_size, shuffle=True,
                                            seed=self.seed, num_replicas=num_replicas, rank=rank)
        return self._loader(self.train_set, sampler), sampler

    def val_loader(self, num_replicas: int = 1, rank: int = 0) -> DataLoader:
        """Longest first; each example on exactly one rank (shards may differ by a batch: nothing is repeated)."""
        sampler = LengthGroupedBatchSampler(self.val_set.lengths, self.eval_batch_size, shuffle=False,
                                            num_replicas=num_replicas, rank=rank, even=False)
        return self._loader(self.val_set, sampler)


def data_report(data_dir: str | Path) -> dict | None:
    """task/template/format of a prepared data dir (None for a hand-made one without prepare_report.json);
    a multitask dir adds its task_prefixes and templates."""
    path = Path(data_dir) / "prepare_report.json"
    if not path.is_file():
        return None
    report = read_json(path)
    keys = ("task", "template", "format", "hl_strategy", "sep") + (("task_prefixes", "templates")
                                                                   if report.get("task") == "multi" else ())
    # chat data: the system turn it was prepared with (null: none), so inference prompts as training did; a report
    # without the key predates it and keeps the default (jaqg.generation.chat.system_prompt_for)
    chat = {k: report[k] for k in ("system_prompt", "instruction_template") if k in report}
    return {**{k: report.get(k) for k in keys}, **chat}
