"""The decoding flags predict.py and generate.py share (names follow Hugging Face's ``generate``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..generation.ct2 import COMPUTE_TYPES
from ..generation.decoding import BACKENDS
from .args import arg


@dataclass(kw_only=True)  # keyword-only: a command's own required fields may follow
class BackendArgs:
    """Who runs the model: transformers, or CTranslate2 (converted once into a user cache dir; faster decoding)."""
    backend: str = arg("transformers", choices=BACKENDS, help="inference engine; our tokenizer encodes and decodes "
                                                               "for both (docs/speed.md has the speed of each)")
    ct2_compute_type: str = arg("float32", choices=COMPUTE_TYPES, help="with --backend ctranslate2: weights and "
                                                                       "arithmetic (int8: quantized, fastest on CPU)")

    def backend_kwargs(self) -> dict:
        return {"backend": self.backend, "ct2_compute_type": self.ct2_compute_type}


@dataclass
class GenerationArgs(BackendArgs):
    """Decoding flags shared by predict.py and generate.py (names follow Hugging Face's generate)."""
    batch_size: int = arg(16, help="inputs per generate call")
    max_input_length: Optional[int] = arg(None, help="input tokens kept (default: the model's run_config, else "
                                          "512)")
    max_target_length: Optional[int] = arg(None, help="new tokens generated at most (default: the model's "
                                           "run_config, else 64)")
    num_beams: int = arg(1, help="beam size (1 = greedy or sampling)")
    num_return_sequences: int = arg(1, help="distinct outputs per input (<= --num_beams unless --do_sample)")
    num_beam_groups: int = arg(1, help="diverse beam search: split the beams into this many groups")
    diversity_penalty: float = arg(0.0, help="diverse beam search: log-prob penalty per earlier group's "
                                   "same-step token")
    do_sample: bool = arg(False, help="sample instead of searching")
    temperature: float = arg(1.0, help="sampling temperature")
    top_p: float = arg(1.0, help="nucleus sampling: keep the smallest token set with this probability")
    repetition_penalty: float = arg(1.0, help="penalise tokens already generated (1.0 = off)")
    no_repeat_ngram_size: int = arg(0, help="never repeat an n-gram of this size (0 = off)")
    bad_words: Optional[list[str]] = arg(None, help="words that must not appear in any output")
    seed: int = arg(42, help="random seed (sampling is reproducible with the same seed and flags)")
    device: str = arg("auto", help="auto | cpu | cuda | cuda:N")
    threads: int = arg(0, help="CPU threads for torch (0 = torch's default, one per core; on a busy shared "
                          "machine 1 is often faster)")
    precision: str = arg("32", help="32 | bf16 | 16 (T5 overflows in fp16)")



def generation_kwargs(args: GenerationArgs, run_config: dict, progress: bool = False) -> dict:
    """generate()'s keyword arguments from the flags; lengths default to what the model was trained with."""
    kwargs = dict(batch_size=args.batch_size,
                  max_input_length=args.max_input_length or run_config.get("max_input_length") or 512,
                  max_new_tokens=args.max_target_length or run_config.get("max_target_length") or 64,
                  num_beams=args.num_beams, num_return_sequences=args.num_return_sequences,
                  num_beam_groups=args.num_beam_groups, diversity_penalty=args.diversity_penalty,
                  do_sample=args.do_sample, repetition_penalty=args.repetition_penalty,
                  no_repeat_ngram_size=args.no_repeat_ngram_size, bad_words=args.bad_words, seed=args.seed,
                  progress=progress)
    if args.do_sample:  # transformers warns when sampling flags come without sampling
        kwargs.update(temperature=args.temperature, top_p=args.top_p)
    return kwargs
