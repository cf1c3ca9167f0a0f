"""Chat SFT data: conversational JSONL rendered with a chat template, loss on the assistant's tokens only; packing.

A chat file (``prepare_jsquad_aqg.py --format chat``, jaqg.data.formats) holds one conversation a line::

    {"id": "...", "messages": [{"role": "system", "content": ...}, {"role": "user", ...}, {"role": "assistant", ...}]}

Each conversation is rendered with the tokenizer's chat template (``tokenizer.chat_template``; a base model without
one takes a Jinja file, which is then saved with the trained model so that inference renders the same way) and
tokenized once, without the tokenizer's own special tokens (the template writes them).

Labels (what the loss sees): every token that overlaps the content of an assistant turn, plus the ONE token the
template writes right after that content when it is a special token (``<|im_end|>``, ``</s>``): the model must learn
to stop. Everything else is -100 (IGNORE_INDEX): the system and user turns, the template's role headers, and any
text the template writes after the end-of-turn token (ChatML's newline). A template that ends an assistant turn
with no special token is refused: a model trained on it could not learn where its answer ends. The assistant
content is found by rendering: the conversation up to the turn with ``add_generation_prompt=True`` must be a prefix
of the conversation through the turn, and the turn's content must follow it (TRL's ``completion_only_loss`` makes
the same prefix assumption; its labels equal ours except that TRL also keeps the text after the end-of-turn token,
tests/data/test_chat_sft_trl.py).

Packing (``pack``): several examples per row, their ``position_ids`` restarting at 0 at each example. Given
position ids and no attention mask, transformers builds a block-diagonal causal mask from them
(``masking_utils.find_packed_sequence_indices``; varlen kernels under flash attention), so no token attends across
examples and each example's loss equals its unpacked loss (tests/data/test_chat_sft.py). Rows are filled best-fit
decreasing, as TRL's ``packing_strategy="bfd"`` does.
"""

from __future__ import annotations

import bisect
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.io import read_lines
from .batching import IGNORE_INDEX
from .clm_data import ClmDataset

ROLES = ("system", "user", "assistant")


@dataclass
class ChatExample:
    id: str
    messages: list[dict]
    line: int
    path: str = ""


def is_chat_file(path: str | os.PathLike) -> bool:
    """A ``.jsonl`` file, or any file whose first non-blank line is a JSON object with ``messages``."""
    if str(path).endswith(".jsonl"):
        return True
    try:
        for _, line in read_lines(path):
            if line.strip():
                record = json.loads(line)
                return isinstance(record, dict) and "messages" in record
    except (ValueError, UnicodeDecodeError):
        return False
    return False


def chat_mode(files: dict[str, str], group_texts: bool = False, chat_template: str | None = None,
              packing: bool = False) -> bool:
    """Whether ``files`` ({setting: path}) are chat JSONL (all of them) or GPT text (none); UserError on a mix and
    on settings that do not apply to the kind found."""
    kinds = {name: is_chat_file(path) for name, path in files.items()}
    chat = any(kinds.values())
    if chat and not all(kinds.values()):
        found = ", ".join(f"`{name}_file` is {'chat JSONL' if c else 'GPT text'}" for name, c in kinds.items())
        raise UserError(f"{found}; give files of one kind (prepare both with the same `format`)")
    if chat and group_texts:
        raise UserError("`group_texts` trains plain text blocks; chat JSONL trains on assistant turns: drop one")
    if chat_template and not chat:
        raise UserError("`chat_template` applies to chat JSONL data (prepare_jsquad_aqg.py --format chat); "
                        "GPT text lines have no turns")
    if packing and group_texts:
        raise UserError("`group_texts` blocks are already full; `packing` applies to one example a line")
    return chat


def check_conversation(record) -> list[dict]:
    """The messages of one parsed JSONL record; ValueError saying what is wrong."""
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list) or not record["messages"]:
        raise ValueError('not an object with a non-empty "messages" list')
    messages = record["messages"]
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f'message {i} is not {{"role": one of {"/".join(ROLES)}, "content": text}}')
        if m["role"] == "assistant" and not m["content"].strip():
            raise ValueError(f"message {i} is an empty assistant turn")
    if messages[-1]["role"] != "assistant":
        raise ValueError("the last message is not an assistant turn (nothing to learn)")
    if messages[0]["role"] == "assistant":
        raise ValueError("the conversation starts with an assistant turn; start it with a system or user turn")
    return messages


def parse_chat_line(line: str, lineno: int, path: str | os.PathLike = "") -> ChatExample:
    """One JSONL line of a chat file, checked (``check_conversation``); ValueError saying what is wrong. An id-less
    record is ``line{lineno}``."""
    try:
        record = json.loads(line)
    except ValueError as e:
        raise ValueError(f"not valid JSON ({e.msg})") from None
    return ChatExample(str(record.get("id", f"line{lineno}")), check_conversation(record), lineno, str(path))


def parse_prompt_line(line: str, lineno: int, path: str | os.PathLike = "") -> ChatExample:
    """``parse_chat_line`` for inference and reinforcement, where the last two messages must be a user turn (the
    model's input) and the assistant's reply (the reference); ValueError saying what is wrong."""
    example = parse_chat_line(line, lineno, path)
    if len(example.messages) < 2 or example.messages[-2]["role"] != "user":
        raise ValueError("the last two messages must be a user turn (the input) and the assistant's reply "
                         "(the reference)")
    return example


def read_chat_file(path: str | os.PathLike, skip_bad_lines: bool = False) -> tuple[list[ChatExample], str]:
    """Parse and check a chat JSONL file before any model loads; a bad line raises UserError naming path:line, or
    is counted and skipped with ``skip_bad_lines``. Returns the examples and a one-line report."""
    examples, skipped, first_bad = [], 0, ""
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            examples.append(parse_chat_line(line, lineno, path))
        except ValueError as e:
            where = f"{path}:{lineno}: {e}"
            if not skip_bad_lines:
                raise UserError(f'{where}; each line must be {{"id", "messages": [..., {{"role": "assistant", '
                                '"content": ...}]} (fix the line, or pass `skip_bad_lines` to count and skip such '
                                "lines)") from None
            skipped, first_bad = skipped + 1, first_bad or where
    if not examples:
        raise UserError(f"{path}: no usable conversations ({skipped} bad lines); expected chat JSONL as "
                        "prepare_jsquad_aqg.py --format chat writes it")
    report = f"{path}: {len(examples)} conversations"
    return examples, report + (f", {skipped} bad lines skipped (first: {first_bad})" if skipped else "")


def set_chat_template(tokenizer, template_file: str | None) -> str:
    """Give ``tokenizer`` the template of ``template_file`` (a Jinja file), or check it has its own; returns where
    the template came from. ``save_pretrained`` then writes it beside the model (chat_template.jinja)."""
    if template_file:
        path = Path(template_file)
        if not path.is_file():
            raise UserError(f"{template_file}: no such file; pass `chat_template` a Jinja chat template file")
        tokenizer.chat_template = path.read_text(encoding="utf-8")
        source = str(path)
    elif not getattr(tokenizer, "chat_template", None):
        raise UserError(f"tokenizer {tokenizer.name_or_path!r} has no chat template; pass `chat_template` with a "
                        "Jinja file (docs/training.md#chat-sft-run_clmpy-on-chat-jsonl) or train an instruct model "
                        "that has one")
    else:
        source = "the tokenizer's own"
    try:
        render(tokenizer, [{"role": "user", "content": "テスト"}], generation_prompt=True)
    except Exception as e:  # jinja2's TemplateError and whatever the template raises itself
        raise UserError(f"the chat template ({source}) does not render a user turn: {e}; fix the template"
                        ) from None
    return source


def render(tokenizer, messages: list[dict], generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each assistant turn's content in it.

    ValueError when the template does not write an assistant turn's content right after the generation prompt of
    the conversation before it (then no rendering-based mask is safe)."""
    text = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(tokenizer, messages[:i], generation_prompt=True)
        through = render(tokenizer, messages[: i + 1]) if i + 1 < len(messages) else text
        if not (through.startswith(prompt) and through[len(prompt):].startswith(message["content"])
                and text.startswith(through)):
            raise ValueError(f"the chat template does not write assistant turn {i}'s content right after the "
                             "generation prompt of the turns before it")
        spans.append((len(prompt), len(prompt) + len(message["content"])))
    return text, spans


def special_ids(tokenizer) -> set[int]:
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, t in tokenizer.added_tokens_decoder.items() if t.special)
    return ids


def encode_conversation(tokenizer, messages: list[dict]) -> dict[str, list[int]]:
    """{input_ids, labels} of one conversation: labels on the assistant content and its end-of-turn token only.

    ValueError when the template puts no special token right after an assistant turn's content."""
    return encode_counting(tokenizer, messages)[0]


def encode_counting(tokenizer, messages: list[dict]) -> tuple[dict[str, list[int]], int]:
    """``encode_conversation`` and the number of labelled tokens that straddle the start of an assistant content
    (a token merging template text with the answer's first characters: labelled, since the model must produce it)."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = [IGNORE_INDEX] * len(ids)
    specials = special_ids(tokenizer)
    straddling = 0
    for start, end in spans:
        inside = [t for t, (a, b) in enumerate(offsets) if a < end and b > start]
        straddling += offsets[inside[0]][0] < start
        after = next((t for t in range(inside[-1] + 1, len(ids)) if offsets[t][1] > offsets[t][0]), None)
        if after is None or ids[after] not in specials or offsets[after][0] != end:
            found = "nothing" if after is None else repr(text[offsets[after][0]: offsets[after][1]])
            raise ValueError(f"the chat template writes {found} after an assistant turn, not a special end-of-turn "
                             "token (such as eos_token): the model could not learn to stop; end each assistant "
                             "turn with one")
        for t in (*inside, after):
            labels[t] = ids[t]
    return {"input_ids": list(ids), "labels": labels}, straddling


def tokenize_chat(examples: list[ChatExample], tokenizer, block_size: int, report: str = ""):
    """Conversations -> masked features (a ClmDataset without prompt/target pairs). A conversation longer than
    ``block_size`` is dropped and counted (cutting it would cut its template); the report says how many."""
    features, dropped, straddling = [], 0, 0
    for e in examples:
        try:
            feature, n = encode_counting(tokenizer, e.messages)
        except ValueError as err:
            raise UserError(f"{e.path}:{e.line} (id {e.id}): {err}") from None
        straddling += n
        if len(feature["input_ids"]) > block_size:
            dropped += 1
            continue
        features.append(feature)
    if not features:
        raise UserError(f"{report}: every conversation is longer than `block_size` {block_size} tokens; raise it")
    tokens = sum(len(f["input_ids"]) for f in features)
    labelled = sum(sum(label != IGNORE_INDEX for label in f["labels"]) for f in features)
    note = (f"; {straddling} assistant turns begin inside a token shared with the template (that token is "
            "trained)") if straddling else ""
    return ClmDataset(features, report=f"{report}; {tokens} tokens, {labelled} of them assistant (trained); "
                                       f"{dropped} longer than `block_size` {block_size} dropped{note}")


@dataclass
class PackReport:
    examples: int
    rows: int
    tokens: int
    block_size: int
    members: list[list[int]]  # the feature indices in each row, in row order

    def __str__(self) -> str:
        fill = self.tokens / (self.rows * self.block_size)
        return (f"packing: {self.examples} examples -> {self.rows} rows of up to {self.block_size} tokens "
                f"({fill:.1%} full)")


def pack(features: list[dict[str, list[int]]], block_size: int) -> tuple[list[dict[str, list[int]]], PackReport]:
    """Pack features into rows of at most ``block_size`` tokens, best-fit decreasing (longest first, each into the
    fullest row it fits). A row's ``position_ids`` restart at 0 at each example; the first label of each example is
    -100 (it would be predicted from the example before; templates mask it anyway)."""
    order = sorted(range(len(features)), key=lambda i: -len(features[i]["input_ids"]))
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, row), sorted: the first with room >= n is the best fit
    for i in order:
        n = len(features[i]["input_ids"])
        if n > block_size:
            raise ValueError(f"example {i} has {n} tokens, more than block_size {block_size}")
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            room, row = free.pop(k)
        else:
            room, row = block_size, len(rows)
            rows.append([])
        rows[row].append(i)
        if room - n > 0:
            bisect.insort(free, (room - n, row))
    packed = []
    for members in rows:
        ids, labels, positions = [], [], []
        for i in members:
            f = features[i]
            ids += f["input_ids"]
            labels += [IGNORE_INDEX] + f["labels"][1:]
            positions += range(len(f["input_ids"]))
        packed.append({"input_ids": ids, "labels": labels, "position_ids": list(positions)})
    tokens = sum(len(f["input_ids"]) for f in features)
    return packed, PackReport(len(features), len(rows), tokens, block_size, rows)
