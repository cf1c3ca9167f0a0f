"""jaqg train-grpo: TRL's GRPOTrainer with LoRA and jaqg's reward components on a tiny Qwen2.5 stand-in (chat
data): a couple of steps log every reward component and move the LoRA weights; bad settings are one line."""

import csv
import json

import pytest
import torch
from conftest import ROOT, run_main_in_process
from safetensors.torch import load_file
from trained_models import FACT, SEED

from jaqg.core.errors import UserError
from jaqg.data.formats import DEFAULT_INSTRUCTIONS, DEFAULT_SYSTEM_PROMPT

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    from jaqg.models.standins import build_standin
    return build_standin(QWEN, tmp_path_factory.mktemp("qwen") / "qwen", data_dir=ROOT / "examples" / "jsquad")


def chat_data(data_dir):
    data_dir.mkdir(parents=True)
    template = DEFAULT_INSTRUCTIONS["aqg"]
    lines = [json.dumps({"id": f"c{i}", "messages": [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": template.format(answer=a, context=c)},
        {"role": "assistant", "content": q}]}, ensure_ascii=False) for i, (a, c, q) in enumerate([SEED, FACT] * 2)]
    (data_dir / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data_dir / "prepare_report.json").write_text(json.dumps({"task": "aqg", "template": template, "format": "chat"},
                                                             ensure_ascii=False), encoding="utf-8")
    return data_dir


def grpo(capsys, *argv):
    from jaqg.cli.train_grpo import main
    return run_main_in_process(capsys, main, "jaqg train-grpo", *argv)


def test_prompts_and_answers_are_read_back_from_chat_rows(tmp_path):
    from jaqg.training.grpo import read_prompts
    from jaqg.training.rewards import input_parser
    data = chat_data(tmp_path / "data")
    rows = read_prompts(data / "train.jsonl", input_parser("aqg", DEFAULT_INSTRUCTIONS["aqg"]))
    assert len(rows) == 4 and [m["role"] for m in rows[0]["prompt"]] == ["system", "user"]
    assert (rows[0]["answer"], rows[0]["passage"], rows[0]["reference"]) == SEED
    bad = tmp_path / "bad.jsonl"  # the reference must follow a user turn: the same check as chat inference
    bad.write_text((data / "train.jsonl").read_text(encoding="utf-8").splitlines()[0] + "\n" + json.dumps(
        {"messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": "q"}]}) + "\n",
        encoding="utf-8")
    with pytest.raises(UserError, match=r"bad\.jsonl:2: the last two messages must be a user turn"):
        read_prompts(bad, input_parser("aqg", DEFAULT_INSTRUCTIONS["aqg"]))


def test_two_grpo_steps_log_each_reward_and_move_the_lora_weights(capsys, qwen, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "out"
    status, stdout, err = grpo(capsys, "--model_name_or_path", qwen, "--data_dir", chat_data(tmp_path / "data"),
                               "--output_dir", out, "--reward", "ref_f1:1", "form:0.5", "leakage:-1.5",
                               "hallucination:-0.5", "--max_steps", 2, "--logging_steps", 1,
                               "--per_device_train_batch_size", 4, "--num_generations", 4,
                               "--max_completion_length", 12, "--learning_rate", "1e-2", "--seed", 0)
    assert status == 0, err
    with open(out / "logs" / "metrics.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("reward")]
    assert [r["step"] for r in rows] == ["1", "2"]
    for column in ("reward_ref_f1", "reward_form", "reward_leakage", "reward_hallucination", "degenerate", "kl",
                   "train_loss"):
        assert all(r[column] != "" for r in rows), column
    for r in rows:  # the total is TRL's weighted sum of the logged component means (degenerate weighs 0)
        total = (float(r["reward_ref_f1"]) + 0.5 * float(r["reward_form"]) - 1.5 * float(r["reward_leakage"])
                 - 0.5 * float(r["reward_hallucination"]))
        assert float(r["reward"]) == pytest.approx(total, abs=1e-4)
    assert (out / "reward_curves.png").is_file() and (out / "run_config.json").is_file()
    before, after = load_file(qwen / "model.safetensors"), load_file(out / "model.safetensors")
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert moved and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in moved), moved  # LoRA merged in
    assert "trainable parameters" in stdout


@pytest.mark.parametrize("extra, message", [
    (["--num_generations", "1"], "--num_generations must be at least 2"),
    (["--per_device_train_batch_size", "6"], "--per_device_train_batch_size 6 must be a multiple"),
    (["--reward", "qa_f1:1"], "--qa_model"),
    (["--reward", "bleu:1"], "unknown component 'bleu'"),
])
def test_bad_settings_stop_with_one_line(capsys, qwen, tmp_path, extra, message):
    status, _, err = grpo(capsys, "--model_name_or_path", qwen, "--data_dir", chat_data(tmp_path / "data"),
                          "--output_dir", tmp_path / "out", "--num_generations", 4, *extra)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
