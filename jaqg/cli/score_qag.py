"""Score generated question-answer pairs (generate_qa.py output) against a JSQuAD file, per paragraph.

    python score_qag.py --predictions qa.jsonl --references_json jsquad/valid-v1.3.json --output qag_metrics.json

QA-aligned precision / recall / F1 as lmqg defines them, with char F1 of question + answer as the similarity
(or BERTScore with a local encoder dir: --bertscore_model DIR), and answer recall; see jaqg/qag_metrics.py. Generated
pairs belong to the paragraph their ``id`` names
(generate_qa.py --input_file on the JSQuAD .json writes paragraph ids such as ``a10336p0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..core.errors import UserError
from ..core.io import read_jsonl, write_json
from ..data.jsquad import load_paragraphs
from ..evaluation.qag_metrics import bertscore_table, pair_char_f1, paragraph_pairs, score_paragraphs
from .args import arg, parse_args

FIELDS = ("id", "question", "answer", "kept")


@dataclass
class Args:
    """QA-aligned P/R/F1 and answer recall of generated pairs against a JSQuAD file's questions."""
    predictions: str = arg(help="generate_qa.py output: JSON lines with id, question, answer, kept")
    references_json: str = arg(help="JSQuAD (SQuAD v1.1) JSON holding the gold questions per paragraph")
    output: str = arg("qag_metrics.json", help="where to write the metrics JSON")
    include_dropped: bool = arg(False, help="score every candidate with a question, not only the kept pairs")
    bertscore_model: Optional[str] = arg(None, help="similarity = BERTScore precision with this local "
                                                    "encoder dir (lmqg's choice) instead of char F1")
    bertscore_layers: Optional[int] = arg(None, help="the encoder layer BERTScore compares (default: the last)")
    allow_partial: bool = arg(False, help="score only the paragraphs the predictions name (else every paragraph "
                                          "of the references counts, a missing one as 0)")


def read_pairs(path: str, include_dropped: bool) -> dict[str, list[tuple[str, str]]]:
    pairs: dict[str, list[tuple[str, str]]] = {}
    n = 0
    for lineno, record in read_jsonl(path, "pass generate_qa.py's output"):
        if not isinstance(record, dict) or any(k not in record for k in FIELDS):
            raise UserError(f"{path}:{lineno}: needs the fields {', '.join(FIELDS)}; pass generate_qa.py's output")
        n += 1
        pairs.setdefault(str(record["id"]), [])
        if (record["kept"] or include_dropped) and record["question"]:
            pairs[str(record["id"])].append((record["question"], record["answer"]))
    if not n:
        raise UserError(f"{path}: no records; run generate_qa.py first")
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    generated = read_pairs(args.predictions, args.include_dropped)
    gold = {p.id: p.qas for p in load_paragraphs(args.references_json)}
    unknown = sorted(set(generated) - set(gold))
    if unknown:
        raise UserError(f"{args.predictions}: {len(unknown)} id(s) name no paragraph of {args.references_json} "
                        f"(first: {unknown[0]!r}); run generate_qa.py --input_file on that JSQuAD file")
    if args.allow_partial:
        gold = {pid: qas for pid, qas in gold.items() if pid in generated}
    similarity = pair_char_f1
    if args.bertscore_model:
        table = bertscore_table(args.bertscore_model, paragraph_pairs(generated, gold), args.bertscore_layers)
        similarity = lambda h, r: table[(h, r)]  # noqa: E731
    corpus, per = score_paragraphs(generated, gold, similarity)
    corpus["pairs"] = "kept and dropped" if args.include_dropped else "kept"
    corpus["similarity"] = f"bertscore:{args.bertscore_model}" if args.bertscore_model else "char_f1"
    write_json(args.output, {**corpus, "by_paragraph": per})
    print("\n".join(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}" for k, v in corpus.items()))
    print(f"wrote {args.output}")
    return 0

