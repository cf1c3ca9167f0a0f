"""``jaqg``: one command with a subcommand per job. Each subcommand takes the flags of its top-level script
(``jaqg train ...`` = ``python train.py ...``) and ``--config FILE``.

    jaqg --help                 the subcommands
    jaqg train --help           one subcommand's flags
"""

from __future__ import annotations

import importlib
import sys

from .. import __version__
from .args import run_cli

# name -> (module in jaqg.cli, its entry function, what it does). Modules load on use: `jaqg --help` stays fast
# and a subcommand pays only for the libraries it needs (torch, transformers, spaCy...).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "make-synthetic-jsquad": ("synthetic", "main", "write a synthetic JSQuAD (train/valid JSON) for offline runs"),
    "prepare-jsquad": ("prepare", "prepare_jsquad", "JSQuAD -> question answering TSVs (prepare_jsquad.py)"),
    "prepare-jsquad-aqg": ("prepare", "prepare_jsquad_aqg", "JSQuAD -> question generation (AQG, AQG-HL, AE, "
                                                            "multitask; TSV or GPT text) (prepare_jsquad_aqg.py)"),
    "prepare-quiz": ("prepare", "prepare_quiz", "quiz data (AI王 / JAQKET) -> question generation data "
                                                "(prepare_quiz_aqg.py)"),
    "prepare-lmqg": ("prepare", "prepare_lmqg", "lmqg's processed QG JSONL (e.g. lmqg/qg_jaquad) -> question "
                                                "generation data on lmqg's own split"),
    "make-tiny-model": ("make_tiny_model", "main", "a tiny random model + tokenizer, or a stand-in of a hub model "
                                                   "(make_tiny_model.py)"),
    "train": ("train", "main", "fine-tune a seq2seq model (T5, mT5, BART) and evaluate it (train.py)"),
    "train-clm": ("train_clm", "main", "fine-tune a causal LM (GPT-2, GPT-NeoX, Llama...), full or LoRA "
                                       "(run_clm.py)"),
    "train-grpo": ("train_grpo", "main", "reinforce a chat causal LM question generator with GRPO (TRL), LoRA and "
                                         "QA-feedback rewards"),
    "predict": ("predict", "main", "batched prediction for a TSV or text file (predict.py)"),
    "generate": ("generate", "main", "questions for an answer in a context (generate.py)"),
    "generate-qa": ("generate_qa", "main", "question-answer pairs from raw text, with round-trip and "
                                           "hallucination filters (generate_qa.py)"),
    "score": ("score", "main", "EM, char F1, JGLUE, BLEU/ROUGE, paired bootstrap, QA-based scores (score.py)"),
    "score-qag": ("score_qag", "main", "QA-aligned P/R/F1 of generated question-answer pairs (score_qag.py)"),
    "hallucination": ("hallucination", "main", "GiNZA hallucination check of generated questions "
                                               "(hallucination.py)"),
    "serve": ("serve", "main", "quiz generation over HTTP: REST API and web page on 127.0.0.1 (serve.py)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: jaqg COMMAND [--config FILE] [FLAGS...]   (jaqg {__version__})", "",
             "Fine-tune Japanese language models for question answering and question generation.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, _, what) in COMMANDS.items()]
    lines += ["", "jaqg COMMAND --help lists a command's flags; every command also reads them from --config FILE "
                  "(JSON or YAML)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if argv else 2)
    if argv[0] == "--version":
        print(f"jaqg {__version__}")
        sys.exit(0)
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"jaqg: error: unknown command {name!r}; one of: {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    module, function, _ = COMMANDS[name]
    entry = getattr(importlib.import_module(f"{__package__}.{module}"), function)
    sys.argv[0] = f"jaqg {name}"  # argparse names the program after it in usage lines
    run_cli(lambda: entry(rest), prog=f"jaqg {name}")
