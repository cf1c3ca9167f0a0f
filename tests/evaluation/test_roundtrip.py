"""jaqg.evaluation.roundtrip: the one QA-answering function (generate.py --roundtrip_qa, score.py --qa_model), its
loader."""

import json

import pytest
from trained_models import FACT, OTHER_QUESTION

from jaqg.core.errors import UserError
from jaqg.data.formats import DEFAULT_TEMPLATES
from jaqg.evaluation.roundtrip import answer_questions, load_qa_model, qa_template, roundtrip_filter


def test_answer_questions_batched_in_input_order(models):
    qa = load_qa_model(str(models["qa"]), device="cpu", threads=1)
    questions = [OTHER_QUESTION, FACT[2], OTHER_QUESTION]
    answers = answer_questions(qa.model, qa.tokenizer, questions, [FACT[1]] * 3, template=qa.template,
                               batch_size=2)
    assert answers == ["山梨県", FACT[0], "山梨県"]
    assert qa.answer([], []) == []
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        qa.answer(questions[:2], [FACT[1]])


def test_roundtrip_filter_keeps_questions_the_qa_model_answers(models):
    kept, dropped = roundtrip_filter(str(models["qa"]), [FACT[:2]], [[FACT[2], OTHER_QUESTION]], device="cpu")
    assert kept == [[FACT[2]]] and dropped == [[OTHER_QUESTION]]


def test_qa_template_from_run_config():
    assert qa_template(None) == DEFAULT_TEMPLATES["qa"]
    assert qa_template({"task": "qa", "template": "Q {question} C {context}"}) == "Q {question} C {context}"
    multi = {"task": "multi", "task_prefixes": {"qa": "question answering: "}}
    assert qa_template(multi) == "question answering: " + DEFAULT_TEMPLATES["qa"]
    assert qa_template({"task": "multi", "templates": {"qa": "qa: {question} | {context}"}}) == \
        "qa: {question} | {context}"
    with pytest.raises(UserError, match="trained for task 'aqg_hl'"):
        qa_template({"task": "aqg_hl"}, where="m")
    with pytest.raises(UserError, match="names no QA template"):
        qa_template({"task": "multi"})


def test_load_qa_model_refuses_aqg_and_non_generative_models(models, tmp_path):
    with pytest.raises(UserError, match="trained for task 'aqg'"):
        load_qa_model(str(models["aqg"]), device="cpu")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForQuestionAnswering"]}))
    with pytest.raises(UserError, match="BertForQuestionAnswering cannot generate answers"):
        load_qa_model(str(bert), device="cpu")
