"""T5's attention computed in cache-sized chunks on a CPU: the same arithmetic as transformers' eager path, faster.

T5 (and mT5, UMT5) add a learned relative position bias, shape (1, heads, q, k), and a padding mask to the unscaled
query-key products. On a CPU, transformers' ``sdpa`` path merges bias and mask into a (batch, heads, q, k) float
mask with ``torch.where`` in every layer, which sends SDPA to its math kernel (more full passes over the scores);
its ``eager`` path multiplies the scores by 1.0 and adds bias and mask in separate passes. At JSQuAD lengths
(inputs of 200-400 tokens) each of those passes streams megabytes of scores through memory.

Here the scores of a few examples (or of a few heads of one example) are formed, biased, masked, soft-maxed and
multiplied by the values before the next chunk starts (at most ``CHUNK_BYTES`` of scores, so a chunk stays in the
L2 cache), and backward (a ``torch.autograd.Function``) walks the same chunks with the saved probabilities. Per
element it is eager's arithmetic in eager's order, ``softmax((q @ k.T) * scaling + bias + mask)``, then dropout and
``@ v``; the gradient of the position bias is summed over examples chunk by chunk. (In fp32. Under bf16 autocast
the scores stay bf16 where eager promotes them to fp32 at the bias: close, not equal.) Measured in
``bench/train_throughput.py`` / ``bench/generate_throughput.py`` (see docs/speed.md).

``use_chunked_attention(model)`` switches a T5-family model to it (train.py, and ``jaqg.generation.decoding`` for the
length
of a call); any other model keeps its attention, and on a GPU (where SDPA has fused kernels) the same switch runs
transformers' sdpa path.
The switch is not saved: ``save_pretrained`` writes no attention implementation, so outputs load anywhere.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

CHUNKED_T5 = "jaqg_chunked_t5"
T5_FAMILY = ("t5", "mt5", "umt5")
# Scores per chunk: a chunk's (q x k) scores, bias and probabilities should stay in a core's L2 cache (2 MiB here).
CHUNK_BYTES = 1 << 20


def _chunks(batch: int, heads: int, q_len: int, k_len: int, itemsize: int):
    """(examples, heads) slices covering the (batch, heads) grid, each <= CHUNK_BYTES of scores, each a
    contiguous block of a (batch, heads, q, k) tensor: several whole examples, or some heads of one example."""
    per_head = q_len * k_len * itemsize
    per_example = heads * per_head
    if per_example <= CHUNK_BYTES:
        step = max(1, CHUNK_BYTES // per_example)
        for b in range(0, batch, step):
            yield slice(b, min(batch, b + step)), slice(None)
    else:
        step = max(1, CHUNK_BYTES // per_head)
        for b in range(batch):
            for h in range(0, heads, step):
                yield slice(b, b + 1), slice(h, min(heads, h + step))


def _part(t: torch.Tensor | None, rows: slice, heads: slice) -> torch.Tensor | None:
    """The chunk's share of a bias or mask that may broadcast over examples (dim 0) or heads (dim 1)."""
    if t is None:
        return None
    return t[rows if t.shape[0] > 1 else slice(None), heads if t.shape[1] > 1 else slice(None)]


def _scores_to_probs(q, k, bias, mask, scaling: float, out: torch.Tensor | None = None) -> torch.Tensor:
    scores = torch.matmul(q, k.transpose(-1, -2))
    if scaling != 1.0:
        scores.mul_(scaling)
    if bias is not None:
        scores.add_(bias)
    if mask is not None:
        scores.add_(mask)
    return torch.softmax(scores, dim=-1, out=scores if out is None else out)


def _attend(q, k, v, bias, mask, scaling: float, dropout: float, for_backward: bool):
    """The forward pass, chunk by chunk: (output (B, H, Lq, Dv), probabilities, dropout keep-mask); the last two
    (B, H, Lq, Lk) are kept only ``for_backward`` (else None: each chunk's softmax runs in place)."""
    batch, heads, q_len, _ = q.shape
    out = q.new_empty(batch, heads, q_len, v.shape[3])
    probs = q.new_empty(batch, heads, q_len, k.shape[2]) if for_backward else None
    keep = torch.empty((batch, heads, q_len, k.shape[2]), dtype=torch.bool) if for_backward and dropout > 0 else None
    for rows, hs in _chunks(batch, heads, q_len, k.shape[2], q.element_size()):
        p = _scores_to_probs(q[rows, hs], k[rows, hs], _part(bias, rows, hs), _part(mask, rows, hs), scaling,
                             out=None if probs is None else probs[rows, hs])
        if dropout > 0:
            drawn = keep[rows, hs] if keep is not None else torch.empty(p.shape, dtype=torch.bool)
            p = p * drawn.bernoulli_(1 - dropout) / (1 - dropout)
        torch.matmul(p, v[rows, hs], out=out[rows, hs])
    return out, probs, keep


class _ChunkedAttention(torch.autograd.Function):
    """softmax(q k^T * scaling + bias + mask) -> dropout -> @ v, forward and backward chunk by chunk.

    q (B, H, Lq, D), k (B, H, Lk, D), v (B, H, Lk, Dv); bias (1|B, 1|H, Lq, Lk) (may require grad);
    mask additive (1|B, 1, 1|Lq, Lk), no grad. Returns (B, H, Lq, Dv)."""

    @staticmethod
    def forward(ctx, q, k, v, bias, mask, scaling, dropout):
        out, probs, keep = _attend(q, k, v, bias, mask, scaling, dropout, for_backward=True)
        ctx.save_for_backward(q, k, v, probs, keep)
        ctx.scaling, ctx.dropout = scaling, dropout
        ctx.bias_shape = bias.shape if bias is not None and ctx.needs_input_grad[3] else None
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, probs, keep = ctx.saved_tensors
        batch, heads, q_len, _ = q.shape
        grad_q, grad_k, grad_v = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        grad_bias = q.new_zeros(ctx.bias_shape) if ctx.bias_shape is not None else None
        for rows, hs in _chunks(batch, heads, q_len, k.shape[2], q.element_size()):
            p, g = probs[rows, hs], grad_out[rows, hs]
            dropped = p if keep is None else p * keep[rows, hs] / (1 - ctx.dropout)
            torch.matmul(dropped.transpose(-1, -2), g, out=grad_v[rows, hs])
            grad_p = torch.matmul(g, v[rows, hs].transpose(-1, -2))
            if keep is not None:
                grad_p.mul_(keep[rows, hs]).div_(1 - ctx.dropout)
            grad_s = torch._softmax_backward_data(grad_p, p, -1, p.dtype)  # d(scores + bias + mask)
            if grad_bias is not None:
                target = _part(grad_bias, rows, hs)
                broadcast = tuple(d for d in range(2) if target.shape[d] == 1 < grad_s.shape[d])
                target += grad_s.sum(dim=broadcast, keepdim=True) if broadcast else grad_s
            if ctx.scaling != 1.0:
                grad_s.mul_(ctx.scaling)
            torch.matmul(grad_s, k[rows, hs], out=grad_q[rows, hs])
            torch.matmul(grad_s.transpose(-1, -2), q[rows, hs], out=grad_k[rows, hs])
        return grad_q, grad_k, grad_v, grad_bias, None, None, None


def _additive(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A boolean keep-mask as 0 / dtype-min to add (a (batch, 1, 1|q, k) mask: small next to the scores)."""
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, torch.finfo(dtype).min)


def _nonzero(bias: torch.Tensor | None) -> torch.Tensor | None:
    """T5 passes an all-zero bias to layers without relative positions (cross-attention): skip adding it."""
    if bias is None or bias.requires_grad or bool(bias.any()):
        return bias
    return None


def chunked_t5_attention(module, query, key, value, attention_mask, dropout: float = 0.0,
                         scaling: float | None = None, position_bias: torch.Tensor | None = None, **kwargs):
    """transformers attention-interface function: (output (B, Lq, H, Dv), None). Falls back to transformers'
    eager path when attention weights are asked for (they are never materialized here)."""
    if kwargs.get("output_attentions"):  # eager adds the mask: ours is boolean
        from transformers.models.t5.modeling_t5 import eager_attention_forward
        return eager_attention_forward(module, query, key, value, _additive(attention_mask, query.dtype),
                                       scaling=scaling, dropout=dropout, position_bias=position_bias, **kwargs)
    causal = kwargs.get("is_causal", getattr(module, "is_causal", False))
    if query.device.type != "cpu" or (attention_mask is None and causal and query.shape[2] > 1):
        # on a GPU SDPA has fused kernels; a causal attention without a mask (ours always makes one) is SDPA's case
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      position_bias=position_bias, **kwargs)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling  # as eager; T5 passes 1.0 (no scaling)
    dropout = dropout if module.training else 0.0
    bias, mask = _nonzero(position_bias), _additive(attention_mask, query.dtype)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                                 for t in (query, key, value, bias))
    if needs_grad:
        out = _ChunkedAttention.apply(query, key, value, bias, mask, scaling, dropout)
    else:  # inference: no probabilities kept
        out, _, _ = _attend(query, key, value, bias, mask, scaling, dropout, for_backward=False)
    return out.transpose(1, 2).contiguous(), None


def t5_attention_mask(*args, **kwargs):
    """sdpa's boolean mask, None where it masks nothing (no padding; one decoding step's causal mask), but always
    made for a causal mask over several queries: there SDPA would drop it for ``is_causal``, which these kernels
    do not take."""
    if kwargs.get("q_length", 2) > 1:
        kwargs["allow_is_causal_skip"] = False
    return sdpa_mask(*args, **kwargs)


AttentionInterface.register(CHUNKED_T5, chunked_t5_attention)
AttentionMaskInterface.register(CHUNKED_T5, t5_attention_mask)


def use_chunked_attention(model) -> bool:
    """Switch a T5-family ``model`` to the chunked attention (on a GPU it runs transformers' sdpa path); True if
    it did, False for any other model (left as it is)."""
    if getattr(model.config, "model_type", None) not in T5_FAMILY:
        return False
    model.set_attn_implementation(CHUNKED_T5)
    return True


def set_attention(model, implementation: str) -> None:
    """train.py's --attn_implementation: ``auto`` is the chunked attention for a T5-family model and transformers'
    default for any other; ``sdpa`` / ``eager`` are transformers' own."""
    if implementation == "auto":
        use_chunked_attention(model)
    else:
        model.set_attn_implementation(implementation)


@contextmanager
def chunked_attention(model):
    """The chunked attention for the block (a T5-family model on transformers' default sdpa attention), then the
    model's own again. A model on another attention (eager, ...) keeps it; sdpa chosen on purpose cannot be told
    from the default, so it is switched too (the outputs are the same to float rounding)."""
    before = model.config._attn_implementation
    switched = before == "sdpa" and use_chunked_attention(model)
    try:
        yield
    finally:
        if switched:
            model.set_attn_implementation(before)
