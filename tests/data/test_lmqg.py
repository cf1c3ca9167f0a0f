"""lmqg's processed QG JSONL as a data source (jaqg/data/lmqg.py, `jaqg prepare-lmqg`): lmqg's split kept, its
highlight kept, bad lines named by file:line. The sentences are our own, written for these tests."""

import json

import pytest

from jaqg.cli.prepare import prepare_lmqg
from jaqg.core.errors import UserError
from jaqg.data.lmqg import read_rows

# 猫 occurs twice in the paragraph; lmqg's paragraph_answer highlights the SECOND one.
PARAGRAPH = "猫は家で飼われる。近所の猫は三毛猫で、名前はタマという。"
ROWS = {
    "train": [
        {"question": "近所の猫の名前は何?", "paragraph": PARAGRAPH, "answer": "タマ",
         "sentence": "近所の猫は三毛猫で、名前はタマという。",
         "paragraph_answer": "猫は家で飼われる。近所の猫は三毛猫で、名前は<hl>タマ<hl>という。",
         "sentence_answer": "近所の猫は三毛猫で、名前は<hl>タマ<hl>という。"},
        {"question": "三毛猫なのは近所の何?", "paragraph": PARAGRAPH, "answer": "猫",
         "sentence": "近所の猫は三毛猫で、名前はタマという。",
         "paragraph_answer": "猫は家で飼われる。近所の<hl>猫<hl>は三毛猫で、名前はタマという。"},
    ],
    "validation": [
        {"question": "富士山の高さは?", "paragraph": "富士山の高さは3776メートルである。", "answer": "3776メートル",
         "sentence": "富士山の高さは3776メートルである。",
         "paragraph_answer": "富士山の高さは<hl>3776メートル<hl>である。"},
    ],
    "test": [
        {"question": "琵琶湖がある県は?", "paragraph": "琵琶湖は滋賀県にある。", "answer": "滋賀県",
         "sentence": "琵琶湖は滋賀県にある。", "paragraph_answer": "琵琶湖は<hl>滋賀県<hl>にある。"},
        {"question": "答えが文中にない?", "paragraph": "琵琶湖は滋賀県にある。", "answer": "京都府",
         "sentence": "琵琶湖は滋賀県にある。", "paragraph_answer": "琵琶湖は滋賀県にある。"},
    ],
}


def write_lmqg(folder, rows=ROWS):
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items),
                                               encoding="utf-8")
    return folder


def read_tsv(path):
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def test_prepare_lmqg_keeps_lmqg_split_and_highlight(tmp_path):
    src = write_lmqg(tmp_path / "qg")
    out = tmp_path / "data"
    assert prepare_lmqg(["--lmqg_dir", str(src), "--highlight", "--output_dir", str(out)]) == 0
    train, dev, test = (read_tsv(out / f"{s}.tsv") for s in ("train", "dev", "test"))
    # lmqg's split as is: 2 train, 1 validation -> dev, 1 test (the other test line's answer is not in its paragraph)
    assert [r[0] for r in train] == ["train-1", "train-2"]
    assert [r[0] for r in dev] == ["validation-1"]
    assert [r[0] for r in test] == ["test-1"]
    # the second 猫 is highlighted, as lmqg's paragraph_answer says (not the first occurrence)
    assert train[1][1] == "猫は家で飼われる。近所の<hl>猫<hl>は三毛猫で、名前はタマという。"
    assert train[1][2] == "三毛猫なのは近所の何?"
    report = json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))
    assert report["skipped"]["test"] == {"answer not in normalized paragraph": 1}
    assert report["hl_strategy"] == "annotated"


def test_shards_and_data_processed(tmp_path):
    src = tmp_path / "qg"
    write_lmqg(src / "data" / "processed", {"validation": ROWS["validation"], "test": ROWS["test"]})
    for i, row in enumerate(ROWS["train"]):
        (src / "data" / "processed" / f"train{i:02d}.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n",
                                                                         encoding="utf-8")
    out = tmp_path / "data"
    prepare_lmqg(["--lmqg_dir", str(src), "--output_dir", str(out)])
    assert [r[0] for r in read_tsv(out / "train.tsv")] == ["train00-1", "train01-1"]
    assert read_tsv(out / "dev.tsv")[0][1] == "answer: 3776メートル context: 富士山の高さは3776メートルである。"


@pytest.mark.parametrize("line, message", [
    ("{not json", "test.jsonl:2: malformed JSON"),
    ('{"question": "q", "paragraph": "p", "answer": "a"}', "test.jsonl:2: missing key 'sentence'"),
    ('{"question": 3, "paragraph": "p", "answer": "a", "sentence": "s"}',
     "test.jsonl:2: 'question' should be a string"),
])
def test_bad_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(ROWS["test"][0], ensure_ascii=False) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_rows(path)


def test_missing_split_file_is_one_line_error(tmp_path):
    src = write_lmqg(tmp_path / "qg", {"train": ROWS["train"], "test": ROWS["test"]})
    with pytest.raises(UserError, match="no validation.jsonl"):
        prepare_lmqg(["--lmqg_dir", str(src), "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()
