"""Fitting inputs to a model's limits without cutting away what the output depends on.

An input longer than ``max_input_length`` tokens (or, for a causal LM, a prompt that with ``max_new_tokens`` would
pass the model's position limit: ``n_positions`` / ``max_position_embeddings``) is never cut blindly. Its context
(found with the input templates, e.g. ``question: {question} context: {context}``) is windowed instead, keeping the
task prefix, the question or answer fields, the text after the context, and the highlighted span
(``<hl>...<hl>``, or the template's answer where the context holds it) with as much context around it as fits.
A question without a highlight (QA) gets overlapping windows of the context (``STRIDE_OVERLAP`` of each window
shared with the next, Hugging Face run_qa's ``doc_stride`` idea); generation keeps the best-scoring window's
outputs. When even the kept parts do not fit, ParamError names the limit.
"""

from __future__ import annotations

import functools
import re
import string
from typing import Callable, NamedTuple, Sequence

import torch

from ..core.errors import ParamError
from ..data.formats import DEFAULT_TASK_PREFIXES, DEFAULT_TEMPLATES, HL_TOKEN, task_template
from .ct2 import Ct2Model

STRIDE_OVERLAP = 0.25  # the share of a QA window that the next window repeats
MAX_WINDOWS = 64


class Parts(NamedTuple):
    head: str  # before the context (task prefix, question/answer fields)
    context: str
    tail: str
    answer: str  # the template's answer field ("" when none)
    question: bool  # the template has a question field


def default_templates() -> list[str]:
    multi = [p + DEFAULT_TEMPLATES[t] for t, p in DEFAULT_TASK_PREFIXES.items()]
    return multi + [DEFAULT_TEMPLATES[t] for t in ("qa", "aqg")]


def model_templates(data_info: dict | None) -> list[str]:
    """The input templates a model was trained with (its run_config's data info), most specific first."""
    data_info = data_info or {}
    found = [task_template(data_info, t) for t in ("qa", "aqg", "aqg_hl", "ae")]
    return [t for t in found if t]


@functools.lru_cache(maxsize=64)
def _template_re(template: str) -> re.Pattern:
    out, seen = [], set()
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(re.escape(literal))
        if name is not None:
            if name in seen:
                out.append(f"(?P={name})")
            else:
                out.append(f"(?P<{name}>.*)" if name == "context" else f"(?P<{name}>.*?)")
                seen.add(name)
    return re.compile("".join(out), re.DOTALL)


def split_input(text: str, templates: Sequence[str] = ()) -> Parts:
    """The input's head, context and tail by the first template (given, then the defaults) with literal text that
    matches it; the whole input is context when none does."""
    for template in [*templates, *default_templates()]:
        if "{context}" not in template:
            continue
        m = _template_re(template).fullmatch(text)
        if m:
            groups = m.groupdict()
            return Parts(text[:m.start("context")], m.group("context"), text[m.end("context"):],
                         groups.get("answer") or "", "question" in groups)
    return Parts("", text, "", "", False)


def _protected(parts: Parts) -> tuple[int, int] | None:
    ctx = parts.context
    first = ctx.find(HL_TOKEN)
    last = ctx.rfind(HL_TOKEN)
    if first >= 0 and last > first:
        return first, last + len(HL_TOKEN)
    if parts.answer and parts.answer in ctx:
        at = ctx.find(parts.answer)
        return at, at + len(parts.answer)
    return None


def _window(n: int, span: tuple[int, int], length: int) -> tuple[int, int]:
    a, b = span
    start = max(0, min(n - length, a - (length - (b - a)) // 2))
    return start, min(n, start + length)


def fit_input(text: str, count: Callable[[str], int], budget: int, templates: Sequence[str] = (),
              param: str = "max_input_length") -> list[str]:
    """``[text]`` when it fits ``budget`` tokens (``count``), else the windows of it that do (one around the
    highlight/answer, or overlapping ones for a question without highlight). ParamError (naming ``param``)
    when the parts that must stay do not fit."""
    if count(text) <= budget:
        return [text]
    parts = split_input(text, templates)
    ctx = parts.context
    make = lambda a, b: parts.head + ctx[a:b] + parts.tail  # noqa: E731
    span = _protected(parts)
    keep = span or (0, 0)
    if count(make(*keep)) > budget or (span is None and count(make(0, 1)) > budget):
        what = "the highlighted span" if span else "the task text and question"
        raise ParamError(param, f"{budget} tokens cannot hold {what} of an input of {count(text)} tokens "
                         f"(starting {text[:40]!r}); raise it or shorten the input")
    lo, hi = max(keep[1] - keep[0], 1), len(ctx)  # the longest window that fits: lo fits, hi+1 does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(make(*_window(len(ctx), keep, mid))) <= budget else (lo, mid - 1)
    if span is not None or not parts.question:
        return [make(*_window(len(ctx), keep, lo))]
    step = max(1, int(lo * (1 - STRIDE_OVERLAP)))
    starts = list(range(0, max(1, len(ctx) - lo) + step, step))[:MAX_WINDOWS]
    windows = []
    for start in starts:
        start = min(start, max(0, len(ctx) - lo))
        window = make(start, start + lo)
        if window not in windows:
            windows.append(window)
        if start + lo >= len(ctx):
            break
    return windows


def position_limit(model) -> int | None:
    """The model's position limit (n_positions / max_position_embeddings), None when it has none (T5)."""
    config = model.config
    if getattr(config, "position_embedding_type", "absolute") not in ("absolute", None) or \
            getattr(config, "model_type", "") in ("t5", "mt5", "umt5", "llama", "mistral", "gpt_neox", "qwen2"):
        return None  # relative or rotary positions: no table to index out of
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def input_budget(model, causal: bool, max_input_length: int, max_new_tokens: int) -> tuple[int, bool]:
    """(tokens an input may have, whether the model's positions lowered it below max_input_length).
    ParamError naming the limit when no input fits with max_new_tokens."""
    limit = position_limit(model)
    if limit is None:
        return max_input_length, False
    if causal:
        room = limit - max_new_tokens
        if room < 1:
            raise ParamError("max_new_tokens", f"{max_new_tokens} leaves no room for a prompt in the model's "
                             f"{limit} positions; lower it")
    else:
        if max_new_tokens + 1 > limit:
            raise ParamError("max_new_tokens", f"{max_new_tokens} is over the model's {limit} decoder positions "
                             f"(with the start token); use at most {limit - 1}")
        room = limit
    return min(max_input_length, room), room < max_input_length


@torch.inference_mode()
def mean_logprob(model, causal: bool, prompt: list[int], output: list[int], pad_id: int, tokenizer=None) -> float:
    """The length-normalised log-probability of ``output`` after ``prompt`` (beam search's sequence score);
    ``tokenizer``: the token strings a CTranslate2 model scores."""
    out = [t for t in output if t != pad_id] or [pad_id]
    if isinstance(model, Ct2Model):
        return model.mean_logprob(tokenizer, prompt, out)
    device = model.device
    if causal:
        ids = torch.tensor([prompt + out], device=device)
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1]
    else:
        logits = model(input_ids=torch.tensor([prompt], device=device),
                       labels=torch.tensor([out], device=device)).logits[0]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return logprobs.gather(1, torch.tensor(out, device=device)[:, None]).mean().item()
