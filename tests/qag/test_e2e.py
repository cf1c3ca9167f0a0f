"""generate_qa.py --mode e2e: an end-to-end model's pairs parsed robustly (a malformed pair dropped with its reason
and counted), then the pipeline's round trip, hallucination check, records and summary; score_qag.py scores them.
A T5 e2e model memorised on one paragraph (lmqg's target), and a chat model forced to write a wrapped JSON list."""

import json

import pytest
from chat_models import HARMONY_TOKENS, forced, make_harmony, make_qwen
from conftest import run_main_in_process
from trained_models import FACT, OTHER_QUESTION, memorise

import generate_qa
import score_qag
from jaqg.data.e2e import format_e2e_target
from jaqg.data.formats import E2E_TEMPLATE, format_input
from jaqg.evaluation.roundtrip import load_qa_model
from jaqg.generation.decoding import load_model
from jaqg.qag.e2e import generate_qa_e2e
from jaqg.qag.loading import chat_prompt
from jaqg.qag.pipeline import QagConfig, TaskModel, read_documents

PAIRS = [(FACT[2], FACT[0]), (OTHER_QUESTION, "山梨県"), ("北部の町は。", "森瀬町")]


def jsquad(path):
    """A one-paragraph JSQuAD file (no title, so the passage is the fact itself) whose gold pairs are PAIRS[:2]."""
    qas = [{"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": FACT[1].find(a)}]}
           for i, (q, a) in enumerate(PAIRS[:2])]
    data = {"version": "v1.3", "data": [{"title": "", "paragraphs": [{"context": FACT[1], "qas": qas}]}]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def e2e_t5(tiny_bart_dir, tmp_path_factory):
    """A BART (quicker to memorise than a from-scratch T5) that writes lmqg's e2e target for the fact: two good
    pairs, one whose answer is not in the passage, and a malformed one (no ``, answer:``)."""
    target = format_e2e_target(PAIRS, "tsv") + " | question: 北部"
    out = memorise(tiny_bart_dir, tmp_path_factory.mktemp("e2e") / "bart", [(format_input("e2e", context=FACT[1]),
                                                                              target)], max_new_tokens=200)
    (out / "run_config.json").write_text(json.dumps({"max_target_length": 200, "data": {
        "task": "e2e", "template": E2E_TEMPLATE, "format": "tsv"}}), encoding="utf-8")
    return out


def test_generate_qa_e2e_with_a_t5_model_then_score_qag(e2e_t5, models, tmp_path, capsys):
    src = jsquad(tmp_path / "valid.json")
    out = tmp_path / "qa.jsonl"
    code, _, err = run_main_in_process(capsys, generate_qa.main, "generate_qa.py", "--mode", "e2e",
                                       "--model_name_or_path", e2e_t5, "--qa_model", models["qa"],
                                       "--input_file", src, "--output_file", out, "--device", "cpu")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    by_question = {r["question"]: r for r in records}
    assert by_question[FACT[2]]["kept"] and by_question[FACT[2]]["roundtrip_answer"] == FACT[0]
    assert by_question["北部の町は。"]["reason"] == "answer not in passage"
    malformed = [r for r in records if r["reason"] == "malformed pair"]
    assert len(malformed) == 1 and "answer" in malformed[0]["problem"]
    summary = json.loads(out.with_suffix(".summary.json").read_text(encoding="utf-8"))
    assert summary["answers"] == "e2e" and summary["candidates"] == 4 and summary["malformed_pairs"] == 1
    assert summary["dropped"]["malformed pair"] == 1 and summary["dropped"]["answer not in passage"] == 1
    assert "malformed pair: 1" in err
    metrics_path = tmp_path / "m.json"
    code, stdout, err = run_main_in_process(capsys, score_qag.main, "score_qag.py", "--predictions", out,
                                            "--references_json", src, "--output", metrics_path)
    assert code == 0, err
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    kept = sum(r["kept"] for r in records)
    assert metrics["n_generated"] == kept and metrics["qa_aligned_precision"] == pytest.approx(100.0)


def test_e2e_needs_a_qa_model_and_no_answer_source(e2e_t5, tmp_path, capsys):
    src = jsquad(tmp_path / "valid.json")
    for flags, message in ((["--mode", "e2e"], "--qa_model"), (["--mode", "e2e", "--qa_model", e2e_t5, "--answers",
                                                                "ner"], "--answers")):
        code, _, err = run_main_in_process(capsys, generate_qa.main, "generate_qa.py", "--model_name_or_path",
                                           e2e_t5, "--input_file", src, "--output_file", tmp_path / "o.jsonl",
                                           *flags)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()


def test_generate_qa_e2e_with_a_chat_model_reads_its_wrapped_json_list(models, tmp_path):
    harmony_dir = make_harmony(make_qwen(tmp_path / "qwen"), tmp_path / "harmony")
    model, tok = load_model(str(harmony_dir), device="cpu")
    data = {"task": "e2e", "format": "chat", "system_prompt": "簡潔に。",
            "template": "次の文章から質問と答えを。\n{context}"}
    reply = ("<|channel|>analysis<|message|>考えます<|end|><|start|>assistant<|channel|>final<|message|>```json\n"
             + format_e2e_target(PAIRS[:2], "chat")[:-1] + ', {"question": "答えのない質問"}]\n```<|return|>')
    seen = {}
    forced(model, tok, {"": reply}, seen)
    e2e = TaskModel(model, tok, data["template"], 96, prompt=chat_prompt(model, tok, data))
    qa = load_qa_model(str(models["qa"]), device="cpu")
    qa_task = TaskModel(qa.model, qa.tokenizer, qa.template, qa.max_new_tokens)
    docs = read_documents(jsquad(tmp_path / "valid.json"))
    result = generate_qa_e2e(docs, e2e, qa_task, fmt="chat", config=QagConfig(progress=False))
    prompt = tok.decode(seen["input_ids"][0])
    assert "<|start|>system<|message|>簡潔に。<|end|>" in prompt and prompt.endswith("<|start|>assistant")
    assert [(r["question"], r["answer"]) for r in result.records if r["reason"] != "malformed pair"] == PAIRS[:2]
    assert not any(m in r["question"] + r["answer"] for r in result.records for m in HARMONY_TOKENS + ["```"])
    assert result.summary["malformed_pairs"] == 1 and result.records[0]["problem"].startswith("pair 3")
    assert result.summary["kept"] >= 1
