"""The decoding flags predict.py and generate.py share (names follow Hugging Face's ``generate``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import UserError
from ..core.io import read_lines, read_rows
from ..data.clm_data import read_gpt_examples
from ..data.formats import GPT_END, GPT_SEP
from ..generation.chat import Prompt, chat_template_for, draw_shots, read_chat_examples, system_prompt_for
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

    trust_remote_code: bool = arg(False, help="run Python code shipped in the model's repository (transformers' "
                                              "trust_remote_code); off: only for models whose source you trust")

    def backend_kwargs(self) -> dict:
        return {"backend": self.backend, "ct2_compute_type": self.ct2_compute_type,
                "trust_remote_code": self.trust_remote_code}


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
    few_shot: int = arg(0, help="causal LMs: prompt with this many examples of --few_shot_file first (chat "
                        "models: as earlier user/assistant turns), drawn per input with --seed, never the input "
                        "itself; shots that do not fit the input limit are dropped and counted")
    few_shot_file: Optional[str] = arg(None, help="training examples for --few_shot: a data TSV (id, input, "
                                       "target), a run_clm.py text file or chat JSONL, as --input_file")


def read_inputs(path: str) -> tuple[list[list[str]], list[list[dict]] | None]:
    """([id, input, target?] rows, earlier chat turns per row or None). A ``.jsonl`` file of chat records
    (``{"id", "messages"}``): the last user turn is the input, the messages before it the rows' heads, the
    assistant's reply the target (jaqg.generation.chat.read_chat_examples). Else a TSV when the first line has a
    tab; a run_clm.py data file (``prompt<sep>question</s>`` lines, e.g. ``data_jsquad_aqg_hl_gpt/test.txt``) when
    it has ``<sep>``: the prompt is the input (generation adds the separator) and the question the target, ids
    ``line<N>`` as run_clm.py --do_eval writes them; else plain lines numbered from 1."""
    if path.endswith(".jsonl"):
        return read_chat_examples(path)
    lines = list(read_lines(path))
    if not lines:
        raise UserError(f"{path}: empty input file; write one input per line")
    if "\t" not in lines[0][1] and GPT_SEP in lines[0][1]:
        for lineno, line in lines:
            if line.strip() and GPT_SEP not in line:
                raise UserError(f"{path}:{lineno}: no {GPT_SEP} here, but line 1 has one (a run_clm.py data file: "
                                f"prompt{GPT_SEP}question{GPT_END}); fix or remove this line")
        examples, _ = read_gpt_examples(path)
        return [[e.id, e.prompt, e.target] for e in examples], None
    if "\t" in lines[0][1]:
        rows = read_rows(path, 2, None, what="id, input[, target]")
        seen: set[str] = set()
        for lineno, row in enumerate(rows, 1):
            if row[0] in seen:
                raise UserError(f"{path}:{lineno}: duplicate id {row[0]!r}; ids must be unique")
            seen.add(row[0])
        return [row[:3] for row in rows], None
    for lineno, line in lines:
        if not line.strip():
            raise UserError(f"{path}:{lineno}: empty line; remove it (plain text holds one input per line)")
    return [[str(lineno), line.strip()] for lineno, line in lines], None


def check_few_shot(args: GenerationArgs) -> None:
    """UserError for few-shot flags that do not go together (before any model loads)."""
    if args.few_shot < 0:
        raise UserError(f"--few_shot {args.few_shot}: must be 0 or more")
    if args.few_shot and not args.few_shot_file:
        raise UserError("--few_shot needs --few_shot_file, a training file of the same format as the input")
    if args.few_shot_file and not args.few_shot:
        raise UserError("--few_shot_file needs --few_shot K (how many examples each prompt gets)")


def model_prompt(args: GenerationArgs, model, tokenizer, run_config: dict, ids: list[str], inputs: list[str],
                 heads: list[list[dict]] | None = None) -> Prompt | None:
    """How a causal LM is prompted for these inputs (jaqg.generation.chat): its chat template (a model trained on
    chat data, chat input with ``heads``, or a hub model that has one) with the system turn it was trained with,
    and ``few_shot`` shots from ``few_shot_file``; None for a plain prompt (and always for seq2seq models)."""
    check_few_shot(args)
    data_info = run_config.get("data")
    chat = chat_template_for(model, tokenizer, data_info, chat_input=heads is not None)
    if args.few_shot and model.config.is_encoder_decoder:
        raise UserError("--few_shot applies to causal LMs (chat or plain); this model is seq2seq")
    shots = None
    if args.few_shot:
        pool, _ = read_inputs(args.few_shot_file)
        if any(len(row) < 3 for row in pool):
            raise UserError(f"{args.few_shot_file}: its examples need targets (id, input, target) to serve as shots")
        input_file = getattr(args, "input_file", None)  # ids name the same example only within one file
        same = bool(input_file) and Path(input_file).resolve() == Path(args.few_shot_file).resolve()
        shots = draw_shots(pool, ids, inputs, args.few_shot, args.seed, same_file=same)
    if chat is None and shots is None:
        return None
    return Prompt(tokenizer, chat, system=system_prompt_for(data_info), heads=heads, shots=shots)


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
