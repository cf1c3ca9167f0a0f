"""Generate a prediction for every input of a TSV (or plain text) file with a trained model.

    python predict.py --model_name_or_path model --input_file data/test.tsv --output_file predictions.tsv
    python predict.py --model_name_or_path model_jsquad_aqg --input_file data_jsquad_aqg/test.tsv \
        --num_beams 4 --num_return_sequences 4 --output_file nbest.jsonl

Input: a data TSV (``id<TAB>input[<TAB>target]``), a run_clm.py data file (``prompt<sep>question</s>`` lines: the
prompt is the input, the question the target) or plain text, one input per line (ids are line numbers).
Output: ``id<TAB>prediction[<TAB>target]``; with --num_return_sequences N, N rows per id, best first, or one
JSON object per input when --output_file ends in .jsonl. Written atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from ..core.errors import UserError
from ..core.io import atomic_write, read_lines, read_rows, write_rows
from ..data.clm_data import read_gpt_examples
from ..data.formats import GPT_END, GPT_SEP
from ..generation.decoding import EMPTY_PREDICTION, clean_prediction, generate, load_model, read_run_config
from ..generation.fitting import model_templates
from ..generation.outputs import GenerationStats
from .args import arg, parse_args
from .generation_args import GenerationArgs, generation_kwargs

log = logging.getLogger("predict")


@dataclass
class Args(GenerationArgs):
    """Generate a prediction for every input of a TSV or plain text file."""
    model_name_or_path: str = arg("model", help="trained model dir, LoRA adapter dir, or hub name")
    input_file: str = arg("data/test.tsv", help="TSV id, input[, target] or plain text, one input per line")
    output_file: str = arg("predictions.tsv", help="predictions TSV (or .jsonl for n-best records)")
    progress: bool = arg(True, help="show a progress bar on stderr")


def read_inputs(path: str) -> list[list[str]]:
    """[id, input, target?] rows: a TSV when the first line has a tab; a run_clm.py data file
    (``prompt<sep>question</s>`` lines, e.g. ``data_jsquad_aqg_hl_gpt/test.txt``) when it has ``<sep>``: the prompt
    is the input (generation adds the separator) and the question the target, ids ``line<N>`` as run_clm.py
    --do_eval writes them; else plain lines numbered from 1."""
    lines = list(read_lines(path))
    if not lines:
        raise UserError(f"{path}: empty input file; write one input per line")
    if "\t" not in lines[0][1] and GPT_SEP in lines[0][1]:
        for lineno, line in lines:
            if line.strip() and GPT_SEP not in line:
                raise UserError(f"{path}:{lineno}: no {GPT_SEP} here, but line 1 has one (a run_clm.py data file: "
                                f"prompt{GPT_SEP}question{GPT_END}); fix or remove this line")
        examples, _ = read_gpt_examples(path)
        return [[e.id, e.prompt, e.target] for e in examples]
    if "\t" in lines[0][1]:
        rows = read_rows(path, 2, None, what="id, input[, target]")
        seen: set[str] = set()
        for lineno, row in enumerate(rows, 1):
            if row[0] in seen:
                raise UserError(f"{path}:{lineno}: duplicate id {row[0]!r}; ids must be unique")
            seen.add(row[0])
        return [row[:3] for row in rows]
    for lineno, line in lines:
        if not line.strip():
            raise UserError(f"{path}:{lineno}: empty line; remove it (plain text holds one input per line)")
    return [[str(lineno), line.strip()] for lineno, line in lines]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(name)s: %(message)s")  # the model loader's warnings, one line each
    args = parse_args(Args, argv)
    rows = read_inputs(args.input_file)
    run_config = read_run_config(args.model_name_or_path)
    model, tokenizer = load_model(args.model_name_or_path, device=args.device, precision=args.precision,
                                  threads=args.threads, **args.backend_kwargs())
    data_info = run_config.get("data") or {}
    stats = GenerationStats()
    outputs = generate(model, tokenizer, [r[1] for r in rows], **generation_kwargs(args, run_config, args.progress),
                       templates=model_templates(data_info), extractive=data_info.get("task") == "qa", stats=stats)
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
    print(f"predict: wrote {n} prediction(s) for {len(rows)} input(s) to {args.output_file} ({counts})")
    return 0
