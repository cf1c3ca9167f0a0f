"""Hallucination report: words of each prediction that its source (the model input) does not contain.

    python hallucination.py --predictions model/predictions.tsv --sources data/test.tsv --output report.json
    python hallucination.py ... --tokenizer mecab --all_words --stop_words stop.txt
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import UserError
from ..core.io import atomic_write, prediction_field, read_examples, read_json, write_json
from ..evaluation.hallucination import ANALYZERS, find_hallucinations, source_text, summarize, template_markers
from ..evaluation.metrics import check_same_ids, read_prediction_map
from .args import arg, parse_args


@dataclass
class HallucinationArgs:
    """Report the words of each prediction that its source does not contain."""
    predictions: str = arg(help="predictions TSV: id<TAB>prediction")
    sources: str = arg(help="data TSV (id, input, target); the input, template markers removed, is the source")
    output: str = arg("hallucination_report.json", help="report JSON")
    per_example_output: Optional[str] = arg(None, help="TSV of the words found per example "
                                                       "(default: the report path with .tsv)")
    tokenizer: str = arg("ginza", help=f"word analyser, one of {' '.join(ANALYZERS)}")
    all_words: bool = arg(False, help="check every word, not only content words (nouns, verbs, adjectives, "
                                      "adverbs, numerals)")
    stop_words: Optional[str] = arg(None, help="file of words never counted (one a line)")
    top_k: int = arg(20, help="how many of the most frequent hallucinated words to report")


def read_stop_words(path: str) -> list[str]:
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file; --stop_words takes a text file with one word a line")
    try:
        return [w.strip() for w in Path(path).read_text(encoding="utf-8").splitlines() if w.strip()]
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; re-save it as UTF-8") from None


def markers_for(sources_path: str) -> list[str]:
    """Template markers of the data dir (its prepare_report.json) or, without one, of every default template."""
    report_path = Path(sources_path).with_name("prepare_report.json")
    report = read_json(report_path) if report_path.is_file() else {}
    return template_markers(report.get("template"), report.get("sep") or "[SEP]")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(HallucinationArgs, argv)
    if not args.predictions or not args.sources:
        raise UserError("--predictions P.tsv and --sources S.tsv (the data TSV the predictions were made from) "
                        "are both required")
    if args.tokenizer not in ANALYZERS:
        raise UserError(f"unknown tokenizer {args.tokenizer!r}; choose from {', '.join(ANALYZERS)}")
    stop_words = read_stop_words(args.stop_words) if args.stop_words else []
    predictions = read_prediction_map(args.predictions)
    examples = {e.id: e for e in read_examples(args.sources)}
    check_same_ids(predictions, examples, args.predictions, args.sources, subset=True)  # sources: a lookup table
    markers = markers_for(args.sources)
    ids = list(predictions)
    # An empty generation (<empty>, read back as "") holds no words, so none of them is made up.
    found = find_hallucinations([predictions[i] for i in ids],
                                [source_text(examples[i].input, markers) for i in ids],
                                stop_words, args.tokenizer, args.all_words)
    report = {**summarize(found, args.top_k), "tokenizer": args.tokenizer, "all_words": args.all_words,
              "stop_words": len(stop_words)}
    per_example = args.per_example_output or str(Path(args.output).with_suffix(".tsv"))
    with atomic_write(per_example) as f:
        f.write("id\tn_hallucinated\twords\tprediction\n")
        for i, words in zip(ids, found):
            f.write(f"{i}\t{len(words)}\t{' '.join(words)}\t{prediction_field(predictions[i])}\n")
    write_json(args.output, report)
    top = ", ".join(f"{w} ({c})" for w, c in report["top_words"][:10]) or "-"
    print("| n | hallucination rate | mean hallucinated words | top words |\n|---:|---:|---:|---|\n"
          f"| {report['n']} | {report['hallucination_rate']:.3f} | {report['mean_hallucinated_words']:.2f} | {top} |")
    print(f"\nwrote {args.output} and {per_example}")

