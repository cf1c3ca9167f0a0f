"""Evaluation after training, one implementation for seq2seq and causal LMs: generate for every example, write
predictions.tsv (id, prediction, target) in input order, score as score.py does, write metrics.json.

``evaluate`` scores a seq2seq model dir on a prepared data dir's test.tsv; ``evaluate_examples`` is the shared
core (run_clm.py passes its validation prompts and its perplexity); ``perplexity`` is the validation loss of a
finished model (the same token-level cross-entropy the training loop validates with).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch

from ..core.errors import ParamError, UserError
from ..core.io import prediction_text, read_examples, write_json, write_rows
from ..data.formats import GPT_SEP, task_of_input
from ..evaluation.metrics import compute_metrics, format_report, read_raw_reference_map, read_reference_map, score_data
from ..generation.decoding import clean_prediction, generate, load_model
from ..generation.fitting import model_templates
from ..generation.outputs import GenerationStats
from .data import TrainingData, data_report
from .objectives import loss_sums


def evaluate_examples(model, tokenizer, ids: Sequence[str], inputs: Sequence[str], targets: Sequence[str],
                      output_dir: str | Path, *, references: Sequence[Sequence[str]] | None = None,
                      batch_size: int = 16, max_input_length: int = 512, max_new_tokens: int = 64,
                      num_beams: int = 1, repetition_penalty: float = 1.0, tokenizers=("mecab",),
                      tokenizer_name_or_path: str | None = None, tsv_path: Path | None = None,
                      task_prefixes: dict | None = None, keep_special_tokens: Sequence[str] = (),
                      metrics: dict | None = None, data_info: dict | None = None, prompt=None) -> dict:
    """Generate for ``inputs``, write predictions.tsv and metrics.json into output_dir, return the metrics.

    ``references``: per example (default: its target); ``tsv_path``: the data TSV, for JGLUE's raw golds beside
    it and the breakdowns; ``prompt``: a causal LM's chat / few-shot prompt (jaqg.generation.chat.Prompt);
    ``task_prefixes``: a multitask data dir's, adding per-task scores (``by_task``);
    ``metrics``: values reported first (e.g. run_clm.py's perplexity); ``data_info``: the data dir's task and
    templates, so that inputs over the limit are windowed around their answer or question, not cut blind, and QA
    answers holding ``<unk>`` are mapped back to their context. ``metrics["generation"]`` counts what generation
    cut, repaired or dropped (jaqg.generation.outputs.GenerationStats: ``inputs_cut``, ``unk_in_outputs``, ...)."""
    output_dir = Path(output_dir)
    ids = list(ids)
    references = [list(r) for r in references] if references is not None else [[t] for t in targets]
    stats = GenerationStats()
    outputs = generate(model, tokenizer, list(inputs), batch_size=batch_size, max_input_length=max_input_length,
                       max_new_tokens=max_new_tokens, num_beams=num_beams, repetition_penalty=repetition_penalty,
                       progress=True, keep_special_tokens=tuple(keep_special_tokens),
                       templates=model_templates(data_info), extractive=(data_info or {}).get("task") == "qa",
                       stats=stats, prompt=prompt)
    fields = [clean_prediction(o[0] if o else "") for o in outputs]
    write_rows(output_dir / "predictions.tsv", [[i, p, t] for i, p, t in zip(ids, fields, targets)])
    predictions = [prediction_text(p) for p in fields]  # scored as score.py reads the file back (<empty> is "")
    # score.py's scoring: JGLUE on the raw golds beside the TSV (named in jglue_references), breakdowns;
    # the raw golds are read once, for the whole set and by_task's jglue.
    raw_map = read_raw_reference_map(ids, tsv_path=tsv_path) if tsv_path else None
    scores, _ = score_data(predictions, ids, references, tsv_path=tsv_path, tokenizers=tuple(tokenizers),
                           tokenizer_name_or_path=tokenizer_name_or_path, raw_map=raw_map)
    results = {**(metrics or {}), **scores, "generation": stats.as_dict()}
    if task_prefixes:  # a multitask data dir: the same metrics per task, the task read from the input's prefix
        raw = raw_map[0] if raw_map else None
        raw_references = [raw[i] for i in ids] if raw else references
        tasks = [task_of_input(x, task_prefixes) or "unknown" for x in inputs]
        results["by_task"] = {t: compute_metrics([p for p, x in zip(predictions, tasks) if x == t],
                                                 [r for r, x in zip(references, tasks) if x == t],
                                                 tokenizers=tuple(tokenizers),
                                                 tokenizer_name_or_path=tokenizer_name_or_path,
                                                 raw_references=[r for r, x in zip(raw_references, tasks) if x == t])
                              for t in dict.fromkeys(tasks)}
    write_json(output_dir / "metrics.json", results)
    print(format_report(results))
    return results


def load_references(data_dir: Path, examples) -> list[list[str]]:
    """References per test example: test_references.json ({id: [ref, ...]}) if the data dir has it, else the target."""
    path = Path(data_dir) / "test_references.json"
    refs = read_reference_map(json_path=path) if path.is_file() else {}  # score.py's reader: same parsing and checks
    return [refs.get(e.id) or [e.target] for e in examples]


def evaluate(model_dir: str | Path, data_dir: str | Path, output_dir: str | Path, *, batch_size: int = 16,
             max_input_length: int = 512, max_new_tokens: int = 64, num_beams: int = 1,
             repetition_penalty: float = 1.0, tokenizers=("mecab",), limit: int | None = None,
             backend: str = "transformers", ct2_compute_type: str = "float32", trust_remote_code: bool = False
             ) -> dict:
    """Generate for data_dir/test.tsv with the model in model_dir (on ``backend``, jaqg.generation.decoding's
    load_model); predictions.tsv and metrics.json in output_dir."""
    data_dir = Path(data_dir)
    examples = read_examples(data_dir / "test.tsv")[:limit]
    if not examples:
        raise UserError(f"{data_dir / 'test.tsv'}: no examples to evaluate")
    model, tokenizer = load_model(str(model_dir), backend=backend, ct2_compute_type=ct2_compute_type,
                                  trust_remote_code=trust_remote_code)
    info = data_report(data_dir) or {}
    return evaluate_examples(model, tokenizer, [e.id for e in examples], [e.input for e in examples],
                             [e.target for e in examples], output_dir, references=load_references(data_dir, examples),
                             batch_size=batch_size, max_input_length=max_input_length, max_new_tokens=max_new_tokens,
                             num_beams=num_beams, repetition_penalty=repetition_penalty, tokenizers=tokenizers,
                             tokenizer_name_or_path=str(model_dir), tsv_path=data_dir / "test.tsv",
                             task_prefixes=info.get("task_prefixes"),
                             keep_special_tokens=(GPT_SEP,) if info.get("task") in ("ae", "multi") else (),
                             data_info=info)


def context_length(model) -> int:
    """Positions a causal LM has embeddings for (GPT-2: n_positions; most others: max_position_embeddings)."""
    config = model.config
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 1024


def generation_prompt_length(model, max_new_tokens: int) -> int:
    """Prompt tokens a causal LM can take so that prompt + max_new_tokens stays inside its positions."""
    context = context_length(model)
    if max_new_tokens >= context:
        raise ParamError("max_new_tokens", f"{max_new_tokens} leaves no room for a prompt in the model's context "
                                           f"of {context} tokens; use at most {context - 1}")
    return context - max_new_tokens


@torch.inference_mode()
def perplexity(model, tokenizer, dataset, batch_size: int) -> tuple[float, int]:
    """(mean cross-entropy per labelled token, number of such tokens) over ``dataset``."""
    loader = TrainingData(dataset, dataset, tokenizer.pad_token_id, batch_size, batch_size).val_loader()
    total, n_tokens = loss_sums(model, ({k: v.to(model.device) for k, v in b.items()} for b in loader))
    return total / max(n_tokens, 1), n_tokens


def perplexity_metrics(loss: float, n_tokens: int) -> dict:
    return {"val_loss": loss, "perplexity": math.exp(min(loss, 700)), "val_tokens": n_tokens}
