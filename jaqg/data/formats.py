"""Task formats: how a (question, answer, context) triple becomes a model input and target.

The defaults are part of the design contract (../shared/DESIGN.md); ``--template`` overrides the input side.
Causal-LM text files hold one example a line: ``{input}<sep>{target}</s>`` (GPT_SEP, GPT_END below).
Chat data (``--format chat``) holds ``{"id", "messages": [system, user, assistant]}``: the system turn is
``DEFAULT_SYSTEM_PROMPT`` (or ``--system_prompt``; none when empty), the user turn the task's instruction
(``DEFAULT_INSTRUCTIONS``, or ``--instruction_template``, with the same ``{question}``, ``{answer}``, ``{context}``
fields as a template), the assistant turn the target. End-to-end QAG (``e2e``): one example per paragraph, its
target every QA pair of the paragraph (``jaqg.data.e2e``).
"""

from __future__ import annotations

import functools
import string

HL_TOKEN = "<hl>"
# Joins prompt and target in the causal-LM text files (one example per line); registered as a special token.
GPT_SEP = "<sep>"
# Ends each causal-LM example in the text files; run_clm maps it to the tokenizer's own end-of-text token.
GPT_END = "</s>"

# Beside a prepared QA data dir's test.tsv: {id: [every annotated answer as written]} (JGLUE scores raw strings).
RAW_REFERENCES = "test_references_raw.json"

TASKS = ("qa", "aqg", "aqg_hl", "ae", "e2e")

DEFAULT_TEMPLATES = {
    "qa": "question: {question} context: {context}",
    "aqg": "answer: {answer} context: {context}",
    "aqg_hl": "{context}",  # the context with the answer wrapped as <hl>answer<hl>
    "ae": "{context}",  # the context with one sentence wrapped as <hl>sentence<hl>
}

# End-to-end QAG input (lmqg's T5 prefix for its end-to-end model, "generate question and answer: ").
E2E_TEMPLATE = "generate question and answer: {context}"

TARGET_FIELD = {"qa": "answer", "aqg": "question", "aqg_hl": "question", "ae": "answer"}
# Fields a template must not use (the target) and must use (so the input still determines the target).
FORBIDDEN_FIELDS = {**{task: {field} for task, field in TARGET_FIELD.items()}, "e2e": {"question", "answer"}}
REQUIRED_FIELDS = {"qa": {"question", "context"}, "aqg": {"answer", "context"}, "aqg_hl": {"context"},
                   "ae": {"context"}, "e2e": {"context"}}

# Chat data: the default system turn and each task's user turn (Japanese; fields as in templates, literal braces
# doubled). The AE answer list uses the TSV separator so parse_ae_output reads both; e2e asks for a JSON list.
DEFAULT_SYSTEM_PROMPT = ("あなたは日本語の文章を正確に読み解くアシスタントです。"
                         "与えられた文章に書かれていることだけをもとに、指示どおりの形で簡潔に答えてください。")
DEFAULT_INSTRUCTIONS = {
    "qa": "次の文章を読んで、質問に答えてください。答えは文章中の言葉をそのまま抜き出し、できるだけ短く書いてください。"
          "\n\n文章: {context}\n\n質問: {question}",
    "aqg": "次の文章を読んで、「{answer}」が答えになる質問を一つ作ってください。質問文だけを書いてください。"
           "\n\n文章: {context}",
    "aqg_hl": "次の文章では、答えにする語句が<hl>で囲まれています。その語句が答えになる質問を一つ作ってください。"
              "質問文だけを書いてください。\n\n文章: {context}",
    "ae": "次の文章では、一つの文が<hl>で囲まれています。その文から、質問の答えになりそうな語句を出てくる順にすべて"
          "抜き出し、「 <sep> 」で区切って書いてください。\n\n文章: {context}",
    "e2e": "次の文章を読んで、文章の内容を問う質問とその答えの組をできるだけ多く作ってください。答えは文章中の言葉を"
           "そのまま抜き出してください。出力は [{{\"question\": \"質問\", \"answer\": \"答え\"}}, ...] の形の"
           "JSONのリストだけにしてください。\n\n文章: {context}",
}

# Answer extraction (AE) targets: the answers of the highlighted sentence, in order, joined by this (as lmqg).
AE_SEP = f" {GPT_SEP} "

# Multitask data (prepare --task multi): every input starts with its task's prefix (T5 style; lmqg's names).
MULTI_TASKS = ("qa", "aqg_hl", "ae")
DEFAULT_TASK_PREFIXES = {"qa": "question answering: ", "aqg_hl": "question generation: ",
                         "ae": "answer extraction: "}
TEMPLATE_FIELDS = ("question", "answer", "context")


def template_fields(template: str) -> set[str]:
    """The ``{field}`` names a template uses; ValueError on a malformed template."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise ValueError(f"malformed template {template!r} ({e}); write literal braces as {{{{ and }}}}") from None
    return names


def default_template(task: str, chat: bool = False) -> str:
    """The task's default input template (TSV / GPT), or its default chat instruction."""
    if chat:
        return DEFAULT_INSTRUCTIONS[task]
    return E2E_TEMPLATE if task == "e2e" else DEFAULT_TEMPLATES[task]


@functools.lru_cache(maxsize=64)
def check_template(task: str, template: str, multiline: bool = False) -> str:
    """Validate a template for a task; returns it, or raises ValueError saying what to fix. ``multiline``: a chat
    instruction, which may hold newlines and tabs (a TSV field may not)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if not multiline and any(c in template for c in "\t\r\n"):
        raise ValueError(f"template {template!r} holds a tab or newline, which TSV fields cannot")
    names = template_fields(template)
    unknown = names - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(f"template {template!r} uses unknown field(s) {sorted(unknown)}; "
                         f"use only {{question}}, {{answer}}, {{context}}")
    if FORBIDDEN_FIELDS[task] & names:
        raise ValueError(f"template {template!r} contains the target "
                         f"{{{sorted(FORBIDDEN_FIELDS[task] & names)[0]}}} of task {task}")
    missing = REQUIRED_FIELDS[task] - names
    if missing:
        raise ValueError(f"template {template!r} for task {task} lacks {sorted(missing)}")
    return template


def format_input(task: str, *, question: str = "", answer: str = "", context: str = "",
                 template: str | None = None) -> str:
    """The model input for one example (or a chat instruction's user turn: a template holding a newline counts as
    one; TSV templates are checked for newlines when the flags are). For aqg_hl pass the highlighted context."""
    template = template if template is not None else default_template(task)
    template = check_template(task, template, multiline=any(c in template for c in "\t\r\n"))
    return template.format(question=question, answer=answer, context=context)


def format_ae_target(answers: list[str]) -> str:
    """AE target: answers in order of appearance joined by `` <sep> ``."""
    return AE_SEP.join(answers)


def parse_ae_output(text: str) -> list[str]:
    """Answers from an AE generation (split at ``<sep>``, stripped, empty and repeated ones dropped, order kept)."""
    return list(dict.fromkeys(a.strip() for a in text.split(GPT_SEP) if a.strip()))


def task_of_input(text: str, prefixes: dict[str, str]) -> str | None:
    """The task whose prefix starts a multitask input (the longest matching prefix), or None."""
    matches = [task for task, prefix in prefixes.items() if prefix and text.startswith(prefix)]
    return max(matches, key=lambda t: len(prefixes[t]), default=None)


def task_template(data_info: dict | None, task: str) -> str | None:
    """The full input template of ``task`` for a model trained on a data dir (its run_config's ``data``), or None
    when the model was not trained on that task. A model without data info counts as trained on ``task`` with the
    default template (a hub or bare model dir). Multitask: ``templates[task]`` (prefix included), else
    ``task_prefixes[task]`` + the default template."""
    data_info = data_info or {}
    trained = data_info.get("task") or task
    if trained == task:
        return data_info.get("template") or default_template(task)
    if trained == "multi":
        template = (data_info.get("templates") or {}).get(task)
        prefix = (data_info.get("task_prefixes") or {}).get(task)
        return template or (prefix + DEFAULT_TEMPLATES[task] if prefix is not None else None)
    return None


def format_gpt_line(prompt: str, target: str) -> str:
    """One causal-LM training line: prompt, separator, target, end marker."""
    return f"{prompt}{GPT_SEP}{target}{GPT_END}"
