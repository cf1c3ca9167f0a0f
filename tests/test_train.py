"""train.py end to end on a tiny random T5: best-model export, resume after SIGKILL, NaN guard, DDP, losses, errors."""

import json
import os
import subprocess
import sys
import random
import re
import time
from pathlib import Path

import pytest

KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
COLOURS = ["赤", "青", "白", "黒", "緑", "黄色", "紫"]


def make_data(data_dir, n_train=64, n_dev=16, n_test=8, seed=0, answer_in_context=True):
    """QA examples 'what colour is X?' with invented names, as a data dir. Without the answer in the context
    the colour is noise the model can only memorise: validation loss falls, then rises (overfitting)."""
    rng = random.Random(seed)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    i = 0
    for split, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        rows = []
        for _ in range(n):
            name = "".join(rng.choice(KATAKANA) for _ in range(rng.randint(2, 5)))
            colour = rng.choice(COLOURS)
            filler = "とても古い" * rng.randint(0, 4)  # varied lengths exercise padding and bucketing
            fact = colour if answer_in_context else "秘密"
            rows.append(f"q{i}\tquestion: {name}の色は何ですか? context: {filler}{name}の色は{fact}です。\t{colour}\n")
            i += 1
        (data_dir / f"{split}.tsv").write_text("".join(rows), encoding="utf-8")
    (data_dir / "prepare_report.json").write_text(json.dumps(
        {"task": "qa", "template": "question: {question} context: {context}", "format": "tsv",
         "hl_strategy": None, "sep": "[SEP]", "counts": {}}), encoding="utf-8")
    return data_dir


def make_tiny_t5(data_dir, model_dir, d_model=32):
    """A character-level fast tokenizer over the data's characters + a random 1-layer T5, saved as a HF dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration
    chars = sorted({c for p in Path(data_dir).glob("*.tsv") for c in p.read_text(encoding="utf-8")} - {"\t", "\n"})
    vocab = {t: i for i, t in enumerate(["<pad>", "</s>", "<unk>", "<hl>", *chars])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()  # characters join without spaces
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>", additional_special_tokens=["<hl>"])
    config = T5Config(vocab_size=len(vocab), d_model=d_model, d_ff=2 * d_model, d_kv=16, num_heads=2, num_layers=1,
                      num_decoder_layers=1, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    T5ForConditionalGeneration(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


ROOT = Path(__file__).resolve().parents[1]
FAST = ["--learning_rate", "1e-2", "--train_batch_size", "4", "--eval_batch_size", "8"]


def train_py(*args, wait=True, cwd=None):
    """train.py in a subprocess on one thread (two cores are shared by the whole team)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "train.py"), *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(data dir, model dir): copyable QA data and a random character-level T5."""
    root = tmp_path_factory.mktemp("tiny")
    data = make_data(root / "data", n_train=48)
    return data, make_tiny_t5(data, root / "model")


@pytest.fixture(scope="module")
def rising_run(tmp_path_factory, tiny):
    """A run whose validation loss rises after the first validations: train targets are all 赤,
    dev targets all 青, so the more the model learns, the worse it does on dev."""
    root = tmp_path_factory.mktemp("rising")
    data = make_data(root / "data", n_train=32)
    for split, colour in (("train", "赤"), ("dev", "青")):
        path = data / f"{split}.tsv"
        rows = [line.rsplit("\t", 1)[0] + f"\t{colour}\n" for line in path.read_text(encoding="utf-8").splitlines()]
        path.write_text("".join(rows), encoding="utf-8")
    out = root / "out"
    proc = train_py("--do_train", "--model_name_or_path", tiny[1], "--data_dir", data, "--output_dir", out,
                    "--max_steps", 16, "--val_check_interval", 2, *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return data, out, proc.stdout


def val_losses(out_dir):
    from jaqg.experiment import read_log
    return read_log(Path(out_dir) / "logs" / "metrics.csv")["val_loss"]


def test_exports_best_not_last_model(rising_run):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSeq2SeqLM
    _, out, stdout = rising_run
    losses = val_losses(out)
    best_step, best_loss = min(losses, key=lambda sv: sv[1])
    assert best_step < losses[-1][0] and best_loss < losses[-1][1]  # the run really got worse
    best_ckpt = next((out / "checkpoints").glob("best-*.ckpt"))
    last = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(best_ckpt, map_location="cpu", weights_only=False)
    assert best["global_step"] < last["global_step"] == 16
    exported = load_file(out / "model.safetensors")
    name = "decoder.block.0.layer.2.DenseReluDense.wo.weight"
    assert torch.equal(exported[name], best["state_dict"][f"model.{name}"])
    assert not torch.equal(exported[name], last["state_dict"][f"model.{name}"])
    AutoModelForSeq2SeqLM.from_pretrained(out)  # loadable as a HF model
    run_config = json.loads((out / "run_config.json").read_text(encoding="utf-8"))
    assert run_config["data"]["task"] == "qa" and run_config["max_steps"] == 16
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".export-*")) and not list(out.glob(".*.tmp"))


def test_eval_without_train_loads_output_dir(rising_run):
    data, out, _ = rising_run
    proc = train_py("--do_eval", "--data_dir", data, "--output_dir", out, "--max_target_length", 8)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split("\t") for line in (out / "predictions.tsv").read_text(encoding="utf-8").splitlines()]
    test_ids = [line.split("\t")[0] for line in (data / "test.tsv").read_text(encoding="utf-8").splitlines()]
    assert [r[0] for r in rows] == test_ids  # every test example, in file order
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n"] == len(test_ids) and "mecab" in metrics["by_tokenizer"]
    assert "exact_match" in proc.stdout  # the table is printed


def test_references_come_from_test_references_json(tmp_path):
    from jaqg.experiment import load_references
    from jaqg.io import read_examples
    data = make_data(tmp_path / "data", n_train=1, n_dev=1, n_test=3)
    examples = read_examples(data / "test.tsv")
    assert load_references(data, examples) == [[e.target] for e in examples]
    (data / "test_references.json").write_text(json.dumps({examples[1].id: ["赤", "あか"]}), encoding="utf-8")
    assert load_references(data, examples) == [[examples[0].target], ["赤", "あか"], [examples[2].target]]


def test_resume_after_sigkill_continues_step_count(tmp_path, tiny):
    import torch
    data, model = tiny
    out = tmp_path / "out"
    args = ["--do_train", "--model_name_or_path", model, "--data_dir", data, "--output_dir", out,
            "--max_steps", 60, "--val_check_interval", 4, "--train_batch_size", 2, "--learning_rate", "1e-3"]
    proc = train_py(*args, wait=False)
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    killed_at = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < killed_at < 60, "the run must die mid-training for this test to mean anything"
    assert not (out / "model.safetensors").exists()
    assert train_py(*args).returncode == 2  # no silent restart over an earlier run
    resumed = train_py(*args, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    started = int(re.search(r"resumed at step (\d+)", resumed.stdout).group(1))
    assert started >= killed_at
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 60
    assert "trained 60 steps" in resumed.stdout
    steps = [s for s, _ in val_losses(out)]
    assert steps == sorted(steps) and steps[-1] >= 55  # one log, the step count went on
    assert (out / "model.safetensors").exists()


NAN_WRAPPER = '''
import sys
from jaqg.errors import run_cli
from jaqg.module import cross_entropy, register_loss

calls = 0

@register_loss("nan_after_3")
def nan_after_3(logits, labels, **options):
    """A user-defined loss (the extension point) that blows up on its 4th call."""
    global calls
    calls += 1
    return cross_entropy(logits, labels) * (float("nan") if calls > 3 else 1.0)

import train
run_cli(train.main, prog="train.py")
'''


def test_custom_loss_and_nan_guard(tmp_path, tiny):
    data, model = tiny
    wrapper = tmp_path / "my_train.py"
    wrapper.write_text(NAN_WRAPPER, encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(wrapper), "--do_train", "--model_name_or_path", str(model),
                           "--data_dir", str(data), "--output_dir", str(out), "--loss", "nan_after_3",
                           "--max_steps", "10", "--val_check_interval", "2", *FAST],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("train.py: error: training loss is nan at step 3;") and "--precision" in error
    assert not (out / "model.safetensors").exists()  # a checkpoint from step 2 exists, but nothing is exported


def test_label_smoothing_loss_matches_torch():
    import torch
    import torch.nn.functional as F
    from jaqg.module import LOSSES
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11)
    labels = torch.randint(0, 11, (3, 5))
    labels[0, 3:] = -100
    want = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, label_smoothing=0.2)
    assert torch.allclose(LOSSES["label_smoothing"](logits, labels, label_smoothing=0.2), want, atol=1e-6)
    assert torch.allclose(LOSSES["ce"](logits, labels), F.cross_entropy(logits[0, :3], labels[0, :3]) * 3 / 13
                          + F.cross_entropy(logits[1:].flatten(0, 1), labels[1:].flatten()) * 10 / 13)


def test_ddp_two_cpu_processes(tmp_path, tiny):
    data, model = tiny
    out = tmp_path / "out"
    proc = train_py("--do_train", "--model_name_or_path", model, "--data_dir", data, "--output_dir", out,
                    "--accelerator", "cpu", "--devices", 2, "--strategy", "ddp", "--max_steps", 6,
                    "--val_check_interval", 3, "--loss", "label_smoothing", *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trained 6 steps" in proc.stdout and proc.stdout.count("best model:") == 1  # rank 0 only
    assert (out / "model.safetensors").exists() and (out / "loss_curve.png").exists()
