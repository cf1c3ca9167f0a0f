"""generate.py: the seed's recipes, inputs built from run_config, JSONL in / JSON out, round trip, bad input."""

import json

import pytest
from conftest import run_main_in_process
from trained_models import FACT, SEED

import generate as generate_script


def run_main(capsys, *argv):
    return run_main_in_process(capsys, generate_script.main, "generate.py", *argv)


def test_seed_recipe_with_bad_words(run, capsys, models):
    answer, context, question = SEED
    status, out, _ = run_main(capsys, "--model_name_or_path", models["aqg"], "--answer", answer, "--context", context)
    assert status == 0 and out.strip() == question  # the model says 山梨 ...
    blocked = run("generate.py", "--model_name_or_path", models["aqg"], "--answer", answer, "--context", context,
                  "--bad_words", "山梨", "山梨県", "--threads", "1")
    assert blocked.returncode == 0, blocked.stderr
    assert blocked.stdout.strip() and "山梨" not in blocked.stdout  # ... and with --bad_words it does not


def test_missing_model_dir_is_one_line(capsys, tmp_path):
    status, out, err = run_main(capsys, "--model_name_or_path", tmp_path / "nope", "--answer", "a", "--context", "a")
    assert status == 2 and out == "" and err.count("\n") == 1 and "no such model dir" in err


@pytest.mark.parametrize("argv, message", [
    (["--answer", "森瀬市", "--context", " "], "the context is empty"),
    (["--answer", "大阪", "--context", FACT[1], "--highlight"], "does not occur in the context"),
    (["--answer", "森瀬市"], "pass --answer and --context"),
    (["--answer", "森瀬市", "--context", FACT[1], "--num_return_sequences", "2"], "--num_beams 1 must be at least"),
    (["--answer", "森瀬市", "--context", FACT[1], "--bad_words", "山梨", " "], "empty word"),
])
def test_bad_input_is_one_line_exit_2(capsys, models, argv, message):
    status, out, err = run_main(capsys, "--model_name_or_path", models["aqg"], *argv)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_bad_jsonl_line_names_path_and_line(capsys, models, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"answer": "森瀬市", "context": FACT[1]}) + "\n{\"answer\": 1}\n", encoding="utf-8")
    status, _, err = run_main(capsys, "--model_name_or_path", models["aqg"], "--input_file", path)
    assert status == 2 and f"{path}:2:" in err


def test_input_file_json_nbest_in_order(capsys, models, tmp_path):
    path = tmp_path / "items.jsonl"
    items = [{"id": "f", "answer": FACT[0], "context": FACT[1]}, {"answer": SEED[0], "context": SEED[1]}]
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    status, out, _ = run_main(capsys, "--model_name_or_path", models["aqg"], "--input_file", path, "--json",
                              "--num_beams", "4", "--num_beam_groups", "2", "--diversity_penalty", "1.0",
                              "--num_return_sequences", "3")
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [r["id"] for r in records] == ["f", "2"]
    assert [r["questions"][0] for r in records] == [FACT[2], SEED[2]]
    assert all(len(set(r["questions"])) == 3 for r in records)
    assert records[0]["input"] == f"answer: {FACT[0]} context: {FACT[1]}"


def test_highlight_builds_the_hl_input(capsys, models):
    status, out, _ = run_main(capsys, "--model_name_or_path", models["aqg"], "--answer", FACT[0], "--context",
                              FACT[1], "--highlight", "--json")
    assert status == 0 and json.loads(out)["input"] == f"<hl>{FACT[0]}<hl>{FACT[1][len(FACT[0]):]}"


def test_roundtrip_qa_drops_unanswerable_questions(capsys, models, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"answer": FACT[0], "context": FACT[1]}, ensure_ascii=False) + "\n", encoding="utf-8")
    status, out, err = run_main(capsys, "--model_name_or_path", models["aqg"], "--input_file", path, "--json",
                                "--roundtrip_qa", models["qa"], "--num_beams", "4", "--num_return_sequences", "4")
    record = json.loads(out)
    assert status == 0 and record["questions"][0] == FACT[2]  # the QA model answers it with 森瀬市
    assert len(record["questions"]) + len(record["dropped"]) == 4
    assert f"dropped {len(record['dropped'])} " in err
