"""generate_qa over a corpus on several processes (torchrun; gloo on CPUs, NCCL on GPUs): each rank runs the
pipeline on a contiguous shard of the documents, rank 0 gathers the shards and merges them in input order.

Documents are independent in the pipeline (passages, candidates and duplicate questions are per document), so the
merged result is the one-process result: the same records in the same order, and the summary's counts summed. The
decoding batches differ (each rank batches only its shard's inputs); with the attention mask that changes padding,
not results (the test compares a 2-process run with one process).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Callable, Sequence

import torch.distributed as dist

from .pipeline import REASONS, QagResult

SUMMED = ("documents", "passages", "sentences", "sentences_cut", "inputs_over_limit", "candidates", "kept",
          "kept_hallucinated")


def world() -> tuple[int, int]:
    """(rank, world size) of this process under torchrun / SLURM's env, (0, 1) alone."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def shard(n: int, rank: int, world_size: int) -> range:
    """The contiguous share of ``n`` items for ``rank``: sizes differ by at most one, earlier ranks first."""
    per, extra = divmod(n, world_size)
    start = rank * per + min(rank, extra)
    return range(start, start + per + (rank < extra))


def merge_results(parts: Sequence[QagResult]) -> QagResult:
    """The shards' results as one: records and passages concatenated in shard order (passage indexes renumbered),
    counts summed, the longest input the longest of all."""
    merged = QagResult()
    for part in parts:
        offset = len(merged.passages)
        merged.records += part.records
        merged.passages += [{**p, "index": p["index"] + offset} for p in part.passages]
    summaries = [p.summary for p in parts if p.summary]
    if not summaries:
        return merged
    summary = dict(summaries[0])
    for key in SUMMED:
        summary[key] = sum(s[key] for s in summaries)
    summary["max_input_tokens"] = max(s["max_input_tokens"] for s in summaries)
    dropped = sum((Counter(s["dropped"]) for s in summaries), Counter())
    summary["dropped"] = {reason: dropped[reason] for reason in REASONS if dropped[reason]}
    generation = sum((Counter(s.get("generation", {})) for s in summaries), Counter())
    summary["generation"] = {k: generation[k] for k in summaries[0].get("generation", {})}
    merged.summary = summary
    return merged


def sharded(run: Callable[[Sequence], QagResult], documents: Sequence) -> QagResult | None:
    """``run(documents)`` on this rank's shard; on rank 0 the merged result of every rank, elsewhere None.
    Without a process group (one process) it is ``run(documents)``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return run(documents)
    rank, size = dist.get_rank(), dist.get_world_size()
    mine = run([documents[i] for i in shard(len(documents), rank, size)])
    parts: list[QagResult | None] = [None] * size if rank == 0 else []
    dist.gather_object(mine, parts if rank == 0 else None, dst=0)
    return merge_results(parts) if rank == 0 else None
