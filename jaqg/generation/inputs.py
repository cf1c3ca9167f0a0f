"""Question generation from (answer, context): the input an AQG model was trained on, from its run_config."""

from __future__ import annotations

from ..core.normalize import normalize
from ..data.formats import format_input, task_template
from ..data.highlight import highlight_answer


def question_input(answer: str, context: str, data_info: dict | None, highlight: bool = False) -> str:
    """The input an AQG model was trained on, from its run_config's data info: the answer/context template,
    or the context with the answer highlighted (aqg_hl, or forced with ``highlight``). Raises ValueError."""
    answer, context = normalize(answer), normalize(context)
    if not answer:
        raise ValueError("the answer is empty; pass `answer`")
    if not context:
        raise ValueError("the context is empty; pass `context`")
    task = (data_info or {}).get("task", "aqg")
    if task in ("qa", "ae"):
        what = {"qa": "question answering, QA", "ae": "answer extraction, AE"}[task]
        raise ValueError(f"the model was trained for {task} ({what}; its run_config task), not question generation; "
                         "pass an AQG or multitask model with `model_name_or_path`")
    template = (data_info or {}).get("template")
    if task == "multi":  # its question-generation task: AQG-HL after the task prefix
        task, template = "aqg_hl", task_template(data_info, "aqg_hl")
    if highlight and task != "aqg_hl":
        task, template = "aqg_hl", None
    if task == "aqg_hl":
        if answer not in context:
            raise ValueError(f"the answer {answer!r} does not occur in the context, so it cannot be highlighted; "
                             "pass an answer copied from the context")
        return format_input(task, context=highlight_answer(context, answer), template=template)
    return format_input(task, answer=answer, context=context, template=template)
