"""Generate filtered question-answer pairs from raw text (answer extraction -> question generation -> round trip
-> hallucination check -> duplicates); the pipeline is jaqg/qag.py.

    python generate_qa.py --model_name_or_path model_multi --input_file doc.txt --output_file qa.jsonl
    python generate_qa.py --model_name_or_path model_aqg_hl --qa_model model_qa --answers ner \\
        --input_file docs.jsonl --output_file qa.jsonl
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import UserError
from ..core.io import atomic_write, write_json
from ..data.formats import DEFAULT_TASK_PREFIXES, task_template
from ..evaluation.hallucination import ANALYZERS
from ..generation.decoding import check_model_path, load_model, read_run_config
from ..qag.pipeline import QagConfig, TaskModel, generate_qa, print_summary, read_documents
from .args import arg, parse_args


@dataclass
class Args:
    """Question-answer pairs from a document: candidates, questions, round-trip and hallucination filters."""
    model_name_or_path: str = arg(help="question-generation model: a multitask model (prepare --task multi) or "
                                       "an AQG-HL model")
    input_file: str = arg(help="a .txt file (one document), a .jsonl of {\"text\"[, \"id\", \"title\"]}, or a "
                               "JSQuAD .json (one document per paragraph)")
    output_file: str = arg(help="JSON lines, one per candidate; the summary goes beside it (.summary.json)")
    answers: str = arg("model", choices=["model", "ner"],
                       help="answer candidates: model (AE task of the multitask model or --ae_model) or ner "
                            "(GiNZA entities and numeric expressions)")
    ae_model: Optional[str] = arg(None, help="answer-extraction model (task ae or multi) for --answers model")
    qa_model: Optional[str] = arg(None, help="QA model for the round trip (default: the multitask model's QA task)")
    max_input_length: Optional[int] = arg(None, help="passage budget in tokens, template and <hl> included "
                                          "(default: the model's run_config, else 512)")
    num_beams: int = arg(1, help="beam size for question generation")
    bad_words: Optional[list[str]] = arg(None, help="words no generated question may contain")
    batch_size: int = arg(16, help="inputs per generate call")
    min_roundtrip_f1: float = arg(0.8, help="keep a pair when char F1 of the QA answer and the candidate >= this")
    allow_hallucinated: bool = arg(False, help="keep pairs whose question has words the passage lacks (listed in "
                                               "hallucinated_words)")
    passages_output: Optional[str] = arg(None, help="also write the passages as JSON lines {id, index, passage, "
                                                    "sentences, worst_input_tokens}")
    hallucination_tokenizer: str = arg("ginza", choices=list(ANALYZERS), help="analyser of the hallucination check")
    device: str = arg("auto", help="auto | cpu | cuda | cuda:N")
    precision: str = arg("32", help="32 | bf16 | 16")
    threads: int = arg(0, help="CPU threads for torch (0 = torch's default)")
    assume_multitask: bool = arg(False, help="a model without run_config.json (a hub or bare model dir) was "
                                             "trained on --task multi data with the default task prefixes")


TASK_NAMES = {"qa": "question answering", "aqg_hl": "question generation (AQG-HL)", "ae": "answer extraction"}


def model_data_info(path: str, tasks: list[str], assume_multitask: bool, notes: list[str]) -> dict | None:
    """The data info (run_config's ``data``) a model was trained on, for the tasks it is to serve.

    A model without one (a hub model, a bare dir, a run_config without ``data``) says nothing of its tasks: it may
    serve one task with that task's default template (a line added to ``notes``), or, with ``assume_multitask``, every
    task
    with the default prefixes; asked to serve several tasks otherwise, it is refused (UserError)."""
    run_config = read_run_config(path) if Path(path).is_dir() else {}
    if run_config.get("data"):
        return run_config["data"]
    if assume_multitask:
        return {"task": "multi", "task_prefixes": DEFAULT_TASK_PREFIXES}
    if len(tasks) > 1:
        others = {"qa": "--qa_model", "ae": "--ae_model (or --answers ner)"}
        raise UserError(f"{path}: no run_config.json says which tasks it was trained for, and it would serve "
                        f"{', '.join(TASK_NAMES[t] for t in tasks)}; pass "
                        f"{' and '.join(others[t] for t in tasks if t in others)}, or --assume_multitask if it was "
                        "trained on --task multi data with the default task prefixes")
    notes.append(f"{path}: no run_config.json; used for {TASK_NAMES[tasks[0]]} with the default template")
    return None


def task_model_config(path: str, task: str, how_to_fix: str, data_info: dict | None
                      ) -> tuple[str, int, int | None]:
    """(template, max_new_tokens, max_input_length) of a model for a task; UserError if it lacks the task."""
    run_config = read_run_config(path) if Path(path).is_dir() else {}
    template = task_template(data_info, task)
    if template is None:
        trained = (data_info or {}).get("task")
        raise UserError(f"{path}: trained for task {trained!r}, which lacks {TASK_NAMES[task]}; {how_to_fix}")
    return template, run_config.get("max_target_length") or 64, run_config.get("max_input_length")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    if not 0 <= args.min_roundtrip_f1 <= 1:
        raise UserError(f"--min_roundtrip_f1 {args.min_roundtrip_f1}: must be between 0 and 1")
    if args.ae_model and args.answers != "model":
        raise UserError("--ae_model applies only to --answers model")
    m = args.model_name_or_path
    needs = {"aqg_hl": (m, "pass a multitask or AQG-HL model as --model_name_or_path")}
    needs["qa"] = (args.qa_model or m, "pass a QA model with --qa_model" if not args.qa_model
                   else "pass a QA or multitask model as --qa_model")
    if args.answers == "model":
        needs["ae"] = (args.ae_model or m, "pass an answer-extraction model with --ae_model, or --answers ner"
                       if not args.ae_model else "pass an AE or multitask model as --ae_model")
    # A missing model dir stops here, in one line naming its flag, before notes are printed or documents read.
    params = {args.ae_model: "ae_model", args.qa_model: "qa_model", m: "model_name_or_path"}
    for path, _ in needs.values():
        check_model_path(path, params[path])
    tasks_of: dict[str, list[str]] = {}
    for task, (path, _) in needs.items():
        tasks_of.setdefault(path, []).append(task)
    notes: list[str] = []
    infos = {path: model_data_info(path, tasks, args.assume_multitask, notes) for path, tasks in tasks_of.items()}
    configs = {task: task_model_config(path, task, fix, infos[path])  # all checked before loading
               for task, (path, fix) in needs.items()}
    for note in notes:
        print(note, file=sys.stderr)
    documents = read_documents(args.input_file)
    max_input_length = args.max_input_length or configs["aqg_hl"][2] or 512
    if max_input_length < 8:
        raise UserError(f"--max_input_length {max_input_length}: too small for any passage")

    loaded: dict[str, tuple] = {}
    task_models = {}
    for task, (path, _) in needs.items():
        if path not in loaded:  # errors name the flag that gave the path
            loaded[path] = load_model(path, device=args.device, precision=args.precision, threads=args.threads,
                                      param=params[path])
        template, max_new_tokens, _ = configs[task]
        task_models[task] = TaskModel(*loaded[path], template=template, max_new_tokens=max_new_tokens)
    config = QagConfig(max_input_length=max_input_length, num_beams=args.num_beams, bad_words=args.bad_words,
                       batch_size=args.batch_size, min_roundtrip_f1=args.min_roundtrip_f1,
                       allow_hallucinated=args.allow_hallucinated,
                       hallucination_tokenizer=args.hallucination_tokenizer)
    result = generate_qa(documents, task_models["aqg_hl"], task_models["qa"], answers=args.answers,
                         ae=task_models.get("ae"), config=config)
    with atomic_write(args.output_file) as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in result.records)
    if args.passages_output:
        with atomic_write(args.passages_output) as f:
            f.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in result.passages)
    summary_path = Path(args.output_file).with_suffix(".summary.json")
    write_json(summary_path, result.summary)
    print_summary(result.summary)
    print(f"wrote {args.output_file} and {summary_path}")
    return 0

