"""Which model serves which task of the QAG pipeline, checked before anything loads, then loaded once per path:
the one setup behind generate_qa.py and the service (jaqg.service).

    plan = plan_qag_models("model_multi", answers="ner")     # UserError naming the setting, before loading
    models = load_qag_models(plan, device="cpu")             # TaskModels for generate_qa(..., models.qg, models.qa)

A model's tasks come from its run_config.json ``data`` (jaqg.data.formats.task_template). Errors name the settings
in backquotes (`qa_model`); the command line prints them as flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import UserError
from ..data.formats import DEFAULT_TASK_PREFIXES, task_template
from ..evaluation.roundtrip import chat_prompt
from ..generation.decoding import check_model_path, load_model, read_run_config
from .pipeline import TaskModel

TASK_NAMES = {"qa": "question answering", "aqg_hl": "question generation (AQG-HL)", "ae": "answer extraction",
              "e2e": "end-to-end question-answer generation (e2e)"}
MODES = ("pipeline", "e2e")  # pipeline: answers then questions (separate or multitask models); e2e: pairs at once


def model_data_info(path: str, tasks: list[str], assume_multitask: bool, notes: list[str]) -> dict | None:
    """The data info (run_config's ``data``) a model was trained on, for the tasks it is to serve.

    A model without one (a hub model, a bare dir, a run_config without ``data``) says nothing of its tasks: it may
    serve one task with that task's default template (a line added to ``notes``), or, with ``assume_multitask``,
    every task with the default prefixes; asked to serve several tasks otherwise, it is refused (UserError)."""
    run_config = read_run_config(path) if Path(path).is_dir() else {}
    if run_config.get("data"):
        return run_config["data"]
    if assume_multitask:
        return {"task": "multi", "task_prefixes": DEFAULT_TASK_PREFIXES}
    if len(tasks) > 1:
        others = {"qa": "`qa_model`", "ae": "`ae_model` (or `answers` ner)"}
        raise UserError(f"{path}: no run_config.json says which tasks it was trained for, and it would serve "
                        f"{', '.join(TASK_NAMES[t] for t in tasks)}; pass "
                        f"{' and '.join(others[t] for t in tasks if t in others)}, or `assume_multitask` if it was "
                        "trained on multitask data with the default task prefixes")
    notes.append(f"{path}: no run_config.json; used for {TASK_NAMES[tasks[0]]} with the default template")
    return None


def task_model_config(path: str, task: str, how_to_fix: str, data_info: dict | None
                      ) -> tuple[str, int, int | None]:
    """(template, max_new_tokens, max_input_length) of a model for a task; UserError if it lacks the task."""
    run_config = read_run_config(path) if Path(path).is_dir() else {}
    template = task_template(data_info, task)
    if template is None:
        trained = (data_info or {}).get("task")
        raise UserError(f"{path}: trained for task {trained!r}, which lacks {TASK_NAMES[task]}; {how_to_fix}")
    return template, run_config.get("max_target_length") or 64, run_config.get("max_input_length")


@dataclass
class QagPlan:
    """What a QAG run needs: per task (aqg_hl, qa and, for ``answers="model"``, ae) the model path, the setting
    that named it, and (template, max_new_tokens, max_input_length); notes to show the user."""
    answers: str
    paths: dict[str, str]
    settings: dict[str, str]
    configs: dict[str, tuple[str, int, int | None]]
    notes: list[str] = field(default_factory=list)
    infos: dict[str, dict | None] = field(default_factory=dict)  # per task: the model's data info

    @property
    def max_input_length(self) -> int | None:
        """The question-generation (or e2e) model's trained input length (run_config), if it says."""
        return self.configs["e2e" if "e2e" in self.configs else "aqg_hl"][2]


def plan_qag_models(model_name_or_path: str, *, qa_model: str | None = None, ae_model: str | None = None,
                    answers: str = "model", assume_multitask: bool = False, mode: str = "pipeline") -> QagPlan:
    """Check every model dir and that each serves its task, before anything loads; UserError naming the setting.
    ``mode`` e2e: ``model_name_or_path`` writes every pair of a passage (task e2e) and ``qa_model`` answers them."""
    if mode not in MODES:
        raise UserError(f"`mode` {mode}: choose one of {', '.join(MODES)}")
    if answers not in ("model", "ner"):
        raise UserError(f"`answers` {answers}: choose model or ner")
    if ae_model and answers != "model":
        raise UserError("`ae_model` applies only to `answers` model")
    m = model_name_or_path
    if mode == "e2e":
        if ae_model or answers != "model":
            raise UserError("`mode` e2e writes its own answers; drop `ae_model` / `answers`")
        if not qa_model:
            raise UserError("`mode` e2e needs a QA model for the round trip; pass `qa_model`")
        answers = "e2e"
    needs = {"e2e": (m, "pass an end-to-end model (prepare `task` e2e) as `model_name_or_path`")} \
        if mode == "e2e" else {"aqg_hl": (m, "pass a multitask or AQG-HL model as `model_name_or_path`")}
    needs["qa"] = (qa_model or m, "pass a QA model with `qa_model`" if not qa_model
                   else "pass a QA or multitask model as `qa_model`")
    if answers == "model" and mode != "e2e":
        needs["ae"] = (ae_model or m, "pass an answer-extraction model with `ae_model`, or `answers` ner"
                       if not ae_model else "pass an AE or multitask model as `ae_model`")
    # A missing model dir stops here, in one line naming its setting, before notes are printed or documents read.
    settings = {ae_model: "ae_model", qa_model: "qa_model", m: "model_name_or_path"}
    for path, _ in needs.values():
        check_model_path(path, settings[path])
    tasks_of: dict[str, list[str]] = {}
    for task, (path, _) in needs.items():
        tasks_of.setdefault(path, []).append(task)
    notes: list[str] = []
    infos = {path: model_data_info(path, tasks, assume_multitask, notes) for path, tasks in tasks_of.items()}
    configs = {task: task_model_config(path, task, fix, infos[path]) for task, (path, fix) in needs.items()}
    return QagPlan(answers, {task: path for task, (path, _) in needs.items()},
                   {task: settings[path] for task, (path, _) in needs.items()}, configs, notes,
                   {task: infos[path] for task, (path, _) in needs.items()})


@dataclass
class QagModels:
    qg: TaskModel | None
    qa: TaskModel
    ae: TaskModel | None = None
    e2e: TaskModel | None = None


def load_qag_models(plan: QagPlan, *, device: str = "auto", precision: str = "32", threads: int = 0,
                    loaded: dict[str, tuple] | None = None, backend: str = "transformers",
                    ct2_compute_type: str = "float32", trust_remote_code: bool = False) -> QagModels:
    """The plan's models, each path loaded once (``loaded``: path -> (model, tokenizer), shared and filled), on
    ``backend`` (jaqg.generation.decoding.load_model)."""
    loaded = {} if loaded is None else loaded
    task_models = {}
    for task, path in plan.paths.items():
        if path not in loaded:  # errors name the setting that gave the path
            loaded[path] = load_model(path, device=device, precision=precision, threads=threads,
                                      param=plan.settings[task], backend=backend,
                                      ct2_compute_type=ct2_compute_type, trust_remote_code=trust_remote_code)
        template, max_new_tokens, _ = plan.configs[task]
        model, tokenizer = loaded[path]
        task_models[task] = TaskModel(model, tokenizer, template=template, max_new_tokens=max_new_tokens,
                                      prompt=chat_prompt(model, tokenizer, plan.infos.get(task)))
    return QagModels(task_models.get("aqg_hl"), task_models["qa"], task_models.get("ae"), task_models.get("e2e"))
