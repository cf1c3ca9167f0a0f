"""Generate questions for an answer in a context with a trained AQG model (seq2seq or causal LM).

    python generate.py --answer 甲府市 --context 山梨県の県庁所在地は甲府市です。
    python generate.py --answer 甲府市 --context 山梨県の県庁所在地は甲府市です。 --bad_words 山梨 山梨県
    python generate.py --input_file items.jsonl --num_beams 8 --num_beam_groups 4 --diversity_penalty 1.0 \
        --num_return_sequences 4 --json

The input is built the way the model was trained (its run_config.json: answer/context template, or the
context with the answer highlighted; a chat model's instruction, through its chat template with its system turn);
--highlight forces the highlighted form. --few_shot K --few_shot_file train.tsv prompts a causal LM with K
training examples first.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Optional

from ..core.errors import UserError
from ..core.io import read_jsonl
from ..evaluation.roundtrip import roundtrip_filter
from ..generation.decoding import generate, load_model, read_run_config
from ..generation.fitting import model_templates
from ..generation.inputs import question_input
from ..generation.outputs import GenerationStats
from .args import arg, parse_args
from .generation_args import GenerationArgs, check_few_shot, generation_kwargs, model_prompt


@dataclass
class Args(GenerationArgs):
    """Generate questions for an answer in a context with a trained AQG model."""
    model_name_or_path: str = arg("model_jsquad_aqg", help="trained AQG model dir, LoRA adapter dir, or hub name")
    answer: Optional[str] = arg(None, help="the answer the question should ask for")
    context: Optional[str] = arg(None, help="the passage holding the answer")
    input_file: Optional[str] = arg(None, help="JSONL of {\"answer\", \"context\"[, \"id\"]} instead of "
                                    "--answer/--context")
    highlight: bool = arg(False, help="feed the context with the answer wrapped in <hl> (AQG-HL input)")
    roundtrip_qa: Optional[str] = arg(None, help="QA model dir: keep only questions it answers with the answer")
    json: bool = arg(False, help="print one JSON object per input instead of plain questions")


def read_items(path: str) -> list[dict]:
    items = []
    for lineno, item in read_jsonl(path, 'write one {"answer": ..., "context": ...} per line'):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("answer", "context")):
            raise UserError(f'{path}:{lineno}: needs string fields "answer" and "context"')
        items.append({"id": str(item.get("id", lineno)), "answer": item["answer"], "context": item["context"],
                      "where": f"{path}:{lineno}"})
    if not items:
        raise UserError(f"{path}: no items; write one JSON object per line")
    return items


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    check_few_shot(args)
    if args.input_file and (args.answer is not None or args.context is not None):
        raise UserError("pass either --input_file or --answer with --context, not both")
    if args.input_file:
        items = read_items(args.input_file)
    elif args.answer is None or args.context is None:
        raise UserError("pass --answer and --context (or --input_file with JSONL items)")
    else:
        items = [{"id": "1", "answer": args.answer, "context": args.context, "where": "command line"}]

    run_config = read_run_config(args.model_name_or_path)
    inputs = []
    for item in items:
        try:
            inputs.append(question_input(item["answer"], item["context"], run_config.get("data"), args.highlight))
        except ValueError as e:
            raise UserError(f"{item['where']}: {e}") from None
    model, tokenizer = load_model(args.model_name_or_path, device=args.device, precision=args.precision,
                                  threads=args.threads, **args.backend_kwargs())
    prompt = model_prompt(args, model, tokenizer, run_config, [it["id"] for it in items], inputs)
    stats = GenerationStats()
    questions = generate(model, tokenizer, inputs, **generation_kwargs(args, run_config, progress=len(inputs) > 16),
                         templates=model_templates(run_config.get("data")), stats=stats, prompt=prompt)

    dropped = [[] for _ in items]
    if args.roundtrip_qa:
        pairs = [(it["answer"], it["context"]) for it in items]
        questions, dropped = roundtrip_filter(args.roundtrip_qa, pairs, questions, batch_size=args.batch_size,
                                              device=args.device, precision=args.precision,
                                              **args.backend_kwargs())
        n_dropped = sum(map(len, dropped))
        print(f"roundtrip QA: kept {sum(map(len, questions))} question(s), dropped {n_dropped} that "
              f"{args.roundtrip_qa} did not answer with the given answer", file=sys.stderr)

    for item, text, qs, gone in zip(items, inputs, questions, dropped):
        if args.json:
            record = {"id": item["id"], "answer": item["answer"], "context": item["context"], "input": text,
                      "questions": qs}
            if args.roundtrip_qa:
                record["dropped"] = gone
            record["generation"] = stats.as_dict()  # inputs_cut, unk_in_outputs, ... over the whole run
            print(json.dumps(record, ensure_ascii=False))
        else:
            for q in qs:
                print(f"{item['id']}\t{q}" if args.input_file else q)
    return 0

