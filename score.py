"""Score a predictions file: exact match, char F1, and BLEU / ROUGE under several Japanese tokenizers.

    python score.py --predictions model/predictions.tsv --references data/test.tsv --output metrics.json
    python score.py --predictions P.tsv --references data/test.tsv --references_json data/test_references.json \\
        --tokenizers mecab sudachi_C t5 --tokenizer_name_or_path model --per_example_output scores.tsv
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from jaqg.cli import arg, parse_args
from jaqg.errors import UserError, run_cli
from jaqg.io import write_json, write_rows
from jaqg.metrics import check_same_ids, format_table, read_prediction_map, read_reference_map, score_examples
from jaqg.word_tokenizers import TOKENIZERS, check_names


@dataclass
class ScoreArgs:
    """Score predictions against references (metrics.json + a Markdown table + per-example scores)."""
    predictions: str = arg(help="predictions TSV: id<TAB>prediction (an n-best TSV: each id's first row)")
    references: Optional[str] = arg(None, help="data TSV (id, input, target) whose target is the reference")
    references_json: Optional[str] = arg(None, help="several references per id: JSQuAD JSON or {id: [answers]}")
    tokenizers: Optional[list[str]] = arg(None, help=f"tokenizers for BLEU/ROUGE, any of {' '.join(TOKENIZERS)} "
                                                     "(default: mecab sudachi_C char, plus t5 with "
                                                     "--tokenizer_name_or_path)")
    tokenizer_name_or_path: Optional[str] = arg(None, help="HF tokenizer (model dir or hub name) for 't5'")
    output: str = arg("metrics.json", help="where to write the metrics JSON")
    per_example_output: Optional[str] = arg(None, help="TSV of sentence-level scores per example (with a header)")
    allow_partial: bool = arg(False, help="score only the predicted ids, skipping references without a prediction "
                                          "(e.g. after train.py --max_eval_samples)")


def main():
    args = parse_args(ScoreArgs)
    if not args.predictions:
        raise UserError("--predictions is required (a TSV of id<TAB>prediction)")
    tokenizers = args.tokenizers or ["mecab", "sudachi_C", "char"] + (["t5"] if args.tokenizer_name_or_path else [])
    check_names(tokenizers)
    predictions = read_prediction_map(args.predictions)
    references = read_reference_map(args.references, args.references_json)
    check_same_ids(predictions, references, args.predictions, args.references or args.references_json,
                   subset=args.allow_partial)
    if len(predictions) < len(references):
        print(f"scoring the {len(predictions)} predicted of {len(references)} references (--allow_partial)")
    ids = list(predictions)
    metrics, per_example = score_examples([predictions[i] for i in ids], [references[i] for i in ids],
                                          tokenizers, args.tokenizer_name_or_path)
    if args.per_example_output:
        columns = list(per_example[0])
        write_rows(args.per_example_output, [["id", *columns, "prediction", "references"]] + [
            [i, *(f"{e[c]:.2f}" for c in columns), predictions[i], " ||| ".join(references[i])]
            for i, e in zip(ids, per_example)])
    write_json(args.output, metrics)
    print(format_table(metrics))
    print(f"\nwrote {args.output}" + (f" and {args.per_example_output}" if args.per_example_output else ""))


if __name__ == "__main__":
    run_cli(main)
