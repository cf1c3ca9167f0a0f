"""Constraints on what beam search may choose: bad words (every token sequence that spells a word) and the
Hamming diversity penalty of group beam search. See jaqg.generation.decoding's docstring."""

from __future__ import annotations

import functools
from typing import Sequence

import torch
from transformers import LogitsProcessor


def token_surfaces(tokenizer) -> list[str]:
    """The text each token id decodes to on its own ("" for special tokens)."""
    return _token_surfaces(tokenizer)


@functools.lru_cache(maxsize=4)
def _token_surfaces(tokenizer) -> list[str]:
    special = set(tokenizer.all_special_ids)
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False)
    return ["" if i in special else t for i, t in enumerate(texts)]


def bad_words_ids(tokenizer, words: Sequence[str]) -> list[list[int]]:
    """Every token sequence that spells one of the words (minimal: dropping its first or last token undoes it).

    A single piece that contains the word; a first piece ending in the word's first i characters, middle pieces
    that are exactly the next characters, a last piece starting with the rest. Surfaces of pieces decoded alone
    lose a word-start space, so this can block a little more than needed (``山``+``▁梨``), never less.
    """
    surfaces = token_surfaces(tokenizer)
    exact: dict[str, list[int]] = {}
    for i, s in enumerate(surfaces):
        if s:
            exact.setdefault(s, []).append(i)

    def spell_start(rest: str) -> list[list[int]]:
        """Sequences whose text starts with ``rest``: a piece starting with it, or an exact piece then more."""
        found = [[i] for i, s in enumerate(surfaces) if s and s.startswith(rest)]
        for k in range(1, len(rest)):
            for i in exact.get(rest[:k], []):
                found += [[i, *tail] for tail in spell_start(rest[k:])]
        return found

    sequences: set[tuple[int, ...]] = set()
    for word in words:
        sequences.update((i,) for i, s in enumerate(surfaces) if word in s)
        for cut in range(1, len(word)):
            heads = [i for i, s in enumerate(surfaces) if s.endswith(word[:cut]) and word not in s]
            tails = spell_start(word[cut:])
            sequences.update((h, *t) for h in heads for t in tails)
        # The tokenizer's own spellings, as the transformers docs build them (covered above; kept as a guard).
        for text in (word, " " + word):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            if ids and word in tokenizer.decode(ids):
                sequences.add(tuple(ids))
    return [list(s) for s in sorted(sequences)]


def _offending_span(tokenizer, ids: list[int], word: str) -> tuple[int, ...]:
    """The shortest run of ``ids`` whose decoded text holds ``word``."""
    end = next(j for j in range(1, len(ids) + 1) if word in tokenizer.decode(ids[:j], skip_special_tokens=True))
    start = next(i for i in range(end - 1, -1, -1) if word in tokenizer.decode(ids[i:end], skip_special_tokens=True))
    return tuple(ids[start:end])


class StepDiversityPenalty(LogitsProcessor):
    """Hamming diversity: lower the log-prob of a token by ``penalty`` for each earlier hypothesis that chose it
    at the same step. ``earlier`` is (batch, hypotheses, steps) of token ids, -1 where none. A confident model
    can outweigh any penalty, so a hypothesis may also never end exactly as an earlier one did: the n-best
    stays distinct."""

    def __init__(self, earlier: torch.Tensor, penalty: float, start_len: int, beams: int):
        self.earlier, self.penalty, self.start_len, self.beams = earlier, penalty, start_len, beams

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        scores = torch.log_softmax(scores, dim=-1)  # greedy passes logits, beam search log-probs: same scale
        step = input_ids.shape[1] - self.start_len
        if step >= self.earlier.shape[2]:
            return scores
        earlier = self.earlier.repeat_interleave(self.beams, dim=0).to(scores.device)  # rows = batch * beams
        chosen = earlier[:, :, step]
        counts = torch.zeros_like(scores).scatter_add_(1, chosen.clamp(min=0), (chosen >= 0).to(scores.dtype))
        ends_here = (chosen >= 0) & (earlier[:, :, step + 1:] < 0).all(dim=2)
        same_prefix = (earlier[:, :, :step] == input_ids[:, None, self.start_len:]).all(dim=2)
        repeat = (ends_here & same_prefix).to(scores.dtype)
        repeats = torch.zeros_like(scores).scatter_add_(1, chosen.clamp(min=0), repeat)
        return (scores - self.penalty * counts).masked_fill(repeats > 0, float("-inf"))
