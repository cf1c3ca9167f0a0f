"""Generate filtered question-answer pairs from raw text (answer extraction -> question generation -> round trip
-> hallucination check -> duplicates); the pipeline is jaqg/qag.py.

    python generate_qa.py --model_name_or_path model_multi --input_file doc.txt --output_file qa.jsonl
    python generate_qa.py --model_name_or_path model_aqg_hl --qa_model model_qa --answers ner \\
        --input_file docs.jsonl --output_file qa.jsonl
    python generate_qa.py --mode e2e --model_name_or_path model_e2e --qa_model model_qa \\
        --input_file docs.jsonl --output_file qa.jsonl     # one model writes every pair of a passage (jaqg/qag/e2e.py)

A causal LM trained on chat data is prompted through its chat template (jaqg.generation.chat).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.distributed as dist

from ..core.errors import UserError
from ..core.io import atomic_write, write_json
from ..evaluation.hallucination import ANALYZERS
from ..qag.e2e import e2e_format, generate_qa_e2e
from ..qag.loading import MODES, load_qag_models, plan_qag_models
from ..qag.pipeline import QagConfig, generate_qa, print_summary, read_documents
from ..qag.sharding import sharded, world
from .args import arg, parse_args
from .generation_args import BackendArgs


@dataclass
class Args(BackendArgs):
    """Question-answer pairs from a document: candidates, questions, round-trip and hallucination filters."""
    model_name_or_path: str = arg(help="question-generation model: a multitask model (prepare --task multi) or "
                                       "an AQG-HL model")
    input_file: str = arg(help="a .txt file (one document), a .jsonl of {\"text\"[, \"id\", \"title\"]}, or a "
                               "JSQuAD .json (one document per paragraph)")
    output_file: str = arg(help="JSON lines, one per candidate; the summary goes beside it (.summary.json)")
    mode: str = arg("pipeline", choices=list(MODES),
                    help="pipeline: answer candidates, then a question each (an AQG-HL or multitask model); e2e: "
                         "an end-to-end model (prepare --task e2e) writes every pair of a passage at once")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    if not 0 <= args.min_roundtrip_f1 <= 1:
        raise UserError(f"--min_roundtrip_f1 {args.min_roundtrip_f1}: must be between 0 and 1")
    plan = plan_qag_models(args.model_name_or_path, qa_model=args.qa_model, ae_model=args.ae_model,
                           answers=args.answers, assume_multitask=args.assume_multitask,
                           mode=args.mode)  # all checked before loading
    for note in plan.notes:
        print(note, file=sys.stderr)
    documents = read_documents(args.input_file)
    max_input_length = args.max_input_length or plan.max_input_length or 512
    if max_input_length < 8:
        raise UserError(f"--max_input_length {max_input_length}: too small for any passage")

    rank, size = world()
    device = args.device
    if size > 1 and not dist.is_initialized():  # under torchrun: each rank a shard of the documents (sharding.py)
        cuda = torch.cuda.is_available() and args.device != "cpu"
        if cuda:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo")
    models = load_qag_models(plan, device=device, precision=args.precision, threads=args.threads,
                             **args.backend_kwargs())
    config = QagConfig(max_input_length=max_input_length, num_beams=args.num_beams, bad_words=args.bad_words,
                       batch_size=args.batch_size, min_roundtrip_f1=args.min_roundtrip_f1,
                       allow_hallucinated=args.allow_hallucinated,
                       hallucination_tokenizer=args.hallucination_tokenizer)
    if args.mode == "e2e":
        fmt = e2e_format(plan.infos.get("e2e"))
        result = sharded(lambda docs: generate_qa_e2e(docs, models.e2e, models.qa, fmt=fmt, config=config),
                         documents)
    else:
        result = sharded(lambda docs: generate_qa(docs, models.qg, models.qa, answers=args.answers, ae=models.ae,
                                                  config=config), documents)
    if dist.is_initialized():
        dist.destroy_process_group()
    if result is None:  # another rank: rank 0 gathered its shard and writes every output
        return 0
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

