"""predict.py: TSV or plain text in, predictions TSV / n-best JSONL out, bad input -> one line, nothing written."""

import json

import pytest
from chat_models import forced, make_qwen
from conftest import run_main_in_process
from trained_models import FACT, SEED, aqg_pairs

from jaqg.cli import predict as predict_script
from jaqg.generation.decoding import load_model


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


def test_gpt_data_file_prompts_with_the_prompt_alone(capsys, tmp_path, monkeypatch):
    """A run_clm.py data file (prompt<sep>question</s>) used to be fed whole, gold question included: now the prompt
    is the input, the question the reference column, ids as run_clm.py --do_eval writes them."""
    data = tmp_path / "test.txt"
    data.write_text(f"{SEED[1]}<sep>{SEED[2]}</s>\n{FACT[1]}<sep>{FACT[2]}</s>\n", encoding="utf-8")
    seen = []
    monkeypatch.setattr(predict_script, "load_model", lambda *a, **k: (None, None))
    monkeypatch.setattr(predict_script, "model_prompt", lambda *a, **k: None)
    monkeypatch.setattr(predict_script, "generate", lambda model, tok, inputs, **k: seen.extend(inputs) or
                        [["答え"] for _ in inputs])
    out = tmp_path / "p.tsv"
    status, _, err = run_main(capsys, "--model_name_or_path", tmp_path, "--input_file", data, "--output_file", out)
    assert status == 0, err
    assert seen == [SEED[1], FACT[1]]
    assert out.read_text(encoding="utf-8") == f"line1\t答え\t{SEED[2]}\nline2\t答え\t{FACT[2]}\n"
    data.write_text(f"{SEED[1]}<sep>{SEED[2]}</s>\n{FACT[1]}\n", encoding="utf-8")
    status, _, err = run_main(capsys, "--model_name_or_path", tmp_path, "--input_file", data, "--output_file",
                              tmp_path / "never.tsv")
    assert status == 2 and "test.txt:2: no <sep> here, but line 1 has one" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "never.tsv").exists()


def chat_file(path, rows):
    path.write_text("".join(json.dumps({"id": i, "messages": [
        {"role": "system", "content": "短く答えて。"}, {"role": "user", "content": q},
        {"role": "assistant", "content": a}]}, ensure_ascii=False) + "\n" for i, q, a in rows), encoding="utf-8")
    return path


def test_chat_jsonl_prompts_through_the_template_and_few_shot_adds_turns(capsys, tmp_path, monkeypatch):
    """messages[:-1] through the chat template, the assistant turn the reference; --few_shot K puts K training
    examples first as user/assistant turns and says how many were used."""
    model, tok = load_model(str(make_qwen(tmp_path / "qwen")), device="cpu")
    seen = {}
    forced(model, tok, {"甲府市": "山梨県<|im_end|>", "森瀬市": "北部<|im_end|>"}, seen)
    monkeypatch.setattr(predict_script, "load_model", lambda *a, **k: (model, tok))
    test = chat_file(tmp_path / "test.jsonl", [("t1", "甲府市はどこの市か。", "山梨県"),
                                               ("t2", "森瀬市はどこか。", "北部")])
    train = chat_file(tmp_path / "train.jsonl", [(f"r{i}", f"例の質問{i}", f"例の答え{i}") for i in range(5)])
    out = tmp_path / "p.tsv"
    status, stdout, err = run_main(capsys, "--model_name_or_path", tmp_path / "qwen", "--input_file", test,
                                   "--output_file", out)
    assert status == 0, err
    assert out.read_text(encoding="utf-8") == "t1\t山梨県\t山梨県\nt2\t北部\t北部\n" and "chat template" in stdout
    prompt = tok.decode(seen["input_ids"][0])
    assert "<|im_start|>system\n短く答えて。<|im_end|>" in prompt and "山梨県" not in prompt  # no reference leak
    status, stdout, err = run_main(capsys, "--model_name_or_path", tmp_path / "qwen", "--input_file", test,
                                   "--output_file", out, "--few_shot", "2", "--few_shot_file", train)
    assert status == 0 and "2-shot: 4 shots used, 0 prompt(s) cut to fit" in stdout, err
    prompt = tok.decode(seen["input_ids"][0])
    assert prompt.count("<|im_start|>assistant\n例の答え") == 2 and prompt.index("例の答え") < prompt.index("甲府市")


@pytest.mark.parametrize("content, flags, message", [
    ('{"id": "a", "messages": [{"role": "user", "content": "q"}]}\n', [],
     "test.jsonl:1: the last message is not an assistant turn"),
    ('{"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "r"}]}\n', [],
     "test.jsonl:1: the last message is not an assistant turn"),
    ('{"id": "a", "messages": [{"role": "system", "content": "q"}, {"role": "assistant", "content": "r"}]}\n', [],
     "test.jsonl:1: the last two messages must be a user turn"),
    ('{"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]}\n',
     ["--few_shot", "2"], "--few_shot needs --few_shot_file")])
def test_bad_chat_input_or_few_shot_flags_are_one_line(capsys, tmp_path, monkeypatch, models, content, flags,
                                                       message):
    data = tmp_path / "test.jsonl"
    data.write_text(content, encoding="utf-8")
    out = tmp_path / "p.tsv"
    status, _, err = run_main(capsys, "--model_name_or_path", models["gpt"], "--input_file", data, "--output_file",
                              out, *flags)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
