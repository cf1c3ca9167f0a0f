import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from jaqg.core.normalize import normalize
from jaqg.data import synthetic

SHARED_VOCAB = set(synthetic.PREFECTURES) | set(synthetic.PRODUCTS) | set(synthetic.OCCUPATIONS)


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "jaqg", "make-synthetic-jsquad", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def qas(data):
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                yield article, para["context"], qa


def test_spans_counts_and_layout():
    data = synthetic.make_split("train", 500, seed=3)
    rows = list(qas(data))
    assert len(rows) == 500
    assert len({qa["id"] for _, _, qa in rows}) == 500
    in_title = 0
    for article, context, qa in rows:
        title, body = context.split(" [SEP] ")
        assert title == article["title"] and body
        answer = qa["answers"][0]
        # JSQuAD convention: answer_start is the first occurrence of the text
        assert answer["answer_start"] == context.find(answer["text"]) >= 0
        assert qa["is_impossible"] is False and qa["question"].endswith("か。")
        in_title += answer["answer_start"] < len(title)
        # prepare scripts normalize; a synthetic context must survive that unchanged so the spans stay valid
        assert normalize(context) == context and normalize(qa["question"]) == qa["question"]
    assert 0.03 < in_title / len(rows) < 0.3
    kinds = {re.sub(r"\d+", "N", qa["question"][-6:]) for _, _, qa in rows}
    assert len(kinds) >= 10  # many question types, not one template


def test_train_and_valid_share_no_names():
    train, valid = synthetic.make_split("train", 2000, 0), synthetic.make_split("valid", 500, 0)
    train_titles = {a["title"] for a in train["data"]}
    assert train_titles.isdisjoint(a["title"] for a in valid["data"])
    train_answers = {qa["answers"][0]["text"] for _, _, qa in qas(train)}
    for _, _, qa in qas(valid):
        text = qa["answers"][0]["text"]
        if text not in SHARED_VOCAB and not re.fullmatch(r"\d+[年人]", text):
            assert text not in train_answers, text
            assert synthetic.split_of(text) == "valid"


def test_deterministic_by_seed():
    assert synthetic.make_split("valid", 50, 1) == synthetic.make_split("valid", 50, 1)
    assert synthetic.make_split("valid", 50, 1) != synthetic.make_split("valid", 50, 2)


def test_cli_writes_jsquad_files(tmp_path):
    proc = run_module("--output_dir", tmp_path, "--n_train=30", "--n_valid", "7", "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    for name, n in (("train-v1.3.json", 30), ("valid-v1.3.json", 7)):
        data = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        assert len(list(qas(data))) == n
    assert "train-v1.3.json" in proc.stdout


@pytest.mark.parametrize("flag", ["--n_train=0", "--n_valid=-1"])
def test_cli_rejects_empty_split(tmp_path, flag):
    proc = run_module("--output_dir", tmp_path, flag)
    assert proc.returncode == 2 and "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_max_sentences_shortens_contexts_and_keeps_questions_answerable():
    full, short = synthetic.make_split("train", 300, 0), synthetic.make_split("train", 300, 0, max_sentences=2)
    mean = lambda d: sum(len(c) for _, c, _ in qas(d)) / 300
    assert mean(short) < 0.75 * mean(full)
    for _, context, qa in qas(short):
        assert context.split(" [SEP] ")[1].count("。") <= 2
        assert qa["answers"][0]["answer_start"] == context.find(qa["answers"][0]["text"]) >= 0


def test_all_questions_asks_every_fact_of_the_kept_sentences():
    data = synthetic.make_split("train", 300, 0, max_sentences=1, all_questions=True)
    assert len(list(qas(data))) == 300
    for article in data["data"][:-1]:  # the last paragraph may be cut at n_questions
        (para,) = article["paragraphs"]
        maker = {"町": "town", "村": "town", "市": "town"}.get(article["title"][-1])
        asked = {qa["answers"][0]["text"] for qa in para["qas"]}
        if maker == "town":  # the defining sentence answers one question: the prefecture
            assert len(para["qas"]) == 1 and asked <= set(synthetic.PREFECTURES)
        else:  # a person (birthplace, year, occupation) or a company (founder, year, town, its own name)
            assert len(para["qas"]) in (3, 4) and all(a in para["context"].split(" [SEP] ")[1] for a in asked)
