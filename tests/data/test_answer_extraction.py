"""The sentence splitter, answer-extraction (AE) data and multitask data (prepare_*_aqg.py --task ae|multi)."""

import json

import pytest
from conftest import ROOT

from jaqg.core.io import read_examples
from jaqg.core.sentences import sentence_spans, split_sentences
from jaqg.data.answer_extraction import NUMERIC_EXPRESSION, build_ae_examples
from jaqg.data.formats import GPT_SEP, HL_TOKEN, parse_ae_output, task_of_input
from jaqg.data.prepare import Record, paragraph_key

JSQUAD = ROOT / "examples" / "jsquad"
QUIZ = ROOT / "examples" / "quiz"


@pytest.mark.parametrize("text, sentences", [
    ("雨が降った。傘をさした!晴れるか?", ["雨が降った。", "傘をさした!", "晴れるか?"]),
    ("「行こう。」と言った。本当?!うん", ["「行こう。」", "と言った。", "本当?!", "うん"]),
    ("値は3.5だ。(注記あり。)次。", ["値は3.5だ。", "(注記あり。)", "次。"]),
    ("終わりのない文", ["終わりのない文"]),
    ("一文。 二文。", ["一文。", " 二文。"]),
    ("", []),
])
def test_sentences_partition_the_text(text, sentences):
    assert split_sentences(text) == sentences
    assert "".join(split_sentences(text)) == text  # no text lost
    spans = sentence_spans(text)
    assert all(b > a for a, b in spans) and all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))


def test_ae_targets_are_the_answers_of_the_highlighted_sentence_in_order():
    context = "山田町 [SEP] 山田町は海沿いの町である。1950年に港が開かれ、漁業と観光で栄えた。町の鳥はカモメ。"
    records = [Record("p1q0", "港が開かれたのは何年か。", ["1950年"], context, "山田町"),
               Record("p1q1", "山田町は何で栄えたか。", ["観光"], context, "山田町"),
               Record("p1q2", "山田町は何で栄えたか。", ["漁業"], context, "山田町"),
               Record("p1q3", "町の鳥は何か。", ["カモメ"], context, "山田町"),
               Record("p1q4", "この町の名前は何か。", ["山田町"], "山田町 [SEP] 海の町。", "山田町"),  # title only
               Record("p1q5", "何が開かれたか。", ["港"], context, "山田町")]
    examples, skipped = build_ae_examples(records, "{context}", "related", "[SEP]")
    assert [(e.id, e.target) for e in examples] == [
        ("p1-s1", f"1950年 {GPT_SEP} 港 {GPT_SEP} 漁業 {GPT_SEP} 観光"), ("p1-s2", "カモメ")]
    assert examples[0].input == ("山田町 [SEP] 山田町は海沿いの町である。"
                                 "<hl>1950年に港が開かれ、漁業と観光で栄えた。<hl>"
                                 "町の鳥はカモメ。")
    assert examples[0].input.count(HL_TOKEN) == 2
    assert skipped == {"answer only in the title": 1}
    assert parse_ae_output(examples[0].target) == ["1950年", "港", "漁業", "観光"]
    assert parse_ae_output(f"a<sep>b {GPT_SEP} a {GPT_SEP}  ") == ["a", "b"]
    assert paragraph_key("a123p0q14") == "a123p0" and paragraph_key("xyz") == "xyz-p"


def test_numeric_expressions():
    found = [m.group() for m in NUMERIC_EXPRESSION.finditer("人口は約18万人、高さ333m、二千三百人が来た千葉の3.5km先")]
    assert found == ["約18万人", "333m", "二千三百人", "3.5km"]


@pytest.mark.parametrize("script, source", [
    ("prepare_jsquad_aqg.py", ["--jsquad_dir", JSQUAD]),
    ("prepare_quiz_aqg.py", ["--train_file", QUIZ / "quiz_sample.json.gz", "--test_file", QUIZ / "quiz_sample.jsonl"]),
])
def test_multitask_data_mixes_three_tasks_with_prefixes(run, tmp_path, script, source):
    out = tmp_path / "multi"
    proc = run(script, *source, "--task", "multi", "--output_dir", out, "--ae_prefix", "extract: ")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    prefixes = {"qa": "question answering: ", "aqg_hl": "question generation: ", "ae": "extract: "}
    assert report["task"] == "multi" and report["task_prefixes"] == prefixes
    assert report["templates"]["qa"] == "question answering: question: {question} context: {context}"
    for split in ("train", "dev", "test"):
        examples = read_examples(out / f"{split}.tsv")
        tasks = [task_of_input(e.input, prefixes) for e in examples]
        assert None not in tasks
        assert report["by_task"][split] == {t: tasks.count(t) for t in prefixes}
        assert sum(report["by_task"][split].values()) == report["counts"][split] == len(examples)
        for e, task in zip(examples, tasks):
            assert e.id.endswith(":" + task)
            assert e.input.count(HL_TOKEN) == (0 if task == "qa" else 2)
            if task == "ae":  # every target answer lies inside the highlighted sentence
                sentence = e.input.split(HL_TOKEN)[1]
                assert all(a in sentence for a in parse_ae_output(e.target))
    assert report["by_task"]["train"]["ae"] > 0


def test_task_flags_are_checked(run, tmp_path):
    proc = run("prepare_jsquad_aqg.py", "--jsquad_dir", JSQUAD, "--task", "multi", "--qa_prefix", "question",
               "--qg_prefix", "question generation: ", "--output_dir", tmp_path / "x")
    assert proc.returncode == 2 and "one starts the other" in proc.stderr and not (tmp_path / "x").exists()
    proc = run("prepare_jsquad_aqg.py", "--jsquad_dir", JSQUAD, "--task", "multi", "--template", "{context}",
               "--output_dir", tmp_path / "x")
    assert proc.returncode == 2 and "--template" in proc.stderr and not (tmp_path / "x").exists()


def test_train_do_eval_reports_metrics_by_task(run, tmp_path, tiny_t5_dir):
    data, model = tmp_path / "multi", tmp_path / "model"
    assert run("prepare_jsquad_aqg.py", "--jsquad_dir", JSQUAD, "--task", "multi", "--output_dir", data).returncode == 0
    proc = run("train.py", "--do_train", "--do_eval", "--model_name_or_path", tiny_t5_dir, "--data_dir", data,
               "--output_dir", model, "--max_steps", "1", "--max_target_length", "8", "--eval_tokenizers", "char",
               env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((model / "metrics.json").read_text(encoding="utf-8"))
    report = json.loads((data / "prepare_report.json").read_text(encoding="utf-8"))
    assert {t: m["n"] for t, m in metrics["by_task"].items()} == report["by_task"]["test"]
    assert sum(m["n"] for m in metrics["by_task"].values()) == metrics["n"]
    # stdout: the mixed line says so; JGLUE's JSQuAD EM is named on the QA line only
    (mixed,) = [line for line in proc.stdout.splitlines() if line.startswith("all tasks mixed")]
    assert f"n = {metrics['n']}," in mixed and "JGLUE" not in mixed
    (qa_line,) = [line for line in proc.stdout.splitlines() if line.startswith("qa: n = ")]
    assert f"n = {metrics['by_task']['qa']['n']}," in qa_line and "JGLUE JSQuAD EM" in qa_line
    assert sum("JGLUE" in line for line in proc.stdout.splitlines()) == 1
    run_config = json.loads((model / "run_config.json").read_text(encoding="utf-8"))
    assert run_config["data"]["templates"]["ae"] == "answer extraction: {context}"
