"""Turning generated token ids into text without silently losing any of it, and what generation counts.

- **Unknown tokens.** ``skip_special_tokens`` would drop the unk token (鴎 outside the vocabulary: ``鴎山村`` decodes
  to ``山村``). Every decode here keeps it visible as ``UNK_MARKER`` (``<unk>``). Free text (questions) keeps the
  marker. Extractive outputs (answers, answer-extraction spans) are mapped back to their source with
  ``resolve_unknown``: the marker stands for one or more characters, and the source span whose tokenization the
  model's tokenizer renders exactly as the output replaces it; when no span (or more than one different span) does,
  the output is dropped and counted.
- **A character cut at the length limit.** A byte-fallback (``<0xE9>``) or byte-level tokenizer can stop inside a
  character's UTF-8 bytes at ``max_new_tokens``; those trailing bytes would decode to U+FFFD. They are trimmed
  (and counted); a complete U+FFFD anywhere else is left alone.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

UNK_MARKER = "<unk>"
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@dataclass
class GenerationStats:
    """Counts one or more ``generate`` calls add to (pass ``stats=`` to collect them; ``as_dict`` for a JSON).

    inputs_cut: inputs longer than the input limit, windowed around their highlight/answer (task prefix, question
    and highlight kept) or, for a question without highlight, split into overlapping windows;
    inputs_cut_for_positions: of those, cut because prompt + new tokens passed the model's position limit;
    unk_in_outputs: outputs that held an unknown token; unk_resolved: extractive ones mapped back to the source;
    unk_dropped: extractive ones the source did not determine (dropped); outputs_cut_at_limit: outputs whose
    last character was cut in half at max_new_tokens (its bytes trimmed); chat_unwrapped: chat outputs without the
    template's assistant header (dropped, jaqg.generation.chat); chat_cut_at_marker: chat outputs whose content was
    cut at a template token; few_shot_examples: shots in the prompts; few_shot_prompts_cut: prompts that dropped
    shots to fit the input limit."""
    inputs: int = 0
    inputs_cut: int = 0
    inputs_cut_for_positions: int = 0
    unk_in_outputs: int = 0
    unk_resolved: int = 0
    unk_dropped: int = 0
    outputs_cut_at_limit: int = 0
    chat_unwrapped: int = 0
    chat_cut_at_marker: int = 0
    few_shot_examples: int = 0
    few_shot_prompts_cut: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def add(self, other: "GenerationStats") -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def describe(self) -> str:
        """One line for stderr; "" when nothing was cut or unknown."""
        parts = []
        if self.inputs_cut:
            parts.append(f"{self.inputs_cut} of {self.inputs} input(s) were longer than the limit and were windowed "
                         f"around the highlight/answer ({self.inputs_cut_for_positions} for the model's positions)")
        if self.unk_in_outputs:
            parts.append(f"{self.unk_in_outputs} output(s) held an unknown token {UNK_MARKER} ({self.unk_resolved} "
                         f"mapped back to the source, {self.unk_dropped} dropped)")
        if self.outputs_cut_at_limit:
            parts.append(f"{self.outputs_cut_at_limit} output(s) stopped inside a character at the new-token limit "
                         "(its bytes trimmed)")
        if self.chat_unwrapped or self.chat_cut_at_marker:
            parts.append(f"{self.chat_unwrapped} chat output(s) lacked the template's assistant header (dropped), "
                         f"{self.chat_cut_at_marker} had content cut at a template token")
        if self.few_shot_prompts_cut:
            parts.append(f"{self.few_shot_prompts_cut} prompt(s) dropped few-shot examples to fit the input limit "
                         f"({self.few_shot_examples} shots used)")
        return "; ".join(parts)


def _piece_bytes(piece: str, byte_decoder: dict[str, int] | None) -> bytes | None:
    m = _BYTE_PIECE.fullmatch(piece)
    if m:
        return bytes([int(m.group(1), 16)])
    if byte_decoder is not None and piece and all(c in byte_decoder for c in piece):
        return bytes(byte_decoder[c] for c in piece)
    return None


def _byte_decoder(tokenizer) -> dict[str, int] | None:
    """GPT-2 style byte-level BPE: the char -> byte table, when the tokenizer uses it."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or "ByteLevel" not in type(backend.decoder).__name__ + repr(backend.decoder):
        return None
    return {c: b for b, c in _bytes_to_unicode().items()}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (byte-level BPE pieces are spelled with these characters)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def incomplete_tail(tokenizer, ids: list[int]) -> int:
    """How many trailing ids are the leading bytes of a character the output stops inside (0 if none)."""
    pieces = tokenizer.convert_ids_to_tokens(ids[-4:])
    decoder = _byte_decoder(tokenizer)
    tail = b""
    for k, piece in enumerate(reversed(pieces), 1):
        data = _piece_bytes(piece, decoder)
        if data is None:
            return 0
        tail = data + tail
        # where the last character starts: its lead byte is not a continuation byte (10xxxxxx)
        lead = next((i for i in range(len(tail) - 1, -1, -1) if tail[i] & 0xC0 != 0x80), None)
        if lead is None:
            continue  # only continuation bytes so far: look further back
        need = 1 if tail[lead] < 0x80 else 2 if tail[lead] >> 5 == 6 else 3 if tail[lead] >> 4 == 14 else 4
        have = len(tail) - lead
        if have >= need:
            return 0
        # trim the ids holding the incomplete character's bytes
        count, size = 0, 0
        for p in reversed(pieces):
            size += len(_piece_bytes(p, decoder))
            count += 1
            if size >= have:
                return count
    return 0


def decode_output(tokenizer, ids: list[int], drop_ids: set[int], at_limit: bool,
                  stats: GenerationStats) -> str:
    """The text of generated ``ids``: special tokens in ``drop_ids`` removed, unknown tokens kept as UNK_MARKER,
    and (``at_limit``: generation stopped at max_new_tokens) a trailing incomplete character trimmed."""
    unk = tokenizer.unk_token_id
    ids = [t for t in ids if t not in drop_ids or t == unk]
    if at_limit:
        cut = incomplete_tail(tokenizer, ids)
        if cut:
            ids = ids[:-cut]
            stats.outputs_cut_at_limit += 1
    text = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if unk is not None and unk in ids:
        stats.unk_in_outputs += 1
        if tokenizer.unk_token != UNK_MARKER:
            text = text.replace(str(tokenizer.unk_token), UNK_MARKER)
    return text.strip()


def _render(tokenizer, text: str) -> str:
    """``text`` as the tokenizer gives it back (unknown characters as UNK_MARKER), whitespace removed."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    rendered = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    if tokenizer.unk_token != UNK_MARKER:
        rendered = rendered.replace(str(tokenizer.unk_token), UNK_MARKER)
    return "".join(rendered.split())


def resolve_unknown(tokenizer, output: str, source: str) -> str | None:
    """The span of ``source`` that ``output`` (holding UNK_MARKER) stands for, or None when the source does not
    determine it. Each marker stands for one or more characters; the pieces around it must match the source as
    written (spaces free), and the candidate span must render (tokenize, decode) to the output. None when no span
    or two different spans do."""
    pieces = output.split(UNK_MARKER)
    longest = len("".join(output.split())) + 8 * (len(pieces) - 1)  # a marker stands for a few characters at most
    pattern = r"\s*".join(
        r"(.+?)" if piece is None else r"\s*".join(map(re.escape, "".join(piece.split())))
        for piece in _interleave(pieces))
    regex = re.compile(pattern, re.DOTALL)
    want = "".join(output.split())
    found: set[str] = set()
    for start in range(len(source)):
        if not regex.match(source, start):
            continue
        for end in range(start + 1, min(len(source), start + longest) + 1):
            m = regex.fullmatch(source, start, end)
            if m and _render(tokenizer, m.group(0)) == want:
                found.add(m.group(0).strip())
        if len(found) > 1:
            return None
    return found.pop() if len(found) == 1 else None


def _interleave(pieces: list[str]) -> list[str | None]:
    """Pieces with None (a marker) between them, empty pieces left out."""
    out: list[str | None] = []
    for i, piece in enumerate(pieces):
        if i:
            out.append(None)
        if piece.strip():
            out.append(piece)
    return out
