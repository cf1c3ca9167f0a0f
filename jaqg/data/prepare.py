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
Format "tsv": ``{split}.tsv`` rows ``id\\tinput\\ttarget``; "gpt": ``{split}.txt`` lines ``{input}<sep>{target}</s>``.
QA test sets with several annotated answers also get ``test_references.json`` ({id: [answers]}, normalized) and
``test_references_raw.json`` (the same answers as written in the source, for JGLUE's official metric).
"""

from __future__ import annotations

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
from .formats import (
    DEFAULT_TASK_PREFIXES,
    DEFAULT_TEMPLATES,
    GPT_END,
    GPT_SEP,
    MULTI_TASKS,
    RAW_REFERENCES,
    TARGET_FIELD,
    check_template,
    format_gpt_line,
    format_input,
)
from .highlight import STRATEGIES, candidates, occurrences, pick, wrap
from .records import Record, group_paragraphs, paragraph_key, split_by_group  # noqa: F401 (re-exported)

SPLITS = ("train", "dev", "test")
FORMATS = ("tsv", "gpt")


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


@dataclass
class AqgArgs:
    highlight: bool = arg(False, help="AQG-HL: wrap one answer occurrence as <hl>answer<hl> instead of 'answer: ...'")
    hl_strategy: str = arg("related", choices=STRATEGIES,
                           help="related: body over title, the question-related occurrence; annotated: answer_start")
    format: str = arg("tsv", choices=FORMATS, help=f"tsv, or gpt: {{split}}.txt lines input{GPT_SEP}question{GPT_END}")
    task: Optional[str] = arg(None, choices=["ae", "multi"],
                              help="ae: answer extraction (a sentence highlighted -> its answers joined by <sep>); "
                                   "multi: QA + AQG-HL + AE in one data dir, inputs starting with a task prefix")
    qa_prefix: str = arg(DEFAULT_TASK_PREFIXES["qa"], help="--task multi: prefix of QA inputs")
    qg_prefix: str = arg(DEFAULT_TASK_PREFIXES["aqg_hl"], help="--task multi: prefix of AQG-HL inputs")
    ae_prefix: str = arg(DEFAULT_TASK_PREFIXES["ae"], help="--task multi: prefix of AE inputs")

    def task_prefixes(self) -> dict[str, str]:
        return {"qa": self.qa_prefix, "aqg_hl": self.qg_prefix, "ae": self.ae_prefix}


def default_output_dir(base: str, task: str, fmt: str) -> str:
    suffix = {"aqg_hl": "_hl", "ae": "_ae", "multi": "_multi"}.get(task, "")
    return base + suffix + ("_gpt" if fmt == "gpt" else "")


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


def check_args(args: CommonArgs, task: str) -> str:
    """Validate the shared flags before any work; returns the resolved template."""
    if not 0 < args.dev_ratio < 1:
        raise UserError(f"`dev_ratio` {args.dev_ratio}: must be between 0 and 1 (exclusive)")
    if not args.sep.strip() or any(c in args.sep for c in "\t\r\n"):
        raise UserError(f"`sep` {args.sep!r}: must be visible text without tabs or newlines")
    template = args.template if args.template is not None else DEFAULT_TEMPLATES[task]
    try:
        return check_template(task, template)
    except ValueError as e:
        raise UserError(f"`template`: {e}") from None


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


def build_examples(records: list[Record], task: str, template: str, hl_strategy: str, sep: str
                   ) -> tuple[list[Example], Counter, Counter]:
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


def multitask_templates(prefixes: dict[str, str]) -> dict[str, str]:
    """Each multitask task's full input template: its prefix, then the task's default template."""
    return {task: check_template(task, prefixes[task] + DEFAULT_TEMPLATES[task]) for task in MULTI_TASKS}


def build_multitask_examples(records: list[Record], prefixes: dict[str, str], hl_strategy: str, sep: str
                             ) -> tuple[list[Example], Counter, Counter, Counter]:
    """QA, AQG-HL and AE examples of the records, each input led by its task prefix and each id by ``:task``,
    ordered by paragraph (so the first N test examples, as train.py --max_eval_samples takes them, mix the tasks).

    Returns (examples, skipped with reasons prefixed by the task, highlight stats, written per task)."""
    examples, skipped, hl_stats, per_task = [], Counter(), Counter(), Counter()
    order = {}  # record id or paragraph key -> paragraph index
    for index, (key, members) in enumerate(group_paragraphs(records).items()):
        order.update({key: index, **{r.id: index for r in members}})
    for task, template in multitask_templates(prefixes).items():
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


def prepare(task: str, splits: dict[str, list[Record]], args: CommonArgs, *, template: str, output_dir: str,
            hl_strategy: str | None = None, fmt: str = "tsv", sources: dict | None = None,
            load_skipped: dict[str, Counter] | None = None, task_prefixes: dict[str, str] | None = None,
            extra_report: Callable[[dict[str, list[Example]]], dict] | None = None) -> dict:
    """Build, report and atomically write one data dir; returns the report. ``task`` "multi" needs
    ``task_prefixes``. ``extra_report(examples by split)`` (before GPT formatting) adds entries to the report
    before anything is written, e.g. a tokenizer coverage report."""
    report = {"task": task, "template": template, "format": fmt, "hl_strategy": hl_strategy, "sep": args.sep,
              "seed": args.seed, "dev_ratio": args.dev_ratio, "sources": sources or {},
              "counts": {}, "skipped": {}, "highlight": {}, "by_task": {}}
    if task == "multi":
        report.update(task_prefixes=task_prefixes, templates=multitask_templates(task_prefixes))
    built: dict[str, list[Example]] = {}
    built_examples: dict[str, list[Example]] = {}  # before GPT formatting, for extra_report
    for split in SPLITS:
        if task == "multi":
            examples, skipped, hl_stats, per_task = build_multitask_examples(
                splits[split], task_prefixes, hl_strategy or "related", args.sep)
            report["by_task"][split] = dict(per_task)
        else:
            examples, skipped, hl_stats = build_examples(splits[split], task, template, hl_strategy or "related",
                                                         args.sep)
        skipped.update((load_skipped or {}).get(split, Counter()))
        built_examples[split] = examples
        if fmt == "gpt":
            lines = []
            for e in examples:
                try:
                    lines.append(_gpt_line(e))
                except ValueError as err:
                    skipped[str(err)] += 1
            built[split] = lines
        else:
            built[split] = examples
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
            if fmt == "gpt":
                with atomic_write(staging / f"{split}.txt") as f:
                    f.writelines(line + "\n" for line in built[split])
            else:
                write_examples(staging / f"{split}.tsv", built[split])
        if task == "qa" and fmt == "tsv":
            kept = {e.id for e in built["test"]}
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
    prefixes = None
    if task == "multi":
        if args.template is not None:
            raise UserError("`template` does not apply to `task` multi (each task keeps its default template "
                            "after its prefix); set the prefixes with `qa_prefix`, `qg_prefix`, `ae_prefix`")
        template, prefixes = None, check_prefixes(args.task_prefixes())
        check_args(args, "qa")
    else:
        template = check_args(args, task)
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
    print(f"wrote {Path(output_dir) / ('*.txt' if report['format'] == 'gpt' else '*.tsv')} "
          f"and prepare_report.json ({report['task']}, {report['format']})", file=sys.stderr)
