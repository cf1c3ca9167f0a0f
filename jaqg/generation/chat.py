"""How a causal LM is prompted, and what of its output is the answer: chat templates and few-shot prompts.

A model trained on chat data carries the chat template on its tokenizer (``tokenizer.chat_template``, saved with
``save_pretrained``), so a trained output dir brings it along. ``ChatTemplate`` reads what a template does around
an assistant turn by rendering a probe conversation twice (transformers' ``apply_chat_template``): once up to the
generation prompt, once with an assistant turn ``PROBE``. What the second rendering puts between the generation
prompt and the probe is the **header** the model writes before its content (empty for ChatML; gpt-oss's harmony
format and llm-jp-4 put a channel header such as ``<|channel|>final<|message|>`` there); what follows the probe is
the **end marker** (``<|im_end|>``, ``<|return|>``...). Generation stops at the end marker's first token, at eos and
at every id the model's ``generation_config.eos_token_id`` lists. ``ChatTemplate.content`` returns the tokens of
the assistant's content only: after the last header, before the end marker or any other template token. An output
without the header (a harmony output that never reached its ``final`` channel, say) cannot be unwrapped: it is
dropped and counted (``chat_unwrapped``), never guessed; content cut at a template token is counted
(``chat_cut_at_marker``).

``Prompt`` turns one model input (the user turn's text, or a plain LM's ``{input}``) into the token ids the model
is prompted with: through the chat template with the system turn (or the conversation's earlier turns) and any
few-shot examples as earlier user/assistant turns; for a plain LM, shots as ``{input}<sep>{target}<eos>`` text
before ``{input}<sep>``. Shots that do not fit the input budget are dropped, farthest first, and counted
(``few_shot_prompts_cut``); ``few_shot_examples`` counts the shots used (llm-jp-eval's few-shot prompting, with
shots drawn per example: ``draw_shots``).
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from typing import Sequence

from ..core.errors import UserError
from ..core.io import read_lines
from ..data.chat_sft import parse_prompt_line, render
from ..data.formats import DEFAULT_SYSTEM_PROMPT, GPT_SEP
from .outputs import GenerationStats

log = logging.getLogger(__name__)

PROBE_USER = "PROBE_USER_TURN"
PROBE = "PROBE_ASSISTANT_CONTENT"


class ChatTemplate:
    """The chat template of a tokenizer, read once: ``header`` / ``header_ids`` (what the model writes before its
    content; not required when only whitespace), ``end_marker``, ``stop_ids`` (end marker's first token, eos, the
    generation config's eos ids), ``marker_ids`` (every added token the template writes)."""

    def __init__(self, tokenizer, generation_config=None):
        if not getattr(tokenizer, "chat_template", None):
            raise UserError("the model's tokenizer has no chat template (tokenizer_config.json `chat_template`); "
                            "train with one or use a plain prompt")
        self.tokenizer = tokenizer
        user = [{"role": "user", "content": PROBE_USER}]
        try:
            prompt = self.render(user)
            full = render(tokenizer, user + [{"role": "assistant", "content": PROBE}])
        except Exception as e:  # a template's own raise_exception, or a jinja error  # noqa: BLE001
            raise UserError(f"the model's chat template cannot render a user/assistant conversation ({e})") from None
        at = full.find(PROBE)
        if at < 0:
            raise UserError("the model's chat template drops the assistant's content; cannot tell what a reply is")
        same = len(os.path.commonprefix([prompt, full]))
        if same < len(prompt):
            log.warning("the chat template's generation prompt %r is not how it writes an assistant turn (%r)",
                        prompt[same:], full[same:at])
        self.header = full[same:at]
        self.end_marker = full[at + len(PROBE):]
        self.header_ids = tokenizer(self.header, add_special_tokens=False)["input_ids"] if self.header.strip() \
            else []
        added = {i: str(t) for i, t in tokenizer.added_tokens_decoder.items()}
        self.marker_ids = {i for i, text in added.items() if text and text in full}
        end_ids = tokenizer(self.end_marker.strip(), add_special_tokens=False)["input_ids"] \
            if self.end_marker.strip() else []
        stops = [end_ids[0]] if end_ids and end_ids[0] in self.marker_ids | set(tokenizer.all_special_ids) else []
        eos = getattr(generation_config, "eos_token_id", None)
        stops += [tokenizer.eos_token_id] + (list(eos) if isinstance(eos, (list, tuple)) else [eos])
        self.stop_ids = list(dict.fromkeys(i for i in stops if i is not None))

    def render(self, messages: list[dict]) -> str:
        """The prompt text of ``messages``, ending with the generation prompt (the assistant turn opened)."""
        return render(self.tokenizer, messages, generation_prompt=True)

    def content(self, ids: list[int], stats: GenerationStats) -> list[int] | None:
        """The ids of the assistant's content in generated ``ids`` (prompt removed): after the last header, before
        the first stop id or template token. None (counted in ``chat_unwrapped``) when a required header is absent."""
        end = next((k for k, t in enumerate(ids) if t in self.stop_ids), len(ids))
        ids = ids[:end]
        start = 0
        if self.header_ids:
            n = len(self.header_ids)
            found = [k for k in range(len(ids) - n + 1) if ids[k:k + n] == self.header_ids]
            if not found:
                stats.chat_unwrapped += 1
                return None
            start = found[-1] + n
        cut = next((k for k in range(start, len(ids)) if ids[k] in self.marker_ids), len(ids))
        if cut < len(ids):
            stats.chat_cut_at_marker += 1
        return ids[start:cut]


def chat_template_for(model, tokenizer, data_info: dict | None, chat_input: bool = False) -> ChatTemplate | None:
    """The chat template to prompt a model with, or None for a plain prompt: a causal LM trained on chat data
    (run_config ``data.format`` chat) or given chat input needs one (UserError without); one with no data info (a
    hub or bare model dir) uses its template when it has one; a seq2seq model never does."""
    if getattr(model.config, "is_encoder_decoder", False):
        if chat_input:
            raise UserError("chat input needs a causal LM with a chat template; this model is seq2seq (pass a TSV)")
        return None
    fmt = (data_info or {}).get("format")
    has = bool(getattr(tokenizer, "chat_template", None))
    if fmt == "chat" or chat_input:
        if not has:
            why = "it was trained on chat data" if fmt == "chat" else "the input is chat JSONL"
            raise UserError(f"{why}, but the model's tokenizer has no chat template; train it with run_clm.py "
                            "`chat_template` (saved on the tokenizer)")
        return ChatTemplate(tokenizer, getattr(model, "generation_config", None))
    if data_info or not has:
        return None
    return ChatTemplate(tokenizer, getattr(model, "generation_config", None))


def system_prompt_for(data_info: dict | None) -> str | None:
    """The system turn a chat model was trained with (prepare's ``system_prompt``; None: no system turn); for a
    chat data dir whose report predates the key, the default system prompt."""
    data_info = data_info or {}
    if data_info.get("format") != "chat":
        return None
    return data_info.get("system_prompt", DEFAULT_SYSTEM_PROMPT)


@dataclass
class Prompt:
    """How each input of one ``generate`` call becomes prompt ids: ``chat`` (None: a plain ``{input}<sep>``
    prompt), the ``system`` turn, or per input the conversation's earlier turns (``heads``, replacing ``system``),
    and per input the few-shot (input, target) pairs (``shots``; trimmed in place when they do not fit)."""
    tokenizer: object
    chat: ChatTemplate | None = None
    system: str | None = None
    heads: Sequence[list[dict]] | None = None
    shots: list[list[tuple[str, str]]] | None = None
    cut: set = field(default_factory=set)

    def text(self, text: str, i: int) -> str:
        """The prompt text of input ``i`` with ``text`` as its last user turn (or plain input)."""
        shots = self.shots[i] if self.shots else []
        if self.chat is None:
            eos = self.tokenizer.eos_token or ""
            return "".join(f"{x}{GPT_SEP}{y}{eos}" for x, y in shots) + text + GPT_SEP
        head = list(self.heads[i]) if self.heads is not None else \
            ([{"role": "system", "content": self.system}] if self.system else [])
        turns = [m for x, y in shots for m in ({"role": "user", "content": x}, {"role": "assistant", "content": y})]
        return self.chat.render(head + turns + [{"role": "user", "content": text}])

    def encode(self, text: str, i: int) -> list[int]:
        # the template writes its own special tokens (bos included, when it has one)
        return self.tokenizer(self.text(text, i), add_special_tokens=False)["input_ids"]

    def counter(self, i: int):
        return lambda text: len(self.encode(text, i))

    def fit_shots(self, text: str, i: int, budget: int) -> None:
        """Drop input ``i``'s shots, farthest first, until its prompt fits ``budget`` tokens (or none is left)."""
        if not self.shots or not self.shots[i]:
            return
        while self.shots[i] and len(self.encode(text, i)) > budget:
            self.shots[i] = self.shots[i][1:]
            self.cut.add(i)

    @property
    def stop_ids(self) -> list[int]:
        return self.chat.stop_ids if self.chat else [self.tokenizer.eos_token_id]

    def tally(self, stats: GenerationStats, inputs: int) -> None:
        if self.shots:
            stats.few_shot_examples += sum(len(s) for s in self.shots[:inputs])
            stats.few_shot_prompts_cut += len(self.cut)


def draw_shots(pool: Sequence[tuple[str, str, str]], ids: Sequence[str], inputs: Sequence[str], k: int,
               seed: int, same_file: bool = True) -> list[list[tuple[str, str]]]:
    """``k`` few-shot (input, target) pairs per example from ``pool`` ((id, input, target) rows of a training
    file), drawn with a generator seeded by ``seed`` and the example's id (the same shots whatever the order),
    never a row with the example's input, nor (``same_file``: the pool is the examples' own file) its id.
    UserError when the pool has fewer than ``k`` rows to draw from."""
    if k < 1:
        return [[] for _ in ids]
    shots = []
    for example_id, text in zip(ids, inputs):
        usable = [(x, y) for pid, x, y in pool if x != text and not (same_file and pid == example_id)]
        if len(usable) < k:
            raise UserError(f"`few_shot_file` holds {len(usable)} usable example(s) for {example_id!r}, fewer than "
                            f"`few_shot` {k}; pass a bigger training file or a smaller `few_shot`")
        shots.append(random.Random(f"{seed}/{example_id}").sample(usable, k))
    return shots


def read_chat_examples(path: str) -> tuple[list[list[str]], list[list[dict]]]:
    """A chat JSONL file (``{"id", "messages": [{"role", "content"}, ...]}``, prepare ``format`` chat) as
    ``([id, user turn, reference] rows, earlier turns per row)``: every message but the last is the prompt (the last
    user turn is the model input, the ones before it its ``heads``), the last (assistant) turn the reference. Each
    line is checked as chat SFT checks it (jaqg.data.chat_sft.parse_prompt_line); UserError (file:line: what, how to
    fix) on a malformed record or a repeated id."""
    rows, heads, seen = [], [], set()
    expected = 'write one {"id": ..., "messages": [..., {"role": "user", ...}, {"role": "assistant", ...}]} per line'
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            example = parse_prompt_line(line, lineno, path)
        except ValueError as e:
            raise UserError(f"{path}:{lineno}: {e}; {expected}") from None
        if example.id in seen:
            raise UserError(f"{path}:{lineno}: duplicate id {example.id!r}; ids must be unique")
        seen.add(example.id)
        *before, user, reply = example.messages
        rows.append([example.id, user["content"], reply["content"]])
        heads.append([{"role": m["role"], "content": m["content"]} for m in before])
    if not rows:
        raise UserError(f"{path}: no chat records; {expected}")
    return rows, heads
