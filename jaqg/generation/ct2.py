"""CTranslate2 as an inference backend: the same token ids in and out as ``model.generate``, faster decoding.

A Hugging Face model dir is converted once per compute type (``TransformersConverter``) into a user cache
directory, ``$JAQG_CACHE or $XDG_CACHE_HOME/jaqg or ~/.cache/jaqg`` / ``ct2`` / a key of the model files' names,
sizes and modification times, the compute type and the CTranslate2 version; never into the model dir or a hub
cache. Our tokenizer stays the one that encodes and decodes: CTranslate2 only sees token strings of its vocabulary,
so what is generated is decoded exactly as the transformers backend decodes it.

Supported: the model types CTranslate2's converter knows (T5, mT5, BART, GPT-2, GPT-NeoX, Llama, Mistral, Qwen2...),
greedy and beam search, n-best, sampling (temperature, top-p), repetition penalty, no-repeat n-grams, banned token
sequences (bad words), length limits. Not supported: diverse beam groups (``num_beam_groups`` > 1) and prefix
constraints: ``supports`` says why, and the caller falls back to transformers or stops.
Source: https://opennmt.net/CTranslate2/ (Translator.translate_batch, Generator.generate_batch).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from ..core.errors import ParamError, UserError

COMPUTE_TYPES = ("float32", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16")


def cache_root() -> Path:
    base = os.environ.get("JAQG_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                         os.path.expanduser("~/.cache"), "jaqg")
    return Path(base) / "ct2"


def cache_key(model_dir: Path, compute_type: str) -> str:
    """A digest of the model files (name, size, mtime), the compute type and the CTranslate2 version."""
    import ctranslate2
    files = sorted(p for p in model_dir.iterdir() if p.is_file())
    listing = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in files]
    text = json.dumps([str(model_dir.resolve()), listing, compute_type, ctranslate2.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def converted(model_dir: str | Path, compute_type: str = "float32") -> Path:
    """The CTranslate2 model of ``model_dir`` quantized to ``compute_type``, converted now unless cached.

    Raises ParamError for an unknown compute type, UserError when the converter refuses the model."""
    if compute_type not in COMPUTE_TYPES:
        raise ParamError("ct2_compute_type", f"{compute_type!r}: unknown; use one of {', '.join(COMPUTE_TYPES)}")
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir}: the CTranslate2 backend converts a local model dir (with config.json); "
                        "a LoRA adapter dir needs merging first (run_clm's `merge_lora`)")
    out = cache_root() / cache_key(model_dir, compute_type)
    if (out / "model.bin").is_file():
        return out
    from ctranslate2.converters import TransformersConverter
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=out.parent))
    try:
        TransformersConverter(str(model_dir), low_cpu_mem_usage=True).convert(
            str(tmp / "model"), quantization=compute_type, force=True)
        os.replace(tmp / "model", out)  # atomic: a half-converted model is never found in the cache
    except (ValueError, NotImplementedError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{model_dir}: CTranslate2 cannot convert this model ({first}); use the transformers "
                        "backend") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class Ct2Model:
    """A converted model with the HF ``config`` it came from (``is_encoder_decoder`` tells the kind apart)."""

    def __init__(self, model_dir: str | Path, config, compute_type: str = "float32", threads: int = 0,
                 device: str = "cpu"):
        import ctranslate2
        self.config, self.compute_type, self.device = config, compute_type, device
        path = converted(model_dir, compute_type)
        engine = ctranslate2.Translator if config.is_encoder_decoder else ctranslate2.Generator
        self.engine = engine(str(path), device=device, compute_type=compute_type, inter_threads=1,
                             intra_threads=threads)

    @staticmethod
    def supports(num_beam_groups: int = 1) -> str | None:
        """None if the options can run here, else why not (one line)."""
        if num_beam_groups > 1:
            return "CTranslate2 has no diverse (group) beam search"
        return None

    def generate_ids(self, tokenizer, seqs: list[list[int]], *, num_beams: int, num_return_sequences: int,
                     max_new_tokens: int, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                     repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                     bad_words_ids: Sequence[Sequence[int]] = (), eos_token_id: int | list[int] | None = None,
                     **unused
                     ) -> list[list[list[int]]]:
        """Generated token ids per input (prompt removed, no start/end token), ``num_return_sequences`` each,
        best first: the shape ``decoding._generate_batch`` returns. Keyword arguments are ``model.generate``'s
        (``max_new_tokens``, ``do_sample``, ``bad_words_ids``, ...); ``unused`` ones are settings CTranslate2 does not
        need (``pad_token_id``, ``logits_processor``); ``min_new_tokens`` forces a length as in ``generate``."""
        min_new_tokens = unused.get("min_new_tokens") or 0
        to_tokens = tokenizer.convert_ids_to_tokens
        options = dict(beam_size=1 if do_sample else num_beams, num_hypotheses=num_return_sequences,
                       max_length=max_new_tokens, repetition_penalty=repetition_penalty,
                       no_repeat_ngram_size=no_repeat_ngram_size, return_scores=False)
        if do_sample:
            options.update(sampling_topk=0, sampling_topp=top_p, sampling_temperature=temperature)
        if bad_words_ids:
            options["suppress_sequences"] = [to_tokens(list(ids)) for ids in bad_words_ids]
        sources = [to_tokens(ids) for ids in seqs]
        if self.config.is_encoder_decoder:
            options["max_decoding_length"] = options.pop("max_length")
            options["min_decoding_length"] = min_new_tokens
            results = self.engine.translate_batch(sources, **options)
            hyps = [r.hypotheses for r in results]
        else:
            if eos_token_id is not None:
                ends = list(eos_token_id) if isinstance(eos_token_id, (list, tuple)) else [eos_token_id]
                options["end_token"] = to_tokens(ends)  # a chat template's end of turn as well as eos
            results = self.engine.generate_batch(sources, include_prompt_in_result=False, min_length=min_new_tokens,
                                                 **options)
            hyps = [r.sequences for r in results]
        return [[tokenizer.convert_tokens_to_ids(h) for h in row] for row in hyps]

    def mean_logprob(self, tokenizer, prompt: list[int], output: list[int]) -> float:
        """The length-normalised log-probability of ``output`` after ``prompt`` (as fitting.mean_logprob)."""
        to_tokens = tokenizer.convert_ids_to_tokens
        if self.config.is_encoder_decoder:  # the target's log-probs (and its end token's)
            log_probs = list(self.engine.score_batch([to_tokens(prompt)], [to_tokens(output)])[0].log_probs)
        else:  # one log-prob per token after the first: the output's are the last ones
            log_probs = list(self.engine.score_batch([to_tokens(prompt + output)])[0].log_probs)[-len(output):]
        return sum(log_probs) / max(len(log_probs), 1)
