"""JSQuAD -> question-answering TSVs: ``question: {question} context: {context}`` -> answer.

    python prepare_jsquad.py [--jsquad_dir jsquad] [--output_dir data]

train -> train.tsv/dev.tsv (split by article), official valid -> test.tsv (+ test_references.json with every
annotated answer), prepare_report.json with counts.
"""

from dataclasses import dataclass
from typing import Optional

from jaqg.cli.args import arg, parse_args
from jaqg.cli.args import run_cli
from jaqg.data.jsquad import JsquadArgs, load_splits
from jaqg.data.prepare import check_args, prepare


@dataclass
class Args(JsquadArgs):
    """Prepare JSQuAD for question answering (question + context -> answer)."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data)")


def main(argv=None):
    args = parse_args(Args, argv)
    template = check_args(args, "qa")
    splits, skipped, sources = load_splits(args)
    prepare("qa", splits, args, template=template, output_dir=args.output_dir or "data",
            sources=sources, load_skipped=skipped)


if __name__ == "__main__":
    run_cli(main)
