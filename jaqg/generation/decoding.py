"""Batched generation shared by predict.py, generate.py and train.py --do_eval.

transformers 5 has no text2text-generation pipeline: we tokenize, call ``model.generate`` and decode here, once.
Inputs are sorted by length into batches (little padding) and results come back in input order, one list of
distinct strings per input. Seq2seq and causal LMs are told apart by the model config; a causal LM is prompted
with ``{input}<sep>`` and its continuation up to the end-of-text token is the output.

Two things transformers 5 no longer does for us:
- group (diverse) beam search moved to a hub ``custom_generate`` repo, which cannot load offline. Here groups
  are decoded one after another, each group's beam search penalised (Hamming diversity, as in Vijayakumar et
  al.) for choosing at step t a token that an earlier group's hypotheses hold at step t.
- ``bad_words_ids`` only blocks the token sequences it is given. A word has many: word-start ``▁山梨``, in-run
  ``山梨``, split ``山``+``梨``, or inside a longer piece (``山梨県``, ``の山``+``梨``). We build every sequence the
  vocabulary can spell the word with, then verify the decoded outputs; an output that still holds the word has
  its offending tokens banned too and is generated again, and failing that is an error, never returned.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Sequence

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    LogitsProcessorList,
    set_seed,
)
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import logging as hf_logging

from ..core.errors import ParamError, UserError
from ..core.io import EMPTY_PREDICTION, read_json, read_run_config  # noqa: F401 (read_run_config: re-exported)
from ..data.formats import GPT_SEP
from ..models.beam_attention import beam_search_cache
from ..models.t5_attention import chunked_attention
from ..tokenization.hub import load_tokenizer, refuse_remote_code
from .chat import Prompt
from .constraints import StepDiversityPenalty, _offending_span, bad_words_ids, token_surfaces  # noqa: F401
from .ct2 import Ct2Model
from .fitting import fit_input, input_budget, mean_logprob
from .outputs import UNK_MARKER, GenerationStats, decode_output, resolve_unknown  # noqa: F401

log = logging.getLogger(__name__)

BACKENDS = ("transformers", "ctranslate2")  # who runs the model; our tokenizer encodes and decodes for both

DTYPES = {"32": torch.float32, "bf16": torch.bfloat16, "16": torch.float16}
# Verify-and-regenerate rounds for outputs that still spell a bad word.
BAD_WORD_RETRIES = 2


def clean_text(text: str, *, first_line: bool = False) -> str:
    """A generation as plain one-line text: whitespace runs (tabs, newlines) become one space; "" stays "".

    ``first_line``: keep only the text before the first newline first (a causal LM trained on one example a line
    ends its answer there and goes on with unrelated text).
    """
    if first_line:
        text = text.lstrip("\r\n").split("\n", 1)[0]
    return " ".join(text.split())


def clean_prediction(text: str, *, first_line: bool = False) -> str:
    """A generation as one TSV field: ``clean_text``, and empty becomes <empty> (jaqg.core.io.EMPTY_PREDICTION)."""
    return clean_text(text, first_line=first_line) or EMPTY_PREDICTION


class BadWordError(UserError):
    """A bad word could not be kept out of an output."""


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as e:
        raise UserError(f"`device` {device}: {e}; use auto, cpu or cuda[:N]") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"`device` {device}: no CUDA device is available here; use `device` cpu")
    return resolved


def resolve_dtype(precision: str) -> torch.dtype:
    # Lightning spells the same choices "bf16-mixed", "16-mixed", "32-true".
    key = str(precision).split("-")[0].replace("fp", "")
    if key not in DTYPES:
        raise UserError(f"`precision` {precision}: unknown; use 32, bf16 or 16")
    return DTYPES[key]


def is_causal(model) -> bool:
    return not model.config.is_encoder_decoder


def check_model_path(name_or_path: str, param: str = "model_name_or_path") -> None:
    """UserError (one line naming the setting ``param``) unless ``name_or_path`` is a model dir here or could be a hub
    name.

    Hub names are ``owner/name``. A path that is not here fails at once instead of a hub lookup with retries when
    it looks local: it starts with ``.``, ``/`` or ``~``, has other than one ``/``, or its first part is a dir here
    (``runs/model_qa`` with ``runs/`` present); so does any name that is not here under ``HF_HUB_OFFLINE=1``."""
    import os
    local = Path(name_or_path).expanduser()
    adapter_only = (local / "adapter_config.json").is_file() and not (local / "config.json").is_file()
    if local.exists() and not (local / "config.json").is_file() and not adapter_only:
        raise UserError(f"`{param}` {name_or_path}: not a model dir (no config.json or adapter_config.json); pass a "
                        "trained output_dir")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if not local.exists() and (offline or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1
                               or Path(name_or_path.split("/")[0]).is_dir()):
        raise UserError(f"`{param}` {name_or_path}: no such model dir; train one (train.py `output_dir` "
                        f"{name_or_path}) or pass an existing dir (hub names are owner/name)")


def load_model(name_or_path: str, device: str = "auto", precision: str = "32", threads: int = 0,
               param: str = "model_name_or_path", backend: str = "transformers", ct2_compute_type: str = "float32",
               trust_remote_code: bool = False):
    """(model, tokenizer) from a model dir or hub name, in eval mode on the device, in the precision's dtype.
    ``threads`` > 0 sets torch's CPU threads (on a shared, busy machine 1 can be many times faster).
    ``param``: the setting that named the model, for error messages. ``backend`` "ctranslate2": the model is a
    ``jaqg.generation.ct2.Ct2Model`` (converted once, cached) in ``ct2_compute_type``; the tokenizer is the same.
    ``trust_remote_code``: run Python code the model's repository ships (transformers' flag; off unless asked)."""
    if backend not in BACKENDS:
        raise ParamError("backend", f"{backend!r}: unknown; use one of {', '.join(BACKENDS)}")
    if threads > 0:
        torch.set_num_threads(threads)
    dtype = resolve_dtype(precision)
    local = Path(name_or_path).expanduser()
    adapter = local / "adapter_config.json"  # a LoRA output_dir holds the adapter alone and names its base
    adapter_only = adapter.is_file() and not (local / "config.json").is_file()
    check_model_path(name_or_path, param)
    hf_logging.disable_progress_bar()  # one bar per file load is noise in a CLI
    source = local if local.exists() else name_or_path
    base = read_json(adapter).get("base_model_name_or_path") if adapter_only else None
    if adapter_only and not base:
        raise UserError(f"{adapter}: names no base_model_name_or_path; add the base model's dir or hub name")
    try:
        config = AutoConfig.from_pretrained(base or source, trust_remote_code=trust_remote_code)
        auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
        if backend == "ctranslate2":
            model = Ct2Model(source, config, ct2_compute_type, threads, "cuda" if
                             resolve_device(device).type == "cuda" else "cpu")
        else:
            # an adapter dir: base + adapter (peft integration)
            model = auto.from_pretrained(source, dtype=dtype, trust_remote_code=trust_remote_code)
        own_tokenizer = not base or (local / "tokenizer_config.json").is_file()
        # checked (and repaired) against the model's SentencePiece model; UserError when it cannot be
        tokenizer = load_tokenizer(str(source if own_tokenizer else base), causal=not config.is_encoder_decoder,
                                   trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as e:
        refuse_remote_code(name_or_path, e, trust_remote_code)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = "a model dir" if local.exists() else "no such model dir here, and the hub"
        raise UserError(f"{name_or_path}: cannot load a model and tokenizer ({where}: {reason}); train one "
                        f"(train.py `output_dir`) or pass another `{param}`") from None
    if dtype == torch.float16 and config.model_type in ("t5", "mt5"):
        log.warning("T5 overflows in fp16 for every size but t5-small; prefer --precision bf16 or 32")
    return (model if backend == "ctranslate2" else model.to(resolve_device(device)).eval()), tokenizer


def _counter(tokenizer, causal: bool):
    """Tokens of an input as ``_encode`` gives them to the model."""
    if causal:
        return lambda text: len(tokenizer(text + GPT_SEP, add_special_tokens=False)["input_ids"])
    return lambda text: len(tokenizer(text)["input_ids"])


def _encode(tokenizer, inputs: Sequence[str], causal: bool, max_input_length: int) -> list[list[int]]:
    """Token ids of inputs that ``fit_input`` already fitted (the cut is a guard that should never act)."""
    if not causal:
        return tokenizer(list(inputs), truncation=True, max_length=max_input_length)["input_ids"]
    # Causal prompts end with the separator; cut the start of a long input, never the separator.
    encoded = tokenizer([text + GPT_SEP for text in inputs], add_special_tokens=False)["input_ids"]
    return [ids[-max_input_length:] for ids in encoded]


def _pad(seqs: list[list[int]], pad_id: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        cols = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, cols] = torch.tensor(seq, dtype=torch.long)
        mask[row, cols] = 1
    return ids, mask


def _generate_batch(model, tokenizer, seqs: list[list[int]], *, num_beams: int, num_beam_groups: int,
                    diversity_penalty: float, per_group: int, gen_kwargs: dict) -> list[list[list[int]]]:
    """Generated token ids (prompt removed) per input, candidates best first, group after group."""
    if isinstance(model, Ct2Model):
        return model.generate_ids(tokenizer, seqs, num_beams=num_beams, num_return_sequences=per_group, **gen_kwargs)
    causal = is_causal(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids, attention_mask = _pad(seqs, pad_id, left=causal)
    input_ids, attention_mask = input_ids.to(model.device), attention_mask.to(model.device)
    start_len = input_ids.shape[1] if causal else 1  # seq2seq decoder outputs begin with the start token
    candidates: list[list[list[int]]] = [[] for _ in seqs]
    beams = num_beams // num_beam_groups
    earlier = torch.full((len(seqs), 0, 0), -1, dtype=torch.long)
    if not causal:  # encode once for every group
        encoder_states = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    for _ in range(num_beam_groups):
        processors = LogitsProcessorList()
        if num_beam_groups > 1 and earlier.shape[1]:
            processors.append(StepDiversityPenalty(earlier, diversity_penalty, start_len, beams))
        kwargs = dict(gen_kwargs, input_ids=input_ids, attention_mask=attention_mask, num_beams=beams,
                      num_return_sequences=per_group, logits_processor=processors, pad_token_id=pad_id)
        if not causal:  # generate expands encoder outputs in place: a fresh holder for each call
            kwargs["encoder_outputs"] = BaseModelOutput(last_hidden_state=encoder_states)
        if beams > 1 and not causal:
            with beam_search_cache(model, encoder_states, attention_mask) as cache:
                out = model.generate(**kwargs, cache=cache)
        else:
            out = model.generate(**kwargs)
        new = out[:, start_len:].view(len(seqs), per_group, -1).cpu()
        for row, hyps in enumerate(new.tolist()):
            candidates[row] += [[t for t in h if t != pad_id] for h in hyps]
        if num_beam_groups > 1:
            chosen = torch.where(new == pad_id, -1, new)
            width = max(earlier.shape[2], chosen.shape[2])
            pad = lambda t: torch.nn.functional.pad(t, (0, width - t.shape[2]), value=-1)  # noqa: E731
            earlier = torch.cat([pad(earlier), pad(chosen)], dim=1)
    return candidates


@torch.inference_mode()
def generate(model, tokenizer, inputs: Sequence[str], *, batch_size: int = 16, max_input_length: int = 512,
             max_new_tokens: int = 64, num_beams: int = 1, num_return_sequences: int = 1,
             bad_words: Sequence[str] | None = None, num_beam_groups: int = 1, diversity_penalty: float = 0.0,
             do_sample: bool = False, seed: int | None = None, progress: bool = False,
             keep_special_tokens: Sequence[str] = (), templates: Sequence[str] = (), extractive: bool = False,
             stats: GenerationStats | None = None, prompt: Prompt | None = None, **gen_kwargs) -> list[list[str]]:
    """Up to ``num_return_sequences`` distinct outputs per input (best first), in input order.

    Special tokens are dropped from the outputs except those in ``keep_special_tokens`` (e.g. ``<sep>``, which
    joins the answers of an answer-extraction output) and the unknown token, kept visible as ``<unk>``
    (jaqg.generation.outputs). ``extractive``: outputs are spans of the input (answers, AE spans); one holding
    ``<unk>`` is mapped back to the input's span, or dropped when the input does not determine it.
    An input over ``max_input_length`` tokens, or whose prompt with ``max_new_tokens`` passes the model's position
    limit, is windowed around its highlight/answer (jaqg.generation.fitting; ``templates``: the model's input
    templates, which tell its context apart); a question without highlight is answered on overlapping windows
    and the best-scoring window's outputs kept. ``stats`` (a GenerationStats) gets the counts; a line on stderr
    (logging) says what was cut or unknown.
    Beam search returns the best distinct strings among all ``num_beams`` hypotheses, so N <= num_beams;
    sampling draws N (fewer come back only if draws repeat). ``prompt`` (causal LMs; jaqg.generation.chat.Prompt):
    inputs go through the chat template (generation stops at its end of turn and only the assistant's content is
    returned) and/or get few-shot examples; without it a causal LM is prompted with ``{input}<sep>``.
    Other keyword arguments go to ``model.generate``
    (temperature, top_p, repetition_penalty, no_repeat_ngram_size, ...).
    """
    for param, value in (("num_beams", num_beams), ("num_return_sequences", num_return_sequences),
                         ("batch_size", batch_size), ("max_input_length", max_input_length),
                         ("max_new_tokens", max_new_tokens)):
        if value < 1:
            raise ParamError(param, f"must be at least 1, got {value}")
    if num_beam_groups < 1 or num_beams % num_beam_groups:
        raise ParamError("num_beams", f"{num_beams} must be a multiple of `num_beam_groups` {num_beam_groups}")
    if num_beam_groups > 1 and do_sample:
        raise ParamError("num_beam_groups", f"{num_beam_groups} (diverse beam search) does not combine with "
                         "sampling (`do_sample`)")
    if isinstance(model, Ct2Model) and model.supports(num_beam_groups):
        raise ParamError("num_beam_groups", f"{num_beam_groups}: {model.supports(num_beam_groups)}; use the "
                         "transformers `backend`")
    if not do_sample and num_return_sequences > num_beams:
        raise ParamError("num_beams", f"{num_beams} must be at least `num_return_sequences` {num_return_sequences} "
                         "(or sample: `do_sample`)")
    bad_words = [w.strip() for w in bad_words or ()]
    if any(not w for w in bad_words):
        raise ParamError("bad_words", "holds an empty word; list only words to keep out")
    if seed is not None:
        set_seed(seed)
    own = GenerationStats()
    causal = is_causal(model)
    budget, for_positions = input_budget(model, causal, max_input_length, max_new_tokens)
    if prompt is not None and not causal:
        raise UserError("chat templates and few-shot prompts apply to causal LMs; this model is seq2seq")
    windows: list[str] = []
    owner: list[int] = []  # the input each window belongs to
    for i, text in enumerate(inputs):
        if prompt is not None:
            prompt.fit_shots(text, i, budget)
        count = prompt.counter(i) if prompt is not None else _counter(tokenizer, causal)
        fitted = fit_input(text, count, budget, templates,
                           param="max_new_tokens" if for_positions and count(text) <= max_input_length
                           else "max_input_length")
        if fitted != [text]:
            own.inputs_cut += 1
            own.inputs_cut_for_positions += for_positions and count(text) <= max_input_length
        windows += fitted
        owner += [i] * len(fitted)
    own.inputs = len(inputs)
    encoded = _encode(tokenizer, windows, causal, budget) if prompt is None else \
        [prompt.encode(text, owner[w])[-budget:] for w, text in enumerate(windows)]
    # Beam search keeps every hypothesis (deduplication may need more than N); sampling draws N.
    per_group = num_return_sequences if do_sample else num_beams // num_beam_groups
    gen_kwargs = dict(gen_kwargs, max_new_tokens=max_new_tokens, do_sample=do_sample)
    if causal:  # a chat template's end of turn as well as eos
        gen_kwargs.setdefault("eos_token_id", prompt.stop_ids if prompt is not None else tokenizer.eos_token_id)
    eos = gen_kwargs.get("eos_token_id", tokenizer.eos_token_id)
    stops = set(eos) if isinstance(eos, (list, tuple)) else {eos}
    chat = prompt.chat if prompt is not None else None
    banned = bad_words_ids(tokenizer, bad_words) if bad_words else []
    kept_ids = {tokenizer.convert_tokens_to_ids(t) for t in keep_special_tokens} - {tokenizer.unk_token_id}
    drop_ids = set(tokenizer.all_special_ids) - kept_ids
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def decode(w: int, ids: list[int], tally: GenerationStats) -> str | None:
        at_limit = not stops & set(ids)
        if chat is not None:  # the assistant's content only, never the template's wrapping
            ids = chat.content(ids, tally)
            if ids is None:
                return None
        text = decode_output(tokenizer, ids, drop_ids, at_limit, tally)
        if extractive and UNK_MARKER in text:
            source = resolve_unknown(tokenizer, text, inputs[owner[w]])
            tally.unk_resolved += source is not None
            tally.unk_dropped += source is None
            return source
        return text

    results: list[list[str]] = [[] for _ in windows]
    best: list[list[int]] = [[] for _ in windows]  # the best hypothesis' ids, to score windows
    tallies = [GenerationStats() for _ in windows]
    todo = list(range(len(windows)))
    bar = _progress(len(todo), progress)
    for attempt in range(BAD_WORD_RETRIES + 1):
        kwargs = dict(gen_kwargs, bad_words_ids=banned) if banned else gen_kwargs
        # Longest first: a batch too big for memory fails at once, not at the end.
        order = sorted(todo, key=lambda i: -len(encoded[i]))
        retry: set[int] = set()
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            # T5 family: jaqg.models.t5_attention for this call, then the model's own
            with chunked_attention(model) if not isinstance(model, Ct2Model) else contextlib.nullcontext():
                candidates = _generate_batch(model, tokenizer, [encoded[i] for i in chunk], num_beams=num_beams,
                                             num_beam_groups=num_beam_groups, diversity_penalty=diversity_penalty,
                                             per_group=per_group, gen_kwargs=kwargs)
            for i, hyps in zip(chunk, candidates):
                tallies[i] = GenerationStats()
                texts = [decode(i, h, tallies[i]) for h in hyps]
                offending = {(w, tuple(h)) for h, t in zip(hyps, texts) for w in bad_words if t and w in t}
                if offending:
                    if attempt == BAD_WORD_RETRIES:
                        raise BadWordError(f"input {owner[i] + 1}: outputs still contain "
                                           f"{sorted({w for w, _ in offending})} after {BAD_WORD_RETRIES} retries; "
                                           "shorten the bad word list or change the input")
                    new_spans = {_offending_span(tokenizer, list(h), w) for w, h in offending}
                    banned = banned + [list(s) for s in new_spans if list(s) not in banned]
                    retry.add(i)
                    continue
                results[i] = list(dict.fromkeys(t for t in texts if t is not None))[:num_return_sequences]
                best[i] = hyps[0] if hyps else []
                bar.update(1)
        if not retry:
            break
        log.warning("%d input(s) still spelled a bad word; banned those token runs too and generated again",
                    len(retry))
        todo = sorted(retry)
    bar.close()
    merged: list[list[str]] = [[] for _ in inputs]
    chosen: dict[int, tuple[float, int]] = {}
    several = {i for i in owner if owner.count(i) > 1} if len(owner) > len(inputs) else set()
    for w, i in enumerate(owner):
        if i not in several:
            chosen[i] = (0.0, w)
            continue
        score = mean_logprob(model, causal, encoded[w], best[w], pad_id, tokenizer) if results[w] else float("-inf")
        if i not in chosen or score > chosen[i][0]:
            chosen[i] = (score, w)
    for i, (_, w) in chosen.items():
        merged[i] = results[w]
        own.add(tallies[w])
    own.inputs = len(inputs)
    if prompt is not None:
        prompt.tally(own, len(inputs))
    if stats is not None:
        stats.add(own)
    if own.describe():
        log.warning("%s", own.describe())
    short = sum(len(r) < num_return_sequences for r in merged)
    if short:
        log.warning("%d input(s) got fewer than %d distinct outputs", short, num_return_sequences)
    return merged


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit="input", file=sys.stderr, dynamic_ncols=True)
