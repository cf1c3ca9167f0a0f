"""The prepare commands: JSQuAD -> QA data, JSQuAD -> AQG / AQG-HL / AE / multitask data, quiz data -> the same.

    jaqg prepare-jsquad [--jsquad_dir jsquad] [--output_dir data] [--format chat]            # prepare_jsquad.py
    jaqg prepare-jsquad-aqg [--highlight] [--format gpt|chat] [--task ae|multi|e2e]          # prepare_jsquad_aqg.py
    jaqg prepare-quiz [--highlight] [--train_file F] [--format gpt|chat] [--task ae|multi|e2e]  # prepare_quiz_aqg.py
    jaqg prepare-lmqg --lmqg_dir DIR [--highlight] [--format gpt|chat] [--task ae|multi|e2e]  # lmqg's split kept

``--format chat`` writes {split}.jsonl conversations (``--system_prompt``, ``--instruction_template``).

With ``--tokenizer_name_or_path M`` each also checks the data against M's tokenizer (<unk>, encode->decode,
exact-match ceilings), printed and kept in prepare_report.json.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

from ..data.formats import GPT_SEP, HL_TOKEN
from ..data.jsquad import JsquadArgs
from ..data.jsquad import load_splits as load_jsquad
from ..data.lmqg import LmqgArgs
from ..data.lmqg import load_splits as load_lmqg
from ..data.prepare import AqgArgs, CommonArgs, check_args, default_output_dir, prepare, prepare_aqg
from ..data.quiz import QuizArgs
from ..data.quiz import load_splits as load_quiz
from ..evaluation.coverage import coverage_report, format_coverage
from ..tokenization.hub import load_tokenizer, register_tokens
from .args import arg, parse_args


@dataclass
class JsquadQaArgs(JsquadArgs):
    """Prepare JSQuAD for question answering (question + context -> answer)."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data; data_chat with "
                                               "--format chat)")
    format: str = arg("tsv", choices=["tsv", "chat"], help="tsv, or chat: {split}.jsonl lines {id, messages: "
                                                           "[system, user, assistant]}")


@dataclass
class JsquadAqgArgs(AqgArgs, JsquadArgs):
    """Prepare JSQuAD for answer-aware question generation (answer + context -> question)."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data_jsquad_aqg; _hl added "
                                               "with --highlight, _ae/_multi/_e2e with --task, _gpt/_chat with "
                                               "--format)")


@dataclass
class QuizAqgArgs(AqgArgs, QuizArgs):
    """Prepare quiz data for answer-aware question generation (answer + context -> question)."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data_quiz_aqg; _hl added "
                                               "with --highlight, _ae/_multi/_e2e with --task, _gpt/_chat with "
                                               "--format)")


@dataclass
class LmqgAqgArgs(AqgArgs, LmqgArgs):
    """Prepare lmqg's processed QG data (train / validation / test kept as lmqg split them) for question generation."""
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default: data_lmqg_aqg; _hl added "
                                               "with --highlight, _ae/_multi/_e2e with --task, _gpt/_chat with "
                                               "--format)")
    hl_strategy: str = arg("annotated", choices=["related", "annotated"],
                           help="annotated (default here): the occurrence lmqg's paragraph_answer highlights; "
                                "related: the question-related occurrence")


def coverage_hook(args: CommonArgs, causal: bool):
    """prepare()'s extra_report: the tokenizer coverage of the built examples, when a tokenizer is named."""
    if not args.tokenizer_name_or_path:
        return None
    tokenizer = load_tokenizer(args.tokenizer_name_or_path, causal=causal)
    register_tokens(tokenizer, (HL_TOKEN, GPT_SEP))  # <hl>, <sep> as training adds them (models.tiny)

    def report(examples_by_split) -> dict:
        coverage = coverage_report(tokenizer, examples_by_split)
        print(format_coverage(coverage), file=sys.stderr)
        return {"tokenizer_coverage": coverage}
    return report


def prepare_jsquad(argv=None) -> int:
    args = parse_args(JsquadQaArgs, argv)
    template = check_args(args, "qa", args.format)
    splits, skipped, sources = load_jsquad(args)
    prepare("qa", splits, args, template=template, fmt=args.format,
            output_dir=args.output_dir or default_output_dir("data", "qa", args.format), sources=sources,
            load_skipped=skipped, extra_report=coverage_hook(args, causal=args.format == "chat"))
    return 0


def prepare_jsquad_aqg(argv=None) -> int:
    args = parse_args(JsquadAqgArgs, argv)
    prepare_aqg(args, load_jsquad, "data_jsquad_aqg", extra_report=coverage_hook(args, args.format != "tsv"))
    return 0


def prepare_quiz(argv=None) -> int:
    args = parse_args(QuizAqgArgs, argv)
    prepare_aqg(args, load_quiz, "data_quiz_aqg", extra_report=coverage_hook(args, args.format != "tsv"))
    return 0


def prepare_lmqg(argv=None) -> int:
    args = parse_args(LmqgAqgArgs, argv)
    prepare_aqg(args, load_lmqg, "data_lmqg_aqg", extra_report=coverage_hook(args, args.format != "tsv"))
    return 0
