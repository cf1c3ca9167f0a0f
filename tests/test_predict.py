"""predict.py: TSV or plain text in, predictions TSV / n-best JSONL out, bad input -> one line, nothing written."""

import json

import predict as predict_script
from conftest import run_main_in_process
from test_generation import FACT, SEED, aqg_pairs, models  # noqa: F401  (session fixture)


def run_main(capsys, *argv):
    return run_main_in_process(capsys, predict_script.main, "predict.py", *argv)


def test_tsv_in_predictions_out(capsys, models, tmp_path):
    data = tmp_path / "test.tsv"
    data.write_text("".join(f"q{i}\t{x}\t{y}\n" for i, (x, y) in enumerate(aqg_pairs())), encoding="utf-8")
    tsv, jsonl = tmp_path / "out" / "predictions.tsv", tmp_path / "nbest.jsonl"
    status, out, err = run_main(capsys, "--model_name_or_path", models["aqg"], "--input_file", data, "--output_file",
                                tsv)
    assert status == 0 and "wrote 2 prediction(s) for 2 input(s)" in out, err
    assert tsv.read_text(encoding="utf-8") == f"q0\t{SEED[2]}\t{SEED[2]}\nq1\t{FACT[2]}\t{FACT[2]}\n"
    # plain text in (ids are line numbers), n-best JSONL out
    text = tmp_path / "inputs.txt"
    text.write_text("".join(f"{x}\n" for x, _ in aqg_pairs()), encoding="utf-8")
    status, _, _ = run_main(capsys, "--model_name_or_path", models["aqg"], "--input_file", text, "--output_file",
                            jsonl, "--num_beams", "4", "--num_return_sequences", "3", "--progress=false")
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert status == 0 and [r["id"] for r in records] == ["1", "2"]
    assert [r["predictions"][0] for r in records] == [SEED[2], FACT[2]]
    assert all(len(set(r["predictions"])) == 3 for r in records)


def test_bad_tsv_is_one_line_and_writes_nothing(capsys, models, tmp_path):
    data = tmp_path / "test.tsv"
    data.write_text("a\tinput\tt\nb\t\tt\n", encoding="utf-8")
    out = tmp_path / "predictions.tsv"
    status, _, err = run_main(capsys, "--model_name_or_path", models["aqg"], "--input_file", data, "--output_file", out)
    assert status == 2 and err.count("\n") == 1 and f"{data}:2:" in err
    assert not out.exists()
