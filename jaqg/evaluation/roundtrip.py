"""Answering questions with a trained generative QA model: the one implementation behind generate.py
--roundtrip_qa, score.py --qa_model (QA-based evaluation of generated questions) and generate_qa.py.

A QA model is a seq2seq or causal LM trained on ``format_input("qa", ...)`` inputs. Its output dir's
``run_config.json`` (written by train.py / run_clm.py) says how its inputs were built:

- ``data.task == "qa"``: ``data.template`` (None: the default ``question: {question} context: {context}``);
- ``data.task == "multi"`` (one model for several tasks, inputs start with a task prefix): ``data.templates.qa``
  (the full QA template, prefix included), else ``data.task_prefixes.qa`` + the default QA template;
- no run_config (a hub model, a bare dir): the default QA template.

Any other task (an AQG model, say) is refused with one line, as is a model that cannot generate text
(an extractive ``...ForQuestionAnswering`` or a masked LM).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..core.errors import UserError
from ..core.io import read_json
from ..core.normalize import match_key, normalize
from ..data.formats import format_input, task_template
from ..generation.chat import Prompt, chat_template_for, system_prompt_for
from ..generation.decoding import check_model_path, clean_text, generate, is_causal, load_model, read_run_config
from ..generation.outputs import GenerationStats
from .metrics import char_f1, exact_match

# Heads of models that generate text (transformers' class names end so); anything else cannot answer here.
GENERATIVE_HEADS = ("ForConditionalGeneration", "ForCausalLM", "LMHeadModel", "Seq2SeqLM")


def qa_template(data_info: dict | None, where: str = "the model") -> str:
    """The QA input template a model was trained with, from its run_config's ``data``; UserError for a model
    trained on another task."""
    template = task_template(data_info, "qa")
    if template is not None:
        return template
    task = (data_info or {}).get("task")
    if task == "multi":
        raise UserError(f"{where}: a multitask model whose run_config names no QA template (data.templates.qa "
                        "or data.task_prefixes.qa); retrain it from a `task` multi data dir")
    raise UserError(f"{where}: a QA model is needed, but its run_config.json says it was trained for task {task!r}; "
                    "pass a model trained on QA data (prepare_jsquad.py) or a multitask model")


@dataclass
class QAModel:
    """A loaded QA model with the input template and lengths it was trained with."""
    model: object
    tokenizer: object
    template: str
    max_input_length: int = 512
    max_new_tokens: int = 64
    prompt: Prompt | None = None  # a chat model's template and system turn

    def answer(self, questions: Sequence[str], contexts: Sequence[str], *, batch_size: int = 16,
               progress: bool = False, stats: GenerationStats | None = None) -> list[str]:
        """``answer_questions`` with this model's template and lengths: one answer per (question, context)."""
        return answer_questions(self.model, self.tokenizer, questions, contexts, template=self.template,
                                batch_size=batch_size, max_input_length=self.max_input_length,
                                max_new_tokens=self.max_new_tokens, progress=progress, stats=stats,
                                prompt=self.prompt)


def check_generative(model_dir: str) -> None:
    """UserError unless the dir's config names a text-generating head (a local dir without architectures passes)."""
    config = Path(model_dir) / "config.json"
    if not config.is_file():
        return  # a hub name or a LoRA adapter dir: load_model checks what it can
    obj = read_json(config)
    archs = obj.get("architectures") or []
    if obj.get("is_encoder_decoder"):
        return
    if archs and not any(a.endswith(GENERATIVE_HEADS) for a in archs):
        raise UserError(f"{model_dir}: a {', '.join(archs)} cannot generate answers; pass a seq2seq or causal-LM "
                        "QA model (train.py / run_clm.py on QA data)")


def load_qa_model(model_dir: str, *, device: str = "auto", precision: str = "32", threads: int = 0,
                  param: str = "qa_model", backend: str = "transformers", ct2_compute_type: str = "float32",
                  trust_remote_code: bool = False) -> QAModel:
    """A QA model and how to prompt it, from its dir (run_config.json) or hub name; UserError (one line naming
    ``param``) for a missing dir, a model trained on another task or one that cannot generate."""
    check_model_path(model_dir, param)
    run_config = read_run_config(model_dir)
    template = qa_template(run_config.get("data"), where=model_dir)
    check_generative(model_dir)
    model, tokenizer = load_model(model_dir, device=device, precision=precision, threads=threads, param=param,
                                  backend=backend, ct2_compute_type=ct2_compute_type,
                                  trust_remote_code=trust_remote_code)
    return QAModel(model, tokenizer, template, max_input_length=run_config.get("max_input_length") or 512,
                   max_new_tokens=run_config.get("max_target_length") or 64,
                   prompt=chat_prompt(model, tokenizer, run_config.get("data")))


def chat_prompt(model, tokenizer, data_info: dict | None) -> Prompt | None:
    """A causal LM's chat prompting (its template, the system turn it was trained with), or None for a plain one."""
    chat = chat_template_for(model, tokenizer, data_info)
    return Prompt(tokenizer, chat, system=system_prompt_for(data_info)) if chat is not None else None


def qa_inputs(questions: Sequence[str], contexts: Sequence[str], template: str | None = None) -> list[str]:
    """The QA model's input text for each (question, context) pair, both normalized as prepared QA data is:
    ``format_input("qa", question=..., context=..., template=template)`` (None: the default QA template)."""
    return [format_input("qa", question=normalize(q), context=normalize(c), template=template)
            for q, c in zip(questions, contexts)]


def answer_questions(model, tokenizer, questions: Sequence[str], contexts: Sequence[str], *,
                     template: str | None = None, batch_size: int = 16, max_input_length: int = 512,
                     max_new_tokens: int = 64, progress: bool = False,
                     stats: GenerationStats | None = None, prompt: Prompt | None = None) -> list[str]:
    """One greedy answer per (question, context) pair, in input order; ``""`` when the model says nothing.

    Answers are one line of text (jaqg.generation.decoding.clean_text: whitespace runs become one space; a causal LM's
    answer is cut at its first newline), so they can be compared, scored and written to a TSV field.
    Inputs are ``qa_inputs(questions, contexts, template)``.
    Batched by length (jaqg.generation.decoding.generate). Answers are extractive: one holding an unknown token is
    mapped back to the context, or "" when the context does not determine it; a context over the limit is answered
    on overlapping windows (the best-scoring answer kept). ``stats`` gets the counts.
    """
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    if not questions:
        return []
    outputs = generate(model, tokenizer, qa_inputs(questions, contexts, template), batch_size=batch_size,
                       max_input_length=max_input_length, max_new_tokens=max_new_tokens, progress=progress,
                       templates=[template] if template else [], extractive=True, stats=stats, prompt=prompt)
    first_line = is_causal(model)
    return [clean_text(o[0] if o else "", first_line=first_line) for o in outputs]


def same_answer(a: str, b: str) -> bool:
    """Equal after normalization, spaces ignored (the round trip's test)."""
    return match_key(a) == match_key(b)


def roundtrip_filter(qa_model_dir: str, items: list[tuple[str, str]], questions: list[list[str]], *,
                     batch_size: int = 16, device: str = "auto", precision: str = "32", **backend
                     ) -> tuple[list[list[str]], list[list[str]]]:
    """Keep the questions a QA model answers with the given answer: (kept, dropped) per (answer, context) item."""
    qa = load_qa_model(qa_model_dir, device=device, precision=precision, param="roundtrip_qa", **backend)
    pairs = [(i, q) for i, qs in enumerate(questions) for q in qs]
    answers = qa.answer([q for _, q in pairs], [items[i][1] for i, _ in pairs], batch_size=batch_size)
    kept: list[list[str]] = [[] for _ in items]
    dropped: list[list[str]] = [[] for _ in items]
    for (i, q), predicted in zip(pairs, answers):
        (kept if same_answer(predicted, items[i][0]) else dropped)[i].append(q)
    return kept, dropped


def qa_based_scores(qa: QAModel, questions: Sequence[str], contexts: Sequence[str], answers: Sequence[str], *,
                    batch_size: int = 16, progress: bool = False, stats: GenerationStats | None = None
                    ) -> tuple[dict, list[dict]]:
    """QA-based evaluation of questions (generated or reference): the QA model answers each against its context,
    scored against the intended answer with jaqg.evaluation.metrics' exact match and char F1 (0-100).

    Returns ``({"exact_match", "char_f1", "n"}, [{"qa_answer", "exact_match", "char_f1"} per question])``.
    """
    predicted = qa.answer(questions, contexts, batch_size=batch_size, progress=progress, stats=stats)
    rows = [{"qa_answer": p, "exact_match": 100 * exact_match(p, a), "char_f1": 100 * char_f1(p, a)}
            for p, a in zip(predicted, answers)]
    n = len(rows)
    return ({"exact_match": sum(r["exact_match"] for r in rows) / n if n else 0.0,
             "char_f1": sum(r["char_f1"] for r in rows) / n if n else 0.0, "n": n}, rows)
