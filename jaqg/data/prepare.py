"""The one data-preparation pipeline behind prepare_jsquad.py, prepare_jsquad_aqg.py and prepare_quiz_aqg.py.

Loaders (jsquad.py, quiz.py) turn sources into normalized ``Record``s; here each record becomes an example
of a task (qa / aqg / aqg_hl; ae builds one example per paragraph sentence holding answers, see
answer_extraction.py; multi mixes qa, aqg_hl and ae, each input starting with its task prefix), train is split into
train/dev by group (article or passage, so no context
appears in two splits), and everything is written at the end, atomically, with ``prepare_report.json``:
    {"task", "template", "format", "hl_strategy", "sep", "seed", "dev_ratio", "sources",
     "counts": {split: written}, "skipped": {split: {reason: n}}, "highlight": {split: {...}},
     "by_task": {split: {task: written}}, "task_prefixes": {task: prefix} and "templates": {task: full template,
     prefix included} (multi)}
Format "tsv": ``{split}.tsv`` rows ``id\\tinput\\ttarget``; "gpt": ``{split}.txt`` lines ``{input}<sep>{target}</s>``;
"chat": ``{split}.jsonl`` lines ``{"id", "messages": [{"role": "system"|"user"|"assistant", "content"}]}`` (the report
adds "system_prompt" (null: no system turn) and "instruction_template" (or "instructions": {task: ...} for multi)).
Task "e2e": one example per paragraph -> all its QA pairs (e2e.py; the report adds "pairs": {split: {...}}).
QA test sets with several annotated answers also get ``test_references.json`` ({id: [answers]}, normalized) and
``test_references_raw.json`` (the same answers as written in the source, for JGLUE's official metric).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..core.config import option as arg
from ..core.errors import UserError
from ..core.io import Example, atomic_dir, atomic_write, write_examples, write_json
from ..core.normalize import DEFAULT_SEP
from .answer_extraction import build_ae_examples
from .e2e import build_e2e_examples
from .formats import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_TASK_PREFIXES,
    DEFAULT_TEMPLATES,
    GPT_END,
    GPT_SEP,
    MULTI_TASKS,
    RAW_REFERENCES,
    TARGET_FIELD,
    check_template,
    default_template,
    format_gpt_line,
    format_input,
)
from .highlight import STRATEGIES, candidates, occurrences, pick, wrap
from .records import Record, group_paragraphs, paragraph_key, split_by_group  # noqa: F401 (re-exported)

SPLITS = ("train", "dev", "test")
FORMATS = ("tsv", "gpt", "chat")
FILE_NAMES = {"tsv": "{split}.tsv", "gpt": "{split}.txt", "chat": "{split}.jsonl"}


@dataclass
class CommonArgs:
    output_dir: Optional[str] = arg(None, help="where to write the data dir (default depends on the script)")
    template: Optional[str] = arg(None, help="input template with {question}, {answer}, {context} fields "
                                             "(default: the task's, see jaqg/formats.py)")
    sep: str = arg(DEFAULT_SEP, help="separator written between title and body")
    seed: int = arg(42, help="seed of the train/dev split")
    dev_ratio: float = arg(0.05, help="share of train groups (articles/passages) moved to dev")
    tokenizer_name_or_path: Optional[str] = arg(None, help="model (dir or hub name) whose tokenizer to check the "
                                                          "data against: <unk>, encode->decode, exact-match ceiling "
                                                          "(printed and in prepare_report.json)")
    system_prompt: Optional[str] = arg(None, help="--format chat: the system turn of every example (default: "
                                                  "jaqg/data/formats.py DEFAULT_SYSTEM_PROMPT; empty: no system turn)")
    instruction_template: Optional[str] = arg(None, help="--format chat: the user turn, with {question}, {answer}, "
                                                         "{context} fields (default: the task's Japanese "
                                                         "instruction, jaqg/data/formats.py DEFAULT_INSTRUCTIONS)")

    def system_turn(self) -> str | None:
        """The chat system prompt: the flag's, the default, or None when the flag is empty."""
        prompt = DEFAULT_SYSTEM_PROMPT if self.system_prompt is None else self.system_prompt
        return prompt if prompt.strip() else None


@dataclass
class AqgArgs:
    highlight: bool = arg(False, help="AQG-HL: wrap one answer occurrence as <hl>answer<hl> instead of 'answer: ...'")
    hl_strategy: str = arg("related", choices=STRATEGIES,
                           help="related: body over title, the question-related occurrence; annotated: answer_start")
    format: str = arg("tsv", choices=FORMATS, help=f"tsv; gpt: {{split}}.txt lines input{GPT_SEP}question{GPT_END}; "
                                                   "chat: {split}.jsonl lines {id, messages: [system, user, "
                                                   "assistant]}")
    task: Optional[str] = arg(None, choices=["ae", "multi", "e2e"],
                              help="ae: answer extraction (a sentence highlighted -> its answers joined by <sep>); "
                                   "multi: QA + AQG-HL + AE in one data dir, inputs starting with a task prefix; "
                                   "e2e: a paragraph -> all its question-answer pairs")
    qa_prefix: str = arg(DEFAULT_TASK_PREFIXES["qa"], help="--task multi: prefix of QA inputs")
    qg_prefix: str = arg(DEFAULT_TASK_PREFIXES["aqg_hl"], help="--task multi: prefix of AQG-HL inputs")
    ae_prefix: str = arg(DEFAULT_TASK_PREFIXES["ae"], help="--task multi: prefix of AE inputs")

    def task_prefixes(self) -> dict[str, str]:
        return {"qa": self.qa_prefix, "aqg_hl": self.qg_prefix, "ae": self.ae_prefix}


def default_output_dir(base: str, task: str, fmt: str) -> str:
    suffix = {"aqg_hl": "_hl", "ae": "_ae", "multi": "_multi", "e2e": "_e2e"}.get(task, "")
    return base + suffix + {"gpt": "_gpt", "chat": "_chat"}.get(fmt, "")


def check_prefixes(prefixes: dict[str, str]) -> dict[str, str]:
    """Task prefixes must be distinct, visible, TSV-safe, and none may start another (the task is read back)."""
    for task, prefix in prefixes.items():
        if not prefix.strip() or any(c in prefix for c in "\t\r\n"):
            raise UserError(f"task prefix {prefix!r} of {task}: must be visible text without tabs or newlines")
    for a, pa in prefixes.items():
        for b, pb in prefixes.items():
            if a != b and pb.startswith(pa):
                raise UserError(f"task prefixes {pa!r} ({a}) and {pb!r} ({b}): one starts the other, so the task "
                                "of an input could not be told; make them distinct")
    return prefixes


def check_args(args: CommonArgs, task: str, fmt: str = "tsv") -> str | None:
    """Validate the shared flags before any work; returns the resolved template (chat: the instruction template;
    None for ``task`` multi, whose tasks keep their own)."""
    if not 0 < args.dev_ratio < 1:
        raise UserError(f"`dev_ratio` {args.dev_ratio}: must be between 0 and 1 (exclusive)")
    if not args.sep.strip() or any(c in args.sep for c in "\t\r\n"):
        raise UserError(f"`sep` {args.sep!r}: must be visible text without tabs or newlines")
    chat = fmt == "chat"
    given, flag = (args.instruction_template, "instruction_template") if chat else (args.template, "template")
    other = args.template if chat else args.instruction_template
    if other is not None:
        raise UserError(f"`{'template' if chat else 'instruction_template'}` does not apply to `format` {fmt}; "
                        f"use `{flag}`")
    if not chat and args.system_prompt is not None:
        raise UserError(f"`system_prompt` applies to `format` chat only, not {fmt}")
    if task == "multi":
        if given is not None:
            raise UserError(f"`{flag}` does not apply to `task` multi (each task keeps its default after its "
                            "prefix); set the prefixes with `qa_prefix`, `qg_prefix`, `ae_prefix`")
        return None
    try:
        return check_template(task, given if given is not None else default_template(task, chat), multiline=chat)
    except ValueError as e:
        raise UserError(f"`{flag}`: {e}") from None


def build_example(record: Record, task: str, template: str, hl_strategy: str, sep: str,
                  hl_stats: Counter) -> Example:
    """The example for one record; ValueError(reason) when it cannot be built."""
    answer = record.answers[0]
    context = record.context
    if task == "aqg_hl":
        starts = occurrences(context, answer)
        if not starts:
            raise ValueError("answer not in normalized context")
        best = candidates(context, answer, record.question, hl_strategy, sep)
        # Carrying answer_start through normalization costs a normalize(); do it only when it decides.
        start = best[0] if len(best) == 1 else pick(best, record.answer_start(sep))
        sep_at = context.find(sep)
        hl_stats["in title" if sep_at >= 0 and start < sep_at else "in body"] += 1
        if start != starts[0]:
            hl_stats["not the first occurrence"] += 1
        context = wrap(context, start, answer)
    text = format_input(task, question=record.question, answer=answer, context=context, template=template)
    return Example(record.id, text, answer if TARGET_FIELD[task] == "answer" else record.question)


def build_examples(records: list[Record], task: str, template: str, hl_strategy: str, sep: str, fmt: str = "tsv"
                   ) -> tuple[list[Example], Counter, Counter]:
    if task == "e2e":
        return build_e2e_examples(records, template, fmt)
    if task == "ae":
        hl_stats = Counter()
        return (*build_ae_examples(records, template, hl_strategy, sep, hl_stats), hl_stats)
    examples, skipped, hl_stats, seen = [], Counter(), Counter(), set()
    for record in records:
        if record.id in seen:
            skipped["duplicate id"] += 1
            continue
        try:
            examples.append(build_example(record, task, template, hl_strategy, sep, hl_stats))
            seen.add(record.id)
        except ValueError as e:
            skipped[str(e)] += 1
    return examples, skipped, hl_stats


def multitask_templates(prefixes: dict[str, str] | None, chat: bool = False) -> dict[str, str]:
    """Each multitask task's full input template: its prefix, then the task's default template; chat: each
    task's default instruction (no prefix: the instruction tells the tasks apart)."""
    if chat:
        return {task: DEFAULT_INSTRUCTIONS[task] for task in MULTI_TASKS}
    return {task: check_template(task, prefixes[task] + DEFAULT_TEMPLATES[task]) for task in MULTI_TASKS}


def build_multitask_examples(records: list[Record], prefixes: dict[str, str] | None, hl_strategy: str, sep: str,
                             chat: bool = False) -> tuple[list[Example], Counter, Counter, Counter]:
    """QA, AQG-HL and AE examples of the records, each input led by its task prefix (chat: its instruction) and
    each id by ``:task``, ordered by paragraph (so the first N test examples, as train.py --max_eval_samples takes
    them, mix the tasks).

    Returns (examples, skipped with reasons prefixed by the task, highlight stats, written per task)."""
    examples, skipped, hl_stats, per_task = [], Counter(), Counter(), Counter()
    order = {}  # record id or paragraph key -> paragraph index
    for index, (key, members) in enumerate(group_paragraphs(records).items()):
        order.update({key: index, **{r.id: index for r in members}})
    for task, template in multitask_templates(prefixes, chat).items():
        built, task_skipped, task_hl = build_examples(records, task, template, hl_strategy, sep)
        examples += [Example(f"{e.id}:{task}", e.input, e.target) for e in built]
        skipped.update({f"{task}: {reason}": n for reason, n in task_skipped.items()})
        hl_stats.update({f"{task}: {k}": n for k, n in task_hl.items()})
        per_task[task] = len(built)
    # AE ids are "{paragraph key}-s{k}:ae"; the others "{record id}:{task}". sorted() is stable: tasks keep their order.
    examples.sort(key=lambda e: order.get(e.id.rsplit(":", 1)[0], order.get(e.id.rsplit("-s", 1)[0], 0)))
    return examples, skipped, hl_stats, per_task


def _gpt_line(example: Example) -> str:
    for marker in (GPT_SEP, GPT_END):
        if marker in example.input or marker in example.target:
            raise ValueError(f"text holds the marker {marker}")
    return format_gpt_line(example.input, example.target)


def chat_record(example: Example, system_prompt: str | None) -> dict:
    """One chat example: ``{"id", "messages"}`` with the system turn (when given), the user turn (the example's
    input: its instruction) and the assistant turn (its target)."""
    if not example.input.strip() or not example.target.strip():
        raise ValueError("empty instruction or answer")
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return {"id": example.id, "messages": [*system, {"role": "user", "content": example.input},
                                           {"role": "assistant", "content": example.target}]}


def _format_split(examples: list[Example], fmt: str, system_prompt: str | None, skipped: Counter) -> list:
    """The examples as written: Examples (tsv), GPT lines, or chat records; those that cannot be are counted."""
    if fmt == "tsv":
        return examples
    out = []
    for e in examples:
        try:
            out.append(_gpt_line(e) if fmt == "gpt" else chat_record(e, system_prompt))
        except ValueError as err:
            skipped[str(err)] += 1
    return out


def prepare(task: str, splits: dict[str, list[Record]], args: CommonArgs, *, template: str, output_dir: str,
            hl_strategy: str | None = None, fmt: str = "tsv", sources: dict | None = None,
            load_skipped: dict[str, Counter] | None = None, task_prefixes: dict[str, str] | None = None,
            extra_report: Callable[[dict[str, list[Example]]], dict] | None = None) -> dict:
    """Build, report and atomically write one data dir; returns the report. ``task`` "multi" needs
    ``task_prefixes``. ``extra_report(examples by split)`` (before GPT formatting) adds entries to the report
    before anything is written, e.g. a tokenizer coverage report."""
    chat = fmt == "chat"
    system_prompt = args.system_turn() if chat else None
    report = {"task": task, "template": template, "format": fmt, "hl_strategy": hl_strategy, "sep": args.sep,
              "seed": args.seed, "dev_ratio": args.dev_ratio, "sources": sources or {},
              "counts": {}, "skipped": {}, "highlight": {}, "by_task": {}}
    if chat:
        report.update(system_prompt=system_prompt, instruction_template=template)
    if task == "e2e":
        report["pairs"] = {}
    if task == "multi":
        if chat:
            report.update(instructions=multitask_templates(None, chat=True))
        else:
            report.update(task_prefixes=task_prefixes, templates=multitask_templates(task_prefixes))
    built: dict[str, list[Example]] = {}
    built_examples: dict[str, list[Example]] = {}  # before GPT formatting, for extra_report
    for split in SPLITS:
        if task == "multi":
            examples, skipped, hl_stats, per_task = build_multitask_examples(
                splits[split], task_prefixes, hl_strategy or "related", args.sep, chat)
            report["by_task"][split] = dict(per_task)
        else:
            examples, skipped, hl_stats = build_examples(splits[split], task, template, hl_strategy or "related",
                                                         args.sep, fmt)
        if task == "e2e":  # pair counts, not highlight statistics
            report["pairs"][split], hl_stats = dict(sorted(hl_stats.items())), Counter()
        skipped.update((load_skipped or {}).get(split, Counter()))
        built_examples[split] = examples
        built[split] = _format_split(examples, fmt, system_prompt, skipped)
        report["counts"][split] = len(built[split])
        report["skipped"][split] = dict(sorted(skipped.items()))
        if hl_stats:
            report["highlight"][split] = dict(sorted(hl_stats.items()))
    if not built["train"]:
        raise UserError(f"no training example could be built ({report['skipped']['train']}); check the input files")
    if extra_report:
        report.update(extra_report(built_examples))
    with atomic_dir(output_dir) as staging:
        for split in SPLITS:
            path = staging / FILE_NAMES[fmt].format(split=split)
            if fmt == "tsv":
                write_examples(path, built[split])
            else:
                with atomic_write(path) as f:
                    f.writelines((line if fmt == "gpt" else json.dumps(line, ensure_ascii=False)) + "\n"
                                 for line in built[split])
        if task == "qa" and fmt in ("tsv", "chat"):
            kept = {e["id"] if isinstance(e, dict) else e.id for e in built["test"]}
            write_json(staging / "test_references.json",
                       {r.id: r.answers for r in splits["test"] if r.id in kept})
            write_json(staging / RAW_REFERENCES,
                       {r.id: list(r.raw_answers or r.answers) for r in splits["test"] if r.id in kept})
        write_json(staging / "prepare_report.json", report)
    print_report(report, output_dir)
    return report


def prepare_aqg(args: AqgArgs, load_splits, base_dir: str, extra_report=None) -> dict:
    """AQG (or AQG-HL with --highlight) from any source: the one body of prepare_jsquad_aqg.py and prepare_quiz_aqg.py.

    ``load_splits(args) -> (splits, skipped, sources)`` is the source's loader; ``base_dir`` the default output name.
    With ``--task ae`` it writes answer-extraction data, with ``--task multi`` QA + AQG-HL + AE data.
    """
    task = args.task or ("aqg_hl" if args.highlight else "aqg")
    template = check_args(args, task, args.format)
    prefixes = check_prefixes(args.task_prefixes()) if task == "multi" and args.format != "chat" else None
    splits, skipped, sources = load_splits(args)
    uses_hl = task in ("aqg_hl", "ae", "multi")
    return prepare(task, splits, args, template=template, fmt=args.format,
                   output_dir=args.output_dir or default_output_dir(base_dir, task, args.format),
                   hl_strategy=args.hl_strategy if uses_hl else None, sources=sources, load_skipped=skipped,
                   task_prefixes=prefixes, extra_report=extra_report)


def print_report(report: dict, output_dir: str) -> None:
    for split in SPLITS:
        skipped = report["skipped"][split]
        reasons = ", ".join(f"{k}: {v}" for k, v in skipped.items())
        line = f"{split}: {report['counts'][split]} written, {sum(skipped.values())} skipped"
        if reasons:
            line += f" ({reasons})"
        if report["highlight"].get(split):
            line += "; highlight " + ", ".join(f"{k}: {v}" for k, v in report["highlight"][split].items())
        if report["by_task"].get(split):
            line += "; by task " + ", ".join(f"{k}: {v}" for k, v in report["by_task"][split].items())
        print(line, file=sys.stderr)
    if report.get("pairs"):
        print("question-answer pairs: " + "; ".join(
            f"{split} " + ", ".join(f"{k}: {v}" for k, v in report["pairs"][split].items()) for split in SPLITS),
            file=sys.stderr)
    print(f"wrote {Path(output_dir) / FILE_NAMES[report['format']].format(split='*')} "
          f"and prepare_report.json ({report['task']}, {report['format']})", file=sys.stderr)
