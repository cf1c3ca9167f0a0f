"""The prepare scripts end to end, as a user runs them, on the hand-written samples in examples/."""

import gzip
import json
from pathlib import Path

import pytest
from conftest import ROOT

from jaqg.core.io import read_examples
from jaqg.core.normalize import normalize
from jaqg.data.highlight import occurrences

JSQUAD = ROOT / "examples" / "jsquad"
QUIZ = ROOT / "examples" / "quiz"


def questions(path: Path) -> dict[str, dict]:
    """id -> {question, answers (raw), context (raw), title} from a JSQuAD file."""
    out = {}
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                out[qa["id"]] = {"question": qa["question"], "answers": [a["text"] for a in qa["answers"]],
                                 "context": paragraph["context"], "title": article["title"]}
    return out


ALL_QUESTIONS = {**questions(JSQUAD / "train-v1.3.json"), **questions(JSQUAD / "valid-v1.3.json")}


def prepare(run, script, out, *args):
    proc = run(script, "--jsquad_dir", JSQUAD, "--output_dir", out, *args)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))


def test_qa_splits_by_article_and_keeps_every_reference(run, tmp_path):
    proc, report = prepare(run, "prepare_jsquad.py", tmp_path / "data", "--dev_ratio=0.2", "--seed", "3")
    data = tmp_path / "data"
    split = {name: read_examples(data / f"{name}.tsv") for name in ("train", "dev", "test")}
    assert report["task"] == "qa" and report["format"] == "tsv" and report["sep"] == "[SEP]"
    assert report["counts"] == {name: len(rows) for name, rows in split.items()}
    assert sum(report["counts"].values()) == len(ALL_QUESTIONS)  # nothing lost
    assert "train: " in proc.stderr and " written" in proc.stderr
    titles = {name: {ALL_QUESTIONS[e.id]["title"] for e in rows} for name, rows in split.items()}
    assert split["dev"] and not titles["train"] & titles["dev"]
    assert all(e.id.startswith("ex-valid") for e in split["test"])
    for e in split["train"]:
        q = ALL_QUESTIONS[e.id]
        assert e.input == f"question: {normalize(q['question'])} context: {normalize(q['context'])}"
        assert e.target == normalize(q["answers"][0])
    references = json.loads((data / "test_references.json").read_text(encoding="utf-8"))
    assert set(references) == {e.id for e in split["test"]}
    assert references["ex-valid00q1"] == ["千五百世帯", "千五百世帯分", "およそ千五百世帯"]
    for e in split["test"]:
        assert e.target == references[e.id][0]
    raw = json.loads((data / "test_references_raw.json").read_text(encoding="utf-8"))  # for JGLUE's metric
    assert raw == {e.id: ALL_QUESTIONS[e.id]["answers"] for e in split["test"]}


def test_split_is_seeded(capsys, tmp_path):
    from conftest import run_main_in_process

    from jaqg.cli.prepare import prepare_jsquad
    ids = []
    for seed in ("1", "1", "2"):  # in this process: three interpreter starts cost more than the test itself
        out = tmp_path / f"d{len(ids)}"
        status, _, err = run_main_in_process(capsys, prepare_jsquad, "prepare_jsquad.py", "--jsquad_dir", JSQUAD,
                                             "--output_dir", out, "--dev_ratio", "0.3", "--seed", seed)
        assert status == 0, err
        ids.append([e.id for e in read_examples(out / "dev.tsv")])
    assert ids[0] == ids[1] != ids[2]


def hl_span(text: str) -> tuple[str, int]:
    assert text.count("<hl>") == 2, text
    return text.split("<hl>")[1], text.index("<hl>")


def test_aqg_hl_rows_highlight_the_question_related_occurrence(run, tmp_path):
    out = tmp_path / "hl"
    proc, report = prepare(run, "prepare_jsquad_aqg.py", out, "--highlight")
    expected = json.loads((JSQUAD / "expected_highlights.json").read_text(encoding="utf-8"))
    assert report["task"] == "aqg_hl" and report["hl_strategy"] == "related"
    rows = [e for name in ("train", "dev", "test") for e in read_examples(out / f"{name}.tsv")]
    assert len(rows) == len(ALL_QUESTIONS)
    checked = 0
    for e in rows:
        q = ALL_QUESTIONS[e.id]
        answer = normalize(q["answers"][0])
        highlighted, at = hl_span(e.input)
        assert highlighted == answer and e.target == normalize(q["question"])
        context = e.input.replace("<hl>", "")
        assert context == normalize(q["context"])
        assert at > context.index(" [SEP] ")  # never in the title when the body has the answer
        if e.id in expected:
            assert occurrences(context, answer).index(at) == expected[e.id], e.id
            checked += 1
    # Title occurrences, repeats in one sentence and across sentences, full-width/half-width text before answers.
    assert checked == len(expected) >= 10


def test_annotated_strategy_is_jsquads_first_occurrence(run, tmp_path):
    out = tmp_path / "hl"
    _, report = prepare(run, "prepare_jsquad_aqg.py", out, "--highlight", "--hl_strategy=annotated")
    assert report["hl_strategy"] == "annotated"
    rows = {e.id: e for e in read_examples(out / "train.tsv")}
    # ﾐﾅﾄ製パン: the answer sits in the title; half-width katakana there change lengths.
    text = rows["ex-train01q2"].input
    assert text.startswith("<hl>ミナト製パン<hl> [SEP] ミナト製パンは")
    assert report["highlight"]["train"]["in title"] >= 3


def test_aqg_and_gpt_formats(run, tmp_path):
    _, report = prepare(run, "prepare_jsquad_aqg.py", tmp_path / "aqg")
    row = read_examples(tmp_path / "aqg" / "train.tsv")[0]
    q = ALL_QUESTIONS[row.id]
    assert row.input == f"answer: {normalize(q['answers'][0])} context: {normalize(q['context'])}"
    assert report["task"] == "aqg" and report["hl_strategy"] is None

    out = tmp_path / "gpt"
    _, report = prepare(run, "prepare_jsquad_aqg.py", out, "--highlight", "--format", "gpt")
    assert report["format"] == "gpt" and not list(out.glob("*.tsv"))
    lines = (out / "train.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == report["counts"]["train"]
    for line in lines:
        prompt, rest = line.split("<sep>")
        assert prompt.count("<hl>") == 2 and rest.endswith("</s>") and rest.count("</s>") == 1


def test_template_and_sep_flags(run, tmp_path):
    out = tmp_path / "t"
    prepare(run, "prepare_jsquad_aqg.py", out, "--template", "{answer} / {context}", "--sep=<sep>")
    row = read_examples(out / "train.tsv")[0]
    assert " <sep> " in row.input and "[SEP]" not in row.input
    assert row.input.startswith(normalize(ALL_QUESTIONS[row.id]["answers"][0]) + " / ")


def test_quiz_dpr_gz_and_jsonl(run, tmp_path):
    out = tmp_path / "quiz"
    proc = run("prepare_quiz_aqg.py", "--train_file", QUIZ / "quiz_sample.json.gz",
               "--test_file", QUIZ / "quiz_sample.jsonl", "--output_dir", out, "--highlight")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["skipped"]["train"] == {"no positive passage contains an answer": 1}
    assert "no positive passage contains an answer: 1" in proc.stderr
    rows = {e.id: e for name in ("train", "dev", "test") for e in read_examples(out / f"{name}.tsv")}
    assert len(rows) == 13 and report["counts"]["test"] == 4 and report["counts"]["dev"] >= 1
    # The answer is only in the second positive passage; in its body, not its title.
    assert rows["QZ002"].input == ("寒天 [SEP] <hl>寒天<hl>はテングサを煮溶かして固め、凍結と乾燥を繰り返して作る。"
                                   "寒天は和菓子の材料になる。")
    assert rows["q-j4"].input.count("<hl>1908年<hl>") == 1  # full-width digits in the context
    for e in rows.values():
        assert e.input.count("<hl>") == 2


def test_quiz_splits_dev_and_test_off_train(run, tmp_path):
    out = tmp_path / "quiz"
    proc = run("prepare_quiz_aqg.py", "--train_file", QUIZ / "quiz_sample.json.gz", "--test_file=",
               "--output_dir", out, "--test_ratio", "0.3")
    assert proc.returncode == 0, proc.stderr
    split = {name: read_examples(out / f"{name}.tsv") for name in ("train", "dev", "test")}
    assert all(split.values()) and sum(map(len, split.values())) == 9
    assert split["train"][0].input.startswith("answer: ")


def bad_json_files(tmp_path):
    good = json.loads((JSQUAD / "train-v1.3.json").read_text(encoding="utf-8"))
    no_question = json.loads(json.dumps(good))
    del no_question["data"][1]["paragraphs"][0]["qas"][2]["question"]
    wrong_type = json.loads(json.dumps(good))
    wrong_type["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = "12"
    files = {"malformed": '{"data": [\n{"title": "x",\n', "missing_key": no_question, "wrong_type": wrong_type,
             "not_squad": [1, 2]}
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(content if isinstance(content, str)
                                               else json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("script, args, message", [
    ("prepare_jsquad.py", ["--jsquad_dir", "{tmp}/nowhere"], "nowhere: no such folder; run `bash download.sh`"),
    ("prepare_jsquad.py", ["--train_file", "{tmp}/malformed.json"], "malformed.json:3: malformed JSON"),
    ("prepare_jsquad_aqg.py", ["--train_file", "{tmp}/missing_key.json", "--highlight"],
     "missing_key.json: data[1].paragraphs[0].qas[2]: missing key 'question'"),
    ("prepare_jsquad.py", ["--train_file", "{tmp}/wrong_type.json"], "answer_start: expected int, found str"),
    ("prepare_jsquad.py", ["--train_file", "{tmp}/not_squad.json"], "top level: expected a JSON object"),
    ("prepare_jsquad.py", ["--template", "{question}"], "--template: template '{question}' for task qa lacks"),
    ("prepare_jsquad_aqg.py", ["--dev_ratio", "1.5"], "--dev_ratio 1.5: must be between 0 and 1"),
    ("prepare_quiz_aqg.py", ["--train_file", "{tmp}/nothing.json.gz"], "nothing.json.gz: no such file"),
    ("prepare_quiz_aqg.py", ["--train_file", "{tmp}/malformed.json"], "malformed.json:1: malformed JSON"),
    ("prepare_quiz_aqg.py", ["--train_file", "{tmp}/broken.json.gz"], "broken.json.gz: cannot read"),
    ("prepare_quiz_aqg.py", ["--train_file", "{tmp}/missing.jsonl"], "missing.jsonl:2: missing key 'context'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(run, tmp_path, script, args, message):
    bad_json_files(tmp_path)
    (tmp_path / "broken.json.gz").write_bytes(gzip.compress(b'[{"question": "x"}]')[:15])
    (tmp_path / "missing.jsonl").write_text('{"id": "1", "question": "q", "answer": "a", "context": "a"}\n'
                                            '{"id": "2", "question": "q", "answer": "a"}\n', encoding="utf-8")
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if script != "prepare_quiz_aqg.py" and "--jsquad_dir" not in args:
        args += ["--jsquad_dir", str(JSQUAD)]
    if script == "prepare_quiz_aqg.py":
        args += ["--test_file", str(QUIZ / "quiz_sample.jsonl")]
    proc = run(script, *args, "--output_dir", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"{script}: error: ") and message in lines[0], lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_unanswerable_empty_and_duplicate_questions_are_counted(run, tmp_path):
    context = "町 [SEP] この町には川が一本流れている。"
    qas = [{"id": "a", "question": "町に流れているものは?", "answers": [{"text": "川", "answer_start": 7}]},
           {"id": "b", "question": "?", "answers": [], "is_impossible": True},
           {"id": "c", "question": "何?", "answers": []},
           {"id": "d", "question": "橋は?", "answers": [{"text": "橋", "answer_start": 0}]},
           {"id": "a", "question": "町に流れているものは?", "answers": [{"text": "川", "answer_start": 7}]}]
    data = {"data": [{"title": f"t{i}", "paragraphs": [{"context": context, "qas": qas}]} for i in range(2)]}
    (tmp_path / "train-v1.3.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "valid-v1.3.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "hl"
    proc = run("prepare_jsquad_aqg.py", "--highlight", "--jsquad_dir", tmp_path, "--output_dir", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["counts"]["test"] == 1
    assert report["skipped"]["test"] == {"is_impossible": 2, "no answer": 2, "answer not in normalized context": 2,
                                         "duplicate id": 3}
    assert "test: 1 written, 9 skipped" in proc.stderr
