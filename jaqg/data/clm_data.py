"""Causal-LM data: the GPT text files of ``prepare_jsquad_aqg.py --format gpt``, tokenized for run_clm.py.

One example a line: ``{prompt}<sep>{question}</s>``. The model sees ``prompt<sep>`` exactly as generation will
feed it, then the question and the tokenizer's own end-of-text token (the literal ``</s>`` is only a marker in
the file: rinna's T5Tokenizer happens to know it, GPT-2's BPE would split it into pieces). Loss falls on the
question and the end token only; prompt labels are -100 (IGNORE_INDEX).

``group_texts=True`` is plain LM training on arbitrary text, as HF's run_clm.py does it: every line (end marker
mapped to eos, eos appended otherwise) is concatenated and cut into ``block_size`` blocks, labels = inputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

from torch.utils.data import Dataset

from ..core.errors import UserError
from ..core.io import read_lines
from ..tokenization.hub import load_tokenizer as load
from .batching import IGNORE_INDEX
from .formats import GPT_END, GPT_SEP


class GptExample(NamedTuple):
    prompt: str  # without the separator
    target: str  # without the end marker
    line: int

    # id / input / target: the fields of jaqg.core.io.Example, so coverage reports and metrics take either kind
    @property
    def id(self) -> str:
        return f"line{self.line}"

    @property
    def input(self) -> str:
        return self.prompt


@dataclass
class ReadReport:
    path: str
    examples: int = 0
    skipped: int = 0  # lines without separator / with an empty side, under --skip_bad_lines
    blank: int = 0
    first_bad: str = ""  # "path:line: why" of the first skipped line, to show the user

    def __str__(self) -> str:
        s = f"{self.path}: {self.examples} examples"
        if self.skipped:
            s += f", {self.skipped} bad lines skipped (first: {self.first_bad})"
        return s


def parse_gpt_line(line: str) -> tuple[str, str]:
    """``prompt<sep>target</s>`` -> (prompt, target); ValueError saying what is wrong."""
    prompt, sep, rest = line.partition(GPT_SEP)
    if not sep:
        raise ValueError(f"no {GPT_SEP} separator between prompt and question")
    target = rest.removesuffix(GPT_END).strip()
    if not prompt.strip():
        raise ValueError(f"empty prompt before {GPT_SEP}")
    if not target:
        raise ValueError(f"empty question after {GPT_SEP}")
    return prompt, target


def read_gpt_examples(path: str | os.PathLike, skip_bad_lines: bool = False) -> tuple[list[GptExample], ReadReport]:
    """Read a GPT text file; a bad line raises UserError naming path:line, or is counted with skip_bad_lines."""
    report = ReadReport(str(path))
    examples = []
    for lineno, line in read_lines(path):
        if not line.strip():
            report.blank += 1
            continue
        try:
            prompt, target = parse_gpt_line(line)
        except ValueError as e:
            where = f"{path}:{lineno}: {e}"
            if not skip_bad_lines:
                raise UserError(f"{where}; each line must be 'prompt{GPT_SEP}question{GPT_END}' "
                                "(fix the line, or pass `skip_bad_lines` to count and skip such lines)") from None
            report.skipped += 1
            report.first_bad = report.first_bad or where
            continue
        examples.append(GptExample(prompt, target, lineno))
    report.examples = len(examples)
    if not examples:
        raise UserError(f"{path}: no usable examples ({report.skipped} bad, {report.blank} blank lines); "
                        f"expected lines like 'prompt{GPT_SEP}question{GPT_END}'")
    return examples, report


def read_text_lines(path: str | os.PathLike) -> list[str]:
    lines = [line for _, line in read_lines(path) if line.strip()]
    if not lines:
        raise UserError(f"{path}: the file holds no text; give a file with one document or example a line")
    return lines


def eos_id(tokenizer) -> int:
    if tokenizer.eos_token_id is None:
        raise UserError(f"tokenizer {tokenizer.name_or_path!r} has no end-of-text (eos) token; "
                        "use a model whose tokenizer defines one")
    return tokenizer.eos_token_id


def encode_example(tokenizer, prompt: str, target: str) -> dict[str, list[int]]:
    """input_ids = tok(prompt<sep>) + tok(target) + [eos]; labels mask the prompt with IGNORE_INDEX.

    No special tokens are added around the pieces (T5Tokenizer would append </s> to the prompt), so the
    prompt tokens are exactly what generation sees for ``prompt + GPT_SEP``.
    """
    prompt_ids = tokenizer(prompt + GPT_SEP, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [eos_id(tokenizer)]
    return {"input_ids": prompt_ids + target_ids, "labels": [IGNORE_INDEX] * len(prompt_ids) + target_ids}


def fit_block(feature: dict[str, list[int]], block_size: int) -> dict[str, list[int]]:
    """Cut an example to block_size: the prompt loses its start (the separator and question stay);
    a question alone longer than the block keeps its first block_size - 1 tokens and the eos."""
    ids, labels = feature["input_ids"], feature["labels"]
    if len(ids) <= block_size:
        return feature
    n_prompt = sum(label == IGNORE_INDEX for label in labels)
    n_target = len(ids) - n_prompt
    if n_target >= block_size:  # no room for any prompt: keep the head of the question and its eos
        target = ids[n_prompt:]
        ids = target[: block_size - 1] + target[-1:]
        return {"input_ids": ids, "labels": list(ids)}
    cut = len(ids) - block_size
    return {"input_ids": ids[cut:], "labels": labels[cut:]}


def group_texts(token_lists: list[list[int]], block_size: int) -> list[list[int]]:
    """Concatenate and cut into block_size blocks (HF run_clm style); the short tail is kept as a last block."""
    flat = [t for ids in token_lists for t in ids]
    return [flat[i: i + block_size] for i in range(0, len(flat), block_size)]


class ClmDataset(Dataset):
    """Tokenized causal-LM features ({input_ids, labels}) for jaqg.data.batching's Collator and length sampler."""

    def __init__(self, features: list[dict[str, list[int]]], examples: list[GptExample] | None = None,
                 report: str = ""):
        self.features = features
        self.examples = examples or []  # the parsed prompts/questions (prompt mode), for generation at --do_eval
        self.report = report

    @property
    def lengths(self) -> list[int]:
        return [len(f["input_ids"]) for f in self.features]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


def read_clm_file(path: str | os.PathLike, *, group: bool = False, skip_bad_lines: bool = False
                  ) -> tuple[list[GptExample] | list[str], str]:
    """Parse (and so validate) a file before any model is loaded: GPT examples, or text lines with ``group``."""
    if group:
        lines = read_text_lines(path)
        return lines, f"{path}: {len(lines)} lines"
    examples, report = read_gpt_examples(path, skip_bad_lines)
    return examples, str(report)


def tokenize_clm(texts: list[GptExample] | list[str], tokenizer, block_size: int, report: str = "") -> ClmDataset:
    """GPT examples -> masked prompt/question features; plain lines -> grouped blocks."""
    if texts and isinstance(texts[0], GptExample):
        encoded = [encode_example(tokenizer, e.prompt, e.target) for e in texts]
        n_cut = sum(len(f["input_ids"]) > block_size for f in encoded)
        return ClmDataset([fit_block(f, block_size) for f in encoded], texts,
                          f"{report}; {n_cut} longer than --block_size {block_size} were cut (prompt start dropped)")
    eos = eos_id(tokenizer)
    ids = [tokenizer(line.removesuffix(GPT_END), add_special_tokens=False)["input_ids"] + [eos] for line in texts]
    blocks = group_texts(ids, block_size)
    return ClmDataset([{"input_ids": b, "labels": list(b)} for b in blocks],
                      report=f"{report}, {sum(map(len, ids))} tokens -> {len(blocks)} blocks of up to {block_size}")


def load_clm_dataset(path: str | os.PathLike, tokenizer, block_size: int, *, group: bool = False,
                     skip_bad_lines: bool = False) -> ClmDataset:
    """Read and tokenize a GPT text file (prompt mode) or any text file (``group=True``)."""
    texts, report = read_clm_file(path, group=group, skip_bad_lines=skip_bad_lines)
    return tokenize_clm(texts, tokenizer, block_size, report)


def load_tokenizer(name_or_path: str, use_fast: bool = True, trust_remote_code: bool = False):
    """A causal LM's tokenizer: jaqg.tokenization.hub.load_tokenizer (checked against its SentencePiece model,
    ``do_lower_case`` honoured, no end-of-text appended, pad = eos when it has no pad token)."""
    return load(name_or_path, causal=True, use_fast=use_fast, trust_remote_code=trust_remote_code)
