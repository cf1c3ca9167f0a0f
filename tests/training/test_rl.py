"""Reinforcement from QA feedback: the reward components, the reward-hacking guard, the SCST loss's gradient
direction, and train.py --loss scst end to end on tiny models."""

import csv
import json
from pathlib import Path

import pytest
import torch
from trained_models import FACT, SEED

from jaqg.core.errors import ParamError
from jaqg.training.rewards import (
    DEFAULT_REWARDS,
    RewardItem,
    degenerate,
    form_score,
    input_parser,
    parse_rewards,
    score,
)
from jaqg.training.scst import sampled_labels, scst_loss, token_log_probs

ITEM = RewardItem(answer=SEED[0], passage=SEED[1], reference=SEED[2])


def one(name, question, item=ITEM, judges=None):
    return score([question], [item], [(name, 1.0)], judges)[1][name][0]


def test_leakage_flags_the_answer_inside_the_question():
    assert one("leakage", "甲府市はどこの市か。") == 1.0
    assert one("leakage", "甲府 市") == 1.0  # spaces and width ignored
    assert one("leakage", SEED[2]) == 0.0


def test_form_rewards_a_question_ending_and_a_sane_length():
    assert form_score("山梨県の中心の市はどこか。") == 1.0
    assert form_score("山梨県の中心の市は何ですか?") == 1.0
    assert form_score("山梨県の中心の市。") == 0.5  # long enough, but not a question
    assert form_score("何か") == 0.5  # a question, too short
    assert form_score("") == 0.0
    assert form_score("あ" * 100 + "か。") == 0.5


def test_ref_f1_is_char_f1_to_the_reference():
    assert one("ref_f1", SEED[2]) == 1.0
    assert one("ref_f1", "") == 0.0
    assert 0 < one("ref_f1", "山梨県の市はどこか。") < 1


def test_hallucination_counts_words_the_passage_lacks():
    assert one("hallucination", "山梨県の県庁所在地はどこか。") == 0.0
    assert one("hallucination", "東京の南にある村はどこか。") == 1.0  # 東京, 南, 村: capped at 3 -> 1


def test_qa_f1_needs_a_qa_model_and_scores_the_round_trip(models):
    from jaqg.evaluation.roundtrip import load_qa_model
    with pytest.raises(ParamError, match="`qa_model`"):
        one("qa_f1", FACT[2])
    qa = load_qa_model(str(models["qa"]), device="cpu")
    item = RewardItem(FACT[0], FACT[1], FACT[2])
    assert one("qa_f1", FACT[2], item, {"qa": qa}) == 1.0  # the QA model answers 森瀬市
    assert one("qa_f1", "森瀬市はどの県にあるか。", item, {"qa": qa}) < 1.0  # answered 山梨県
    assert one("qa_f1", "", item, {"qa": qa}) == 0.0  # nothing asked, nothing earned


def test_parse_rewards_names_the_setting():
    assert parse_rewards(["qa_f1:1", "leakage:-2", "form"]) == [("qa_f1", 1.0), ("leakage", -2.0), ("form", 1.0)]
    with pytest.raises(ParamError, match="`reward`.*unknown component"):
        parse_rewards(["bleu:1"])
    with pytest.raises(ParamError, match="`reward`.*number"):
        parse_rewards(["form:x"])


def test_degenerate_outputs():
    assert degenerate("", ITEM) and degenerate("。", ITEM)
    assert degenerate("甲府市", ITEM)  # the answer copied
    assert degenerate("県庁所在地は甲府市です。", ITEM)  # a span of the passage, asking nothing
    assert degenerate("どこかどこかどこかどこか", ITEM)  # a repeated n-gram
    assert degenerate("の中心の市はどこか。", ITEM)  # a fragment: the subject cut off
    assert not degenerate(SEED[2], ITEM)


def test_fragment_flags_a_question_whose_subject_was_cut_off():
    assert one("fragment", "の中心の市はどこか。") == 1.0 and one("fragment", "が創業した会社はどこか。") == 1.0
    assert one("fragment", "を作ったのは誰か") == 1.0
    for whole in (SEED[2], "デリユ商事の創業者は誰か。", "はじめに来たのは誰か。", "にんじんの産地はどこか。", ""):
        assert one("fragment", whole) == 0.0, whole  # katakana デ, words that start with a particle's kana


def test_cut_subject_flags_a_name_cut_short():
    item = RewardItem("森田花子", "サノ工業は1896年に森田花子が上江町で創業した商社である。",
                      "サノ工業を創業したのは誰か。")
    for cut in ("ノ工業の創業者は誰か。", "業の創業者は誰か。", "森が創業した会社はどこか。"):
        assert one("cut_subject", cut, item) == 1.0, cut
        assert degenerate(cut, item), cut
    for whole in (item.reference, "町はどこか。", "上江町で創業された会社はどこか。", "創業者は誰か。", "誰か"):
        assert one("cut_subject", whole, item) == 0.0, whole  # a whole word of a compound; no particle at all


def test_inputs_are_read_back_for_aqg_and_aqg_hl():
    assert input_parser("aqg", None)(f"answer: {SEED[0]} context: {SEED[1]}") == (SEED[0], SEED[1])
    assert input_parser("aqg", None)(f"answer:{SEED[0]}context:{SEED[1]}") == (SEED[0], SEED[1])
    assert input_parser("aqg_hl", None)("山梨県の県庁所在地は<hl> 甲府市 <hl>です。") == (SEED[0], SEED[1])
    with pytest.raises(ParamError, match="`loss`"):
        input_parser("qa", None)


def test_reward_hacking_policies_score_below_the_supervised_model(models):
    """Copying the answer into the question (bare, or dressed as a question), asking nothing, copying the passage,
    and cutting off, cutting short or garbling the subject score below the supervised model's own questions under
    the default mix."""
    from trained_models import aqg_pairs

    from jaqg.evaluation.roundtrip import load_qa_model
    from jaqg.generation.decoding import generate, load_model
    model, tok = load_model(str(models["aqg"]), device="cpu")
    supervised = [o[0] for o in generate(model, tok, [x for x, _ in aqg_pairs()])]
    assert supervised == [SEED[2], FACT[2]]  # the memorised questions
    items = [RewardItem(a, c, q) for a, c, q in (SEED, FACT)]
    judges = {"qa": load_qa_model(str(models["qa"]), device="cpu")}
    weights = parse_rewards(DEFAULT_REWARDS)

    def mean_reward(questions):
        return sum(score(questions, items, weights, judges)[0]) / len(questions)
    good = mean_reward(supervised)
    for policy in (lambda it: it.answer, lambda it: f"{it.answer}は何か。", lambda it: f"答えは{it.answer}ですか?",
                   lambda it: "", lambda it: it.passage,
                   lambda it: it.reference[it.reference.index("の"):],  # the subject cut off (scst learned it)
                   lambda it: it.reference[1:],  # the subject cut short (梨県の…: scst learned it next)
                   lambda it: "村村村" + it.reference[it.reference.index("の"):]):  # a garbled subject (and next)
        assert mean_reward([policy(it) for it in items]) < good, policy(items[0])


@pytest.fixture(scope="module")
def tiny_t5():
    from transformers import T5Config, T5ForConditionalGeneration
    torch.manual_seed(0)
    config = T5Config(vocab_size=20, d_model=16, d_ff=32, d_kv=8, num_heads=2, num_layers=1, num_decoder_layers=1,
                      dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return T5ForConditionalGeneration(config)


def test_sampled_labels_stop_after_the_first_eos():
    seqs = torch.tensor([[0, 5, 6, 1, 0, 0], [0, 7, 1, 8, 1, 0], [0, 5, 6, 7, 8, 9]])
    assert sampled_labels(seqs, 1).tolist() == [[5, 6, 1, -100, -100], [7, 1, -100, -100, -100], [5, 6, 7, 8, 9]]


@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_scst_step_moves_the_sample_log_prob_with_the_advantage_sign(tiny_t5, advantage):
    """A sample better than the greedy baseline (advantage > 0) gets its log-probability pushed up; worse, down."""
    import copy
    model = copy.deepcopy(tiny_t5)
    inputs = torch.tensor([[3, 4, 5, 1], [6, 7, 1, 0]])
    mask = (inputs != 0).long()
    labels = torch.tensor([[8, 9, 1], [10, 1, -100]])
    keep = labels != -100
    before = token_log_probs(model, inputs, mask, labels).sum(-1)
    loss, kl = scst_loss(before, keep, torch.full((2,), advantage))
    assert kl.item() == 0.0
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
        after = token_log_probs(model, inputs, mask, labels).sum(-1)
    assert ((after - before.detach()) * advantage > 0).all()


def test_kl_is_zero_against_itself_and_positive_when_moved(tiny_t5):
    inputs, mask = torch.tensor([[3, 4, 1]]), torch.tensor([[1, 1, 1]])
    labels = torch.tensor([[8, 9, 1]])
    logp = token_log_probs(tiny_t5, inputs, mask, labels)
    _, kl = scst_loss(logp, labels != -100, torch.zeros(1), logp.detach())
    assert kl.item() == pytest.approx(0.0, abs=1e-7)
    _, kl = scst_loss(logp, labels != -100, torch.zeros(1), logp.detach() - 0.5)
    assert kl.item() > 0


def aqg_data(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True)
    rows = [f"s{i}\tanswer: {a} context: {c}\t{q}\n" for i, (a, c, q) in enumerate([SEED, FACT] * 2)]
    for split in ("train", "dev", "test"):
        (data_dir / f"{split}.tsv").write_text("".join(rows), encoding="utf-8")
    (data_dir / "prepare_report.json").write_text(json.dumps(
        {"task": "aqg", "template": "answer: {answer} context: {context}", "format": "tsv"}), encoding="utf-8")
    return data_dir


def test_train_py_scst_logs_rewards_and_exports(models, tmp_path):
    from test_train import train_py
    data, out = aqg_data(tmp_path / "data"), tmp_path / "out"
    proc = train_py("--do_train", "--loss", "scst", "--model_name_or_path", models["aqg"], "--data_dir", data,
                    "--output_dir", out, "--qa_model", models["qa"], "--num_samples", 2, "--max_steps", 2,
                    "--log_every_n_steps", 1, "--train_batch_size", 2, "--eval_batch_size", 4,
                    "--max_target_length", 24, "--learning_rate", "1e-4", "--kl_coef", "0.1", "--mle_weight", "0.5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "logs" / "metrics.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = set(rows[0])
    assert {"reward", "reward_greedy", "kl", "degenerate", "mle", "reward_qa_f1", "reward_ref_f1", "reward_form",
            "reward_leakage", "reward_hallucination"} <= columns
    validated = [r for r in rows if r.get("val_loss")]
    assert validated and all(r["val_reward"] and r["val_reward_qa_f1"] and r["val_degenerate"] for r in validated)
    trained = [r for r in rows if r.get("reward")]
    assert len(trained) == 2
    assert float(trained[0]["reward_greedy"]) > 0.5 and float(trained[0]["degenerate"]) < 0.5  # a good start
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert (out / "reward_curves.png").is_file() and (out / "loss_curve.png").is_file()
    run_config = json.loads((out / "run_config.json").read_text(encoding="utf-8"))
    assert run_config["loss"] == "scst" and run_config["reward"] == DEFAULT_REWARDS


def test_train_py_scst_without_qa_model_stops_with_one_line(models, tmp_path):
    from test_train import train_py
    data = aqg_data(tmp_path / "data")
    proc = train_py("--do_train", "--loss", "scst", "--model_name_or_path", models["aqg"], "--data_dir", data,
                    "--output_dir", tmp_path / "out", "--max_steps", 1)
    assert proc.returncode != 0
    assert "--qa_model" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow  # several training processes compared: ~15-30 s on 2 cores
def test_scst_resumes_exactly(models, tmp_path):
    """Resumed from its step-2 checkpoint, an scst run (sampling, rewards, KL to the reloaded start) ends with the
    same weights and logged rewards as the run never stopped: checkpoints need nothing extra."""
    import shutil

    from test_train import train_py
    data = aqg_data(tmp_path / "data")
    args = ["--do_train", "--loss", "scst", "--model_name_or_path", models["aqg"], "--data_dir", data,
            "--reward", "ref_f1:1", "form:0.5", "--reward", "leakage:-1.5", "--num_samples", 2,
            "--log_every_n_steps", 1,
            "--train_batch_size", 2, "--eval_batch_size", 4, "--max_target_length", 24, "--learning_rate", "1e-3",
            "--val_check_interval", 2, "--save_total_limit", 2, "--seed", 5, "--max_steps", 4]
    whole, split = tmp_path / "whole", tmp_path / "split"
    proc = train_py(*args, "--output_dir", whole)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.copytree(whole, split)  # the same run, stopped at its step-2 checkpoint (the schedule is the same)
    shutil.copy(split / "checkpoints" / "best-step=2.ckpt", split / "checkpoints" / "last.ckpt")
    run_config = json.loads((split / "run_config.json").read_text(encoding="utf-8"))
    (split / "run_config.json").write_text(json.dumps({**run_config, "output_dir": str(split)}), encoding="utf-8")
    resumed = train_py(*args, "--output_dir", split, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed at step 2" in resumed.stdout
    want = torch.load(whole / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    got = torch.load(split / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert got["global_step"] == want["global_step"] == 4
    at_2 = torch.load(whole / "checkpoints" / "best-step=2.ckpt", map_location="cpu", weights_only=False)
    assert not all(torch.equal(at_2["state_dict"][k], v) for k, v in want["state_dict"].items())  # steps 3-4 trained
    assert set(got["state_dict"]) == set(want["state_dict"])  # the policy's weights only: no reference, no judge
    for name, value in want["state_dict"].items():
        assert torch.equal(got["state_dict"][name], value), name

    def rewards(out):
        with open(out / "logs" / "metrics.csv", encoding="utf-8") as f:
            return [(r["step"], r["reward"], r["kl"]) for r in csv.DictReader(f) if r.get("reward")]
    assert rewards(split) == rewards(whole) and len(rewards(whole)) == 4
    run_config = json.loads((whole / "run_config.json").read_text(encoding="utf-8"))
    assert run_config["reward"] == ["ref_f1:1", "form:0.5", "leakage:-1.5"]  # the repeated flag adds up


def test_best_key_follows_the_metric_and_its_direction():
    """What the best checkpoints and early stopping minimise: val_reward negated (greater is better by default for
    a non-loss metric), as is with --greater_is_better false, val_loss by default; an unreported metric is one
    ConfigError naming the ones reported."""
    from jaqg.training.config import ConfigError, TrainingConfig
    from jaqg.training.loop import TrainingLoop
    loop = TrainingLoop.__new__(TrainingLoop)  # best_key reads only config and val_logs
    loop.config = TrainingConfig(metric_for_best_model="val_reward")
    loop.val_logs = {"val_reward": 0.7}
    low_reward_low_loss = loop.best_key(1.0)
    loop.val_logs = {"val_reward": 0.9}
    assert loop.best_key(5.0) < low_reward_low_loss  # the higher reward wins despite the worse loss
    loop.config = TrainingConfig(metric_for_best_model="val_reward", greater_is_better=False)
    assert loop.best_key(5.0) == 0.9
    loop.config = TrainingConfig()
    assert loop.best_key(5.0) == 5.0
    loop.config = TrainingConfig(metric_for_best_model="val_bleu")
    with pytest.raises(ConfigError, match="val_bleu.*val_loss, val_reward"):
        loop.best_key(1.0)


@pytest.mark.slow  # a training process and a refused one: ~15-30 s on 2 cores
def test_best_model_by_validation_reward(models, tmp_path):
    """--metric_for_best_model val_reward exports the checkpoint with the highest validation reward (the earlier
    one on a tie); a metric the run does not report stops with one line. (Whether this short run's rewards differ
    at all depends on the machine's float rounding: on one CI machine all four were 0.25. The direction itself is
    test_best_key_follows_the_metric_and_its_direction's.)"""
    import re

    from test_train import train_py
    data = aqg_data(tmp_path / "data")
    args = ["--do_train", "--loss", "scst", "--model_name_or_path", models["aqg"], "--data_dir", data,
            "--reward", "ref_f1:1", "form:0.5", "leakage:-1.5", "--num_samples", 2, "--train_batch_size", 2,
            "--eval_batch_size", 4, "--max_target_length", 24, "--learning_rate", "0.1", "--val_check_interval", 1,
            "--max_steps", 4, "--kl_coef", 0]  # a large step: the greedy questions change
    out = tmp_path / "out"
    proc = train_py(*args, "--output_dir", out, "--metric_for_best_model", "val_reward")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "logs" / "metrics.csv", encoding="utf-8") as f:
        rewards = [float(r["val_reward"]) for r in csv.DictReader(f) if r.get("val_loss")]
    assert len(rewards) == 4
    best_index = max(range(4), key=lambda i: (rewards[i], -i))  # ties: the earlier
    best = re.search(r"best checkpoint: .*best-step=(\d+)\.ckpt \(val_reward (\S+)\)", proc.stdout)
    assert best and int(best.group(1)) == best_index + 1, (proc.stdout, rewards)
    assert float(best.group(2)) == pytest.approx(rewards[best_index], abs=1e-4)

    bad = train_py(*args, "--output_dir", tmp_path / "bad", "--metric_for_best_model", "val_bleu")
    assert bad.returncode != 0 and "Traceback" not in bad.stdout + bad.stderr
    assert "--metric_for_best_model val_bleu" in bad.stdout + bad.stderr and "val_reward" in bad.stdout + bad.stderr


def test_reward_curves_are_drawn_only_for_a_run_that_logs_rewards(tmp_path):
    from PIL import Image

    from jaqg.training.log import MetricsLog, plot_reward_curves
    plain = MetricsLog(tmp_path / "plain.csv")
    plain.log(0, 0, train_loss=1.0)
    assert plot_reward_curves(tmp_path / "plain.csv", tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
    log = MetricsLog(tmp_path / "rl.csv")
    for step in range(4):
        log.log(step, 0, reward=0.1 * step, reward_greedy=0.05 * step, reward_qa_f1=0.5, degenerate=0.2, kl=0.01)
    log.log(3, 0, val_loss=1.0, val_reward=0.4, val_degenerate=0.1)
    png = plot_reward_curves(tmp_path / "rl.csv", tmp_path / "reward_curves.png")
    assert png and Image.open(png).size == (800, 700)
