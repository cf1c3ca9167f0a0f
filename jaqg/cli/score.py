"""Score a predictions file: exact match, char F1, JGLUE's official JSQuAD EM/F1, and BLEU / ROUGE under several
Japanese tokenizers, broken down by question type and length; compare two systems; score generated questions with
a QA model.

    python score.py --predictions model/predictions.tsv --references data/test.tsv --output metrics.json
    python score.py --predictions P.tsv --references data/test.tsv --references_json data/test_references.json \\
        --tokenizers mecab sudachi_C t5 --tokenizer_name_or_path model --per_example_output scores.tsv
    python score.py --predictions A.tsv --compare B.tsv --references data/test.tsv --report_dir report/
    python score.py --predictions model_jsquad_aqg_hl/predictions.tsv --references data_jsquad_aqg_hl/test.tsv \\
        --qa_model model
    python score.py --predictions model_lmqg/predictions.tsv --lmqg_file qg_jaquad/test.jsonl \\
        [--lmqg_bertscore_model DIR] [--lmqg_moverscore_model DIR]     # lmqg's own scores (evaluation.md)
    python score.py --predictions A.tsv --compare B.tsv --references data_jsquad_aqg_hl/test.tsv --qa_model model

With --compare and --qa_model, ``comparison`` also holds the generated questions' round trip (``qa_exact_match``,
``qa_char_f1``: the QA model's answer against the intended one) and ``hallucinated`` (the share of questions, in
percent, with a content word the context lacks; MeCab, as the scst reward), each with its paired bootstrap.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import UserError
from ..core.io import prediction_field, read_examples, write_json, write_rows
from ..evaluation.breakdowns import data_fields
from ..evaluation.compare_report import Examples, write_report
from ..evaluation.hallucination import find_hallucinations
from ..evaluation.lmqg_embedding import BERTSCORE_LAYERS
from ..evaluation.lmqg_metrics import LEVELS, score_lmqg_file
from ..evaluation.metrics import (
    check_same_ids,
    format_report,
    is_jsquad_file,
    read_prediction_map,
    read_raw_reference_map,
    read_reference_map,
    score_data,
)
from ..evaluation.roundtrip import load_qa_model, qa_based_scores
from ..evaluation.significance import (
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    FEW_EXAMPLES,
    PairedMetric,
    compare,
    compare_systems,
    format_comparison,
    metric_names,
    setup_line,
)
from ..generation.outputs import GenerationStats
from ..tokenization.word import TOKENIZERS, check_names
from .args import arg, parse_args
from .generation_args import BackendArgs


@dataclass
class ScoreArgs(BackendArgs):
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
    compare: Optional[str] = arg(None, help="a second predictions TSV (system B, same ids): paired bootstrap of "
                                            "A (--predictions) against B into metrics.json['comparison']")
    compare_metrics: Optional[list[str]] = arg(None, help="metrics to compare (default: all; names as in "
                                                          "metrics.json['comparison'], e.g. jglue_f1 mecab_bleu)")
    bootstrap_samples: int = arg(DEFAULT_SAMPLES, help="paired bootstrap resamples")
    bootstrap_seed: int = arg(DEFAULT_SEED, help="paired bootstrap seed (sacrebleu's default)")
    report_dir: Optional[str] = arg(None, help="with --compare: write compare-mt's HTML report here (index.html)")
    qa_model: Optional[str] = arg(None, help="QA model dir: answer each generated question (AQG predictions; "
                                             "--references is their data TSV) and score against the intended answer")
    qa_output: Optional[str] = arg(None, help="per-example QA-based rows (default: beside --output, "
                                              "<name>_per_question.tsv)")
    batch_size: int = arg(32, help="QA model batch size")
    device: str = arg("auto", help="QA model device: auto | cpu | cuda | cuda:N")
    lmqg_file: Optional[str] = arg(None, help="lmqg's processed JSONL of the predicted split (e.g. qg_jaquad "
                                              "test.jsonl): add lmqg's BLEU-4 / ROUGE-L / METEOR as lmqg computes "
                                              "them (metrics.json['lmqg']); ids as jaqg prepare-lmqg writes them")
    lmqg_level: str = arg("sentence", choices=list(LEVELS), help="lmqg's prediction_level: sentence (questions of "
                                                                 "one sentence form one multi-reference segment, "
                                                                 "its first prediction scored; lmqg's model cards) "
                                                                 "or answer (one segment per question)")
    lmqg_bertscore_model: Optional[str] = arg(None, help="with --lmqg_file: local encoder dir for lmqg's BERTScore "
                                                         "(precision; lmqg used bert-base-multilingual-cased)")
    lmqg_bertscore_layers: int = arg(BERTSCORE_LAYERS, help="the encoder layer lmqg's BERTScore compares (9 for "
                                                            "bert-base-multilingual-cased)")
    lmqg_meteor: bool = arg(True, help="with --lmqg_file: METEOR through lmqg's METEOR 1.5 jar (needs Java and "
                                       "pycocoevalcap; the jar takes ~40 s to start); --no_lmqg_meteor skips it")
    lmqg_moverscore_model: Optional[str] = arg(None, help="with --lmqg_file: local encoder dir for lmqg's "
                                                          "MoverScore (lmqg used bert-base-multilingual-cased)")


def check_args(args: ScoreArgs, tokenizers: list[str]) -> None:
    """Every flag problem, before any file is read."""
    if not args.predictions:
        raise UserError("--predictions is required (a TSV of id<TAB>prediction)")
    check_names(tokenizers)
    known = metric_names(tokenizers)
    for name in args.compare_metrics or []:
        if name not in known:
            raise UserError(f"--compare_metrics: unknown metric {name!r}; choose from {', '.join(known)}")
    if (args.compare_metrics or args.report_dir) and not args.compare:
        raise UserError("--compare_metrics and --report_dir need --compare B.tsv (a second system to compare)")
    if args.bootstrap_samples < 1:
        raise UserError(f"--bootstrap_samples {args.bootstrap_samples}: must be at least 1")
    for flag, path in (("--report_dir", args.report_dir), ("--output", args.output)):
        if path and Path(path).exists() and Path(path).is_dir() != (flag == "--report_dir"):
            raise UserError(f"{flag} {path}: exists and is a {'file' if flag == '--report_dir' else 'folder'}; "
                            "pass another path")
    if (args.lmqg_bertscore_model or args.lmqg_moverscore_model) and not args.lmqg_file:
        raise UserError("--lmqg_bertscore_model and --lmqg_moverscore_model need --lmqg_file (lmqg's JSONL)")
    if not (args.references or args.references_json or args.lmqg_file):
        raise UserError("pass --references DATA.tsv (or --references_json, or --lmqg_file LMQG.jsonl)")
    if args.qa_model and not args.references:
        raise UserError("--qa_model needs --references DATA.tsv (the AQG data whose inputs hold context and answer)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(ScoreArgs, argv)
    tokenizers = args.tokenizers or ["mecab", "sudachi_C", "char"] + (["t5"] if args.tokenizer_name_or_path else [])
    check_args(args, tokenizers)
    predictions = read_prediction_map(args.predictions)
    if not (args.references or args.references_json):  # lmqg's scores only
        return _lmqg_only(args, predictions)
    references = read_reference_map(args.references, args.references_json)
    reference_path = args.references or args.references_json
    check_same_ids(predictions, references, args.predictions, reference_path, subset=args.allow_partial)
    if len(predictions) < len(references):
        print(f"scoring the {len(predictions)} predicted of {len(references)} references (--allow_partial)")
    ids = list(predictions)
    other = None
    if args.compare:
        other = read_prediction_map(args.compare)
        check_same_ids(other, predictions, args.compare, args.predictions)
    fields = data_fields(args.references, ids) if args.references else []
    question_tasks = sorted({f.task for f in fields if f.task in ("aqg", "aqg_hl")})
    if args.references_json and question_tasks and is_jsquad_file(args.references_json):
        raise UserError(f"{args.references_json}: JSQuAD answers, but {args.references} is question-generation data "
                        f"({', '.join(question_tasks)}) whose references are questions; drop --references_json")
    qa = None
    if args.qa_model:
        if any(f.task not in ("aqg", "aqg_hl") or f.answer is None or f.context is None for f in fields):
            raise UserError(f"{args.references}: --qa_model scores generated questions, so --references must be "
                            "AQG / AQG-HL data whose inputs hold the answer and context")
        qa = load_qa_model(args.qa_model, device=args.device, **args.backend_kwargs())

    refs = [references[i] for i in ids]
    raw_map = read_raw_reference_map(ids, args.references, args.references_json)  # read once for A and B
    metrics, per_example = score_data([predictions[i] for i in ids], ids, refs, tsv_path=args.references,
                                      json_path=args.references_json, tokenizers=tokenizers,
                                      tokenizer_name_or_path=args.tokenizer_name_or_path, fields=fields or None,
                                      raw_map=raw_map)
    tables = [format_report(metrics)]
    if other is not None:
        _, per_example_b = score_data([other[i] for i in ids], ids, refs, tsv_path=args.references,
                                      json_path=args.references_json, tokenizers=tokenizers,
                                      tokenizer_name_or_path=args.tokenizer_name_or_path, fields=fields or None,
                                      raw_map=raw_map, with_breakdowns=False)
        metrics["comparison"] = compare_systems(per_example, per_example_b, [predictions[i] for i in ids],
                                                [other[i] for i in ids], refs, tokenizers,
                                                args.tokenizer_name_or_path, args.compare_metrics,
                                                args.bootstrap_samples, args.bootstrap_seed)
        metrics["comparison_setup"] = {"a": args.predictions, "b": args.compare, "n": len(ids),
                                       "samples": args.bootstrap_samples, "seed": args.bootstrap_seed,
                                       "method": "paired bootstrap (sacrebleu paired_bs)"}
        setup = setup_line(len(ids), args.bootstrap_samples, args.bootstrap_seed)
        if len(ids) < FEW_EXAMPLES:
            print(f"score.py: {setup}", file=sys.stderr)
        tables.append(f"A = {args.predictions}, B = {args.compare}; {setup}\n\n"
                      + format_comparison(metrics["comparison"]))
    qa_rows = None
    if qa is not None:
        contexts, answers = [f.context for f in fields], [f.answer for f in fields]
        stats = GenerationStats()
        metrics["qa_based"], generated = qa_based_scores(qa, [predictions[i] for i in ids], contexts, answers,
                                                         batch_size=args.batch_size, progress=True, stats=stats)
        metrics["qa_based_reference"], reference = qa_based_scores(qa, [f.question for f in fields], contexts,
                                                                   answers, batch_size=args.batch_size, progress=True,
                                                                   stats=stats)
        metrics["qa_model"] = args.qa_model
        metrics["qa_model_generation"] = stats.as_dict()  # inputs_cut, unk_in_outputs, ... of the QA model's calls
        qa_rows = [["id", "answer", "question", "qa_answer", "exact_match", "char_f1", "reference_question",
                    "reference_qa_answer", "reference_exact_match", "reference_char_f1"]] + [
            [i, f.answer, prediction_field(predictions[i]), prediction_field(g["qa_answer"]), f"{g['exact_match']:.2f}",
             f"{g['char_f1']:.2f}", f.question, prediction_field(r["qa_answer"]), f"{r['exact_match']:.2f}",
             f"{r['char_f1']:.2f}"] for i, f, g, r in zip(ids, fields, generated, reference)]
        if other is not None:
            _, generated_b = qa_based_scores(qa, [other[i] for i in ids], contexts, answers,
                                             batch_size=args.batch_size, progress=True, stats=stats)
            metrics["comparison"].update(question_comparison(
                generated, generated_b, [predictions[i] for i in ids], [other[i] for i in ids], contexts,
                args.bootstrap_samples, args.bootstrap_seed))
            tables[-1] = tables[-1].split("\n\n")[0] + "\n\n" + format_comparison(metrics["comparison"])
        q, c = metrics["qa_based"], metrics["qa_based_reference"]
        tables.append(f"QA-based ({args.qa_model} answers each question; scored against the intended answer), "
                      f"n = {q['n']}\n\n| questions | EM | char F1 |\n|---|---:|---:|\n"
                      f"| generated | {q['exact_match']:.2f} | {q['char_f1']:.2f} |\n"
                      f"| reference (ceiling) | {c['exact_match']:.2f} | {c['char_f1']:.2f} |")

    if args.lmqg_file:
        metrics["lmqg"] = _lmqg(args, predictions)
        tables.append(format_lmqg(metrics["lmqg"]))
    written = [args.output]
    if args.report_dir:
        index = write_report(args.report_dir, [refs_[0] for refs_ in refs], [predictions[i] for i in ids],
                             [other[i] for i in ids], comparison=metrics["comparison"], seed=args.bootstrap_seed,
                             title=f"jaqg: A = {args.predictions} vs B = {args.compare}",
                             examples=Examples(ids, report_inputs(args.references, ids),
                                               [e["char_f1"] for e in per_example],
                                               [e["char_f1"] for e in per_example_b]))
        written.append(str(index))
    if args.per_example_output:
        columns = list(per_example[0])
        write_rows(args.per_example_output, [["id", *columns, "prediction", "references"]] + [
            [i, *(f"{e[c]:.2f}" for c in columns), prediction_field(predictions[i]), " ||| ".join(references[i])]
            for i, e in zip(ids, per_example)])
        written.append(args.per_example_output)
    if qa_rows is not None:
        qa_output = args.qa_output or str(Path(args.output).with_suffix("")) + "_per_question.tsv"
        write_rows(qa_output, qa_rows)
        written.append(qa_output)
    write_json(args.output, metrics)
    print("\n\n".join(tables))
    print(f"\nwrote {', '.join(written)}")
    return 0



def _lmqg(args: ScoreArgs, predictions: dict[str, str]) -> dict:
    scores = score_lmqg_file(predictions, args.lmqg_file, args.lmqg_level, args.allow_partial,
                             args.lmqg_bertscore_model, args.lmqg_bertscore_layers, args.lmqg_moverscore_model,
                             with_meteor=args.lmqg_meteor)
    return {"file": args.lmqg_file, **scores}


def _lmqg_only(args: ScoreArgs, predictions: dict[str, str]) -> int:
    metrics = {"lmqg": _lmqg(args, predictions)}
    write_json(args.output, metrics)
    print(format_lmqg(metrics["lmqg"]))
    print(f"\nwrote {args.output}")
    return 0


def format_lmqg(scores: dict) -> str:
    """A Markdown table of lmqg's scores, with what was not computed and why."""
    names = [n for n in ("Bleu_4", "ROUGE_L", "METEOR", "BERTScore", "MoverScore") if n in scores]
    cells = [f"{scores[n]:.2f}" if scores[n] is not None else "not computed" for n in names]
    lines = [f"lmqg's scores ({scores['level']} level, {scores['segments']} segments of {scores['questions']} "
             f"questions, {scores['missing_predictions']} predictions missing, scored as empty as lmqg does)", "",
             "| " + " | ".join(names) + " |", "|" + "---:|" * len(names), "| " + " | ".join(cells) + " |"]
    if "METEOR_not_computed" in scores:
        lines.append(f"\nMETEOR not computed: {scores['METEOR_not_computed']}")
    if not scores.get("comparable", True):
        lines.append("\nnot comparable with lmqg's published numbers: --allow_partial left questions out")
    return "\n".join(lines)


def question_comparison(rows_a: list[dict], rows_b: list[dict], questions_a: list[str], questions_b: list[str],
                        contexts: list[str], samples: int, seed: int) -> dict[str, dict]:
    """The paired bootstrap of two systems' generated questions: the round trip (``qa_exact_match``,
    ``qa_char_f1``, 0-100, from qa_based_scores' rows) and ``hallucinated`` (percent of questions with a word the
    context lacks), on the same resamples as the other metrics (same seed, same n)."""
    found_a = find_hallucinations(questions_a, contexts, tokenizer="mecab")
    found_b = find_hallucinations(questions_b, contexts, tokenizer="mecab")
    metrics = {f"qa_{name}": PairedMetric.mean([r[name] for r in rows_a], [r[name] for r in rows_b])
               for name in ("exact_match", "char_f1")}
    metrics["hallucinated"] = PairedMetric.mean([100.0 * bool(w) for w in found_a], [100.0 * bool(w) for w in found_b])
    return compare(metrics, len(rows_a), samples, seed)


def report_inputs(references: str | None, ids: list[str]) -> list[str]:
    """Each id's model input from the data TSV, for the report's side-by-side pairs ("" without a TSV)."""
    if not references:
        return [""] * len(ids)
    inputs = {e.id: e.input for e in read_examples(references)}
    return [inputs.get(i, "") for i in ids]
