"""Beam search over an encoder-decoder with one copy of the encoder's keys and values per input, not per beam.

transformers' beam search repeats each input's encoder states once per beam, so every decoding step reads
(beams x encoder length) keys and values per layer for each input, and reorders them every step, although the
beams of an input never leave it and all see the same states. Here the cross-attention cache keeps one copy per
input, is never reordered, and an attention function registered with transformers' ``AttentionInterface``
stacks an input's beam queries (one new token each) as the query rows of a single attention over that copy, as
transformers' own ``pack_gqa`` does for grouped-query heads. It is the same arithmetic in another kernel shape:
logits agree with plain beam search to float rounding (~2e-6, as padding alone moves them), not bit for bit.
In ``bench/generate_throughput.py`` (tiny T5, 1 CPU thread) it took batched beam 4 from 3.2x to 4.3x the
one-input-per-call pipeline.

Only models that run on transformers' ``sdpa`` attention (T5, mT5, BART, ...) or on ``jaqg.models.t5_attention``'s
switch;
any other keeps its own.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers import AttentionInterface, DynamicCache, EncoderDecoderCache
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from .t5_attention import CHUNKED_T5, chunked_t5_attention, t5_attention_mask

BEAM_SHARED_SDPA = "jaqg_beam_shared_sdpa"
BEAM_SHARED_CHUNKED_T5 = "jaqg_beam_shared_chunked_t5"


def _beam_shared(attention):
    """``attention`` (an attention-interface function), except when the keys hold one row per input and the
    queries one per beam."""

    def beam_shared(module, query, key, value, attention_mask, **kwargs):
        rows, inputs = query.shape[0], key.shape[0]
        if rows == inputs:
            return attention(module, query, key, value, attention_mask, **kwargs)
        beams = rows // inputs
        if query.shape[2] != 1:  # several new tokens per beam (only a prompt would): give each beam its copy
            key, value = key.repeat_interleave(beams, dim=0), value.repeat_interleave(beams, dim=0)
            return attention(module, query, key, value, attention_mask, **kwargs)
        # Masks and biases repeat per beam (or broadcast, with a leading 1): keep one row per input.
        per_input = lambda t: t[::beams] if t is not None and t.shape[0] == rows else t  # noqa: E731
        kwargs["position_bias"] = per_input(kwargs.get("position_bias"))
        heads, dim = query.shape[1], query.shape[3]
        # (inputs * beams, heads, 1, dim) -> (inputs, heads, beams, dim): an input's beams are query rows of one
        # attention
        packed = query.view(inputs, beams, heads, dim).transpose(1, 2)
        kwargs["is_causal"] = False  # the rows are beams side by side, not positions
        out, _ = attention(module, packed, key, value, per_input(attention_mask), **kwargs)
        return out.reshape(rows, 1, heads, dim), None  # (inputs, beams, heads, dim) -> (rows, 1 token, heads, dim)

    return beam_shared


# the model's attention -> (its beam-shared variant's name, the variant, the mask function it needs)
BEAM_SHARED = {"sdpa": (BEAM_SHARED_SDPA, _beam_shared(sdpa_attention_forward), sdpa_mask),
               CHUNKED_T5: (BEAM_SHARED_CHUNKED_T5, _beam_shared(chunked_t5_attention), t5_attention_mask)}
for _name, _attention, _mask in BEAM_SHARED.values():
    AttentionInterface.register(_name, _attention)
    # Masks are built per attention implementation; a name without a mask function silently gets no padding mask.
    AttentionMaskInterface.register(_name, _mask)


class BeamSharedCrossCache(EncoderDecoderCache):
    """Beam search reorders the cache every step, but the cross-attention cache holds the same encoder states for
    every beam of an input and beams never move to another input: only the self-attention cache is reordered
    (reordering cross-attention copies (beams x encoder length) keys and values per layer and step for nothing)."""

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.self_attention_cache.reorder_cache(beam_idx)


@contextmanager
def beam_search_cache(model, encoder_states: torch.Tensor, attention_mask: torch.Tensor):
    """The cache to pass to ``model.generate`` for a beam search over ``encoder_states`` (one row per input).

    A model on transformers' sdpa attention (or jaqg.models.t5_attention's) runs on its beam-shared variant inside the
    block, and its cross-attention cache is filled here with one row per input by one decoder step over the inputs
    (keys and values do not depend on the decoder's tokens), so beam search never projects (beams x encoder length)
    copies of the encoder states.
    Any other model keeps its attention; beam search then fills one row per beam and only reordering is saved."""
    config = model.config.get_text_config(decoder=True)
    cross = DynamicCache(config=config)
    before = model.config._attn_implementation
    if not (model.config.is_encoder_decoder and before in BEAM_SHARED):
        yield BeamSharedCrossCache(DynamicCache(config=config), cross)
        return
    model.set_attn_implementation(BEAM_SHARED[before][0])
    try:
        start = torch.zeros((encoder_states.shape[0], 1), dtype=torch.long, device=encoder_states.device)
        model(encoder_outputs=(encoder_states,), attention_mask=attention_mask, decoder_input_ids=start,
              cache=EncoderDecoderCache(DynamicCache(config=config), cross), use_cache=True)
        yield BeamSharedCrossCache(DynamicCache(config=config), cross)
    finally:
        model.set_attn_implementation(before)
