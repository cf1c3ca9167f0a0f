import os

import pytest

from jaqg.core.errors import UserError
from jaqg.core.io import (
    Example,
    atomic_dir,
    atomic_write,
    read_examples,
    read_json,
    read_predictions,
    write_examples,
    write_rows,
)


def write(tmp_path, text: str | bytes, name="data.tsv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_round_trip(tmp_path):
    rows = [Example("q1", "question: 何? context: 文", "答え"), Example("q2", "入力", "出力")]
    assert write_examples(tmp_path / "t.tsv", rows) == 2
    assert read_examples(tmp_path / "t.tsv") == rows


@pytest.mark.parametrize("text, message", [
    ("q1\tinput\ttarget\nq2\tonly two\n", r"data.tsv:2: expected 3 tab-separated fields .* found 2"),
    ("q1\tinput\ttarget\tfour\n", r"data.tsv:1: expected 3 .* found 4"),
    ("q1\t\ttarget\n", r"data.tsv:1: field 2 is empty"),
    ("q1\tinput\t \n", r"data.tsv:1: field 3 is empty"),
    ("q1\ta\tb\nq1\tc\td\n", r"data.tsv:2: duplicate id 'q1'"),
])
def test_reader_names_the_bad_line(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        read_examples(write(tmp_path, text))


def test_reader_rejects_non_utf8_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="not UTF-8"):
        read_examples(write(tmp_path, "q1\t入力\t出力\n".encode("shift_jis")))
    with pytest.raises(UserError, match="no such file"):
        read_examples(tmp_path / "nope.tsv")


def test_predictions_allow_extra_columns_but_not_empty_files(tmp_path):
    assert read_predictions(write(tmp_path, "q1\tp\tscore=1\n")) == [["q1", "p", "score=1"]]
    with pytest.raises(UserError, match="empty"):
        read_predictions(write(tmp_path, ""))


def test_crlf_lines_are_read_cleanly(tmp_path):
    assert read_examples(write(tmp_path, "q1\ta\tb\r\n")) == [Example("q1", "a", "b")]


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_keeps_old_file_and_leaves_no_temp(tmp_path, interrupt):
    path = write(tmp_path, "q1\told\tfile\n")
    with pytest.raises(interrupt):
        with atomic_write(path) as f:
            f.write("q1\tnew\t")
            raise interrupt()
    assert path.read_text(encoding="utf-8") == "q1\told\tfile\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.tsv"]


def test_writer_refuses_bad_fields_without_leaving_a_file(tmp_path):
    with pytest.raises(ValueError, match="tab/newline"):
        write_rows(tmp_path / "t.tsv", [["q1", "a", "b"], ["q2", "a\tb", "c"]])
    with pytest.raises(ValueError, match="empty"):
        write_rows(tmp_path / "t.tsv", [["q1", "", "b"]])
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_normal_permissions(tmp_path):
    write_rows(tmp_path / "t.tsv", [["q1", "a", "b"]])
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "t.tsv").stat().st_mode & 0o777 == 0o666 & ~umask  # what open() gives, not mkstemp's 0600


def test_atomic_dir_creates_nothing_on_failure(tmp_path):
    target = tmp_path / "deep" / "data"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as staging:
            write_rows(staging / "train.tsv", [["q1", "a", "b"]])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(target) as staging:
        write_rows(staging / "train.tsv", [["q1", "a", "b"]])
    assert [p.name for p in target.iterdir()] == ["train.tsv"]
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["data"]


def test_read_json_reports_line(tmp_path):
    with pytest.raises(UserError, match=r"bad.json:3: malformed JSON"):
        read_json(write(tmp_path, '{\n "a": 1,\n "b": ,\n "c": 2}\n', "bad.json"))
