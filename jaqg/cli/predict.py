"""Generate a prediction for every input of a TSV (or plain text) file with a trained model.

    python predict.py --model_name_or_path model --input_file data/test.tsv --output_file predictions.tsv
    python predict.py --model_name_or_path model_jsquad_aqg --input_file data_jsquad_aqg/test.tsv \
        --num_beams 4 --num_return_sequences 4 --output_file nbest.jsonl

Input: a data TSV (``id<TAB>input[<TAB>target]``), a run_clm.py data file (``prompt<sep>question</s>`` lines: the
prompt is the input, the question the target), chat JSONL (``{"id", "messages"}``: every message but the last is
the prompt, through the model's chat template; the last, the assistant's, is the target) or plain text, one input
per line (ids are line numbers). A causal LM trained on chat data is prompted through its chat template, and
returns the assistant's content only; ``--few_shot K --few_shot_file train.tsv`` puts K training examples first
(the few-shot baseline, llm-jp-eval style).
Output: ``id<TAB>prediction[<TAB>target]``; with --num_return_sequences N, N rows per id, best first, or one
JSON object per input when --output_file ends in .jsonl. Written atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from ..core.io import atomic_write, write_rows
from ..generation.decoding import EMPTY_PREDICTION, clean_prediction, generate, load_model, read_run_config
from ..generation.fitting import model_templates
from ..generation.outputs import GenerationStats
from .args import arg, parse_args
from .generation_args import GenerationArgs, check_few_shot, generation_kwargs, model_prompt, read_inputs

log = logging.getLogger("predict")


@dataclass
class Args(GenerationArgs):
    """Generate a prediction for every input of a TSV or plain text file."""
    model_name_or_path: str = arg("model", help="trained model dir, LoRA adapter dir, or hub name")
    input_file: str = arg("data/test.tsv", help="TSV id, input[, target] or plain text, one input per line")
    output_file: str = arg("predictions.tsv", help="predictions TSV (or .jsonl for n-best records)")
    progress: bool = arg(True, help="show a progress bar on stderr")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(name)s: %(message)s")  # the model loader's warnings, one line each
    args = parse_args(Args, argv)
    check_few_shot(args)
    rows, heads = read_inputs(args.input_file)
    run_config = read_run_config(args.model_name_or_path)
    model, tokenizer = load_model(args.model_name_or_path, device=args.device, precision=args.precision,
                                  threads=args.threads, **args.backend_kwargs())
    data_info = run_config.get("data") or {}
    inputs = [r[1] for r in rows]
    prompt = model_prompt(args, model, tokenizer, run_config, [r[0] for r in rows], inputs, heads)
    stats = GenerationStats()
    outputs = generate(model, tokenizer, inputs, **generation_kwargs(args, run_config, args.progress),
                       templates=model_templates(data_info), extractive=data_info.get("task") == "qa", stats=stats,
                       prompt=prompt)
    # an extractive output the source did not determine (an unknown token) is dropped: written as <empty>
    outputs = [[clean_prediction(o) for o in outs] or [EMPTY_PREDICTION] for outs in outputs]
    empty = sum(o == EMPTY_PREDICTION for outs in outputs for o in outs)
    if empty:
        log.warning("%d generation(s) were empty; written as %s", empty, EMPTY_PREDICTION)
    if args.output_file.endswith(".jsonl"):
        with atomic_write(args.output_file) as f:
            for row, outs in zip(rows, outputs):
                record = {"id": row[0], "input": row[1], "predictions": outs}
                if len(row) > 2:
                    record["target"] = row[2]
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        write_rows(args.output_file, ([row[0], o, *row[2:3]] for row, outs in zip(rows, outputs) for o in outs))
    n = sum(map(len, outputs))
    counts = ", ".join(f"{k} {v}" for k, v in stats.as_dict().items() if k != "inputs")
    how = ("chat template" if prompt and prompt.chat else "plain prompt") + (
        f", {args.few_shot}-shot: {stats.few_shot_examples} shots used, {stats.few_shot_prompts_cut} prompt(s) cut "
        "to fit" if args.few_shot else "")
    print(f"predict: wrote {n} prediction(s) for {len(rows)} input(s) to {args.output_file} ({how}; {counts})")
    return 0
