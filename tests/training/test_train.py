"""train.py end to end on a tiny random T5: best-model export, resume after SIGKILL, NaN guard, DDP, losses, errors."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
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


def make_tiny_t5(data_dir, model_dir, d_model=32, dropout=0.0):
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
                      num_decoder_layers=1, dropout_rate=dropout, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    import torch
    torch.manual_seed(0)  # the same weights whichever tests ran before (the rising run depends on them)
    T5ForConditionalGeneration(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


ROOT = Path(__file__).resolve().parents[2]
FAST = ["--learning_rate", "1e-2", "--train_batch_size", "4", "--eval_batch_size", "8"]


def train_py(*args, wait=True, cwd=None):
    """train.py in a subprocess on one thread (two cores are shared by the whole team)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "train.py"), *map(str, args)]
    if not wait:  # SIGINT as a terminal gives it: a background job of a non-interactive shell inherits it ignored
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
    from jaqg.training.log import read_log
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
    assert torch.equal(exported[name], best["state_dict"][name])
    assert not torch.equal(exported[name], last["state_dict"][name])
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
    from jaqg.evaluation.jglue_metric import jglue_squad_metric  # JGLUE's official metric, on the targets here
    targets = [line.split("\t")[2] for line in (data / "test.tsv").read_text(encoding="utf-8").splitlines()]
    from jaqg.core.io import prediction_text  # <empty> is scored as "", as score.py reads it back
    assert metrics["jglue"] == pytest.approx(jglue_squad_metric([prediction_text(r[1]) for r in rows],
                                                                [[t] for t in targets]))
    # score.py's keys: which golds JGLUE's metric scored, and the breakdowns (one implementation, metrics.score_data)
    assert metrics["jglue_references"].startswith("the references") and "by_answer_length" in metrics
    assert "| by_answer_length |" in proc.stdout
    # what generation cut, repaired or dropped is counted (none of it here: short inputs, a character vocabulary)
    assert metrics["generation"]["inputs"] == len(test_ids) and metrics["generation"]["inputs_cut"] == 0
    cut = train_py("--do_eval", "--data_dir", data, "--output_dir", out, "--max_target_length", 8,
                   "--max_input_length", 48)  # the question and task text fit, the context is windowed
    assert cut.returncode == 0, cut.stdout + cut.stderr
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    inputs = [line.split("\t")[1] for line in (data / "test.tsv").read_text(encoding="utf-8").splitlines()]
    longer = sum(len(x) + 1 > 48 for x in inputs)  # one token a character, and </s>
    assert 0 < longer and metrics["generation"]["inputs_cut"] == longer and "longer than the limit" in cut.stderr


def test_references_come_from_test_references_json(tmp_path):
    from jaqg.core.io import read_examples
    from jaqg.training.evaluate import load_references
    data = make_data(tmp_path / "data", n_train=1, n_dev=1, n_test=3)
    examples = read_examples(data / "test.tsv")
    assert load_references(data, examples) == [[e.target] for e in examples]
    (data / "test_references.json").write_text(json.dumps({examples[1].id: ["赤", "あか"]}), encoding="utf-8")
    assert load_references(data, examples) == [[examples[0].target], ["赤", "あか"], [examples[2].target]]


def wait_for_checkpoint(proc, last, min_step: int, timeout: float = 120, when=lambda checkpoint: True) -> None:
    """Poll until last.ckpt holds a step >= min_step and ``when(checkpoint)`` (or the run ends)."""
    import torch
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        try:
            checkpoint = torch.load(last, map_location="cpu", weights_only=False)
            if checkpoint["global_step"] >= min_step and when(checkpoint):
                return
        except (FileNotFoundError, EOFError, RuntimeError, KeyError):  # not there yet, or being replaced
            pass
        time.sleep(0.01)


@pytest.mark.slow  # several training processes compared: ~15-30 s on 2 cores
def test_resume_after_sigkill_mid_epoch_ends_where_the_uninterrupted_run_ends(tmp_path, tiny):
    """Exact resume: a run SIGKILLed in its second epoch, between checkpoints, and continued with --resume
    trains on the same batches with the same dropout masks, optimizer and schedule as a run never stopped:
    the same last step, validation losses to 1e-6 and bit-identical exported weights. 48 examples / batch 4 =
    12 batches an epoch; validation (and last.ckpt) every 7 batches never falls on an epoch's end before
    step 84, so every checkpoint is mid-epoch."""
    import torch
    data, _ = tiny
    model = make_tiny_t5(data, tmp_path / "dropout_model", dropout=0.1)  # dropout: the RNG state matters
    args = ["--do_train", "--model_name_or_path", model, "--data_dir", data, "--max_steps", 80,
            "--val_check_interval", 7, *FAST, "--learning_rate", "3e-3", "--warmup_steps", 5, "--seed", 3]
    whole = train_py(*args, "--output_dir", tmp_path / "whole")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    out = tmp_path / "killed"
    proc = train_py(*args, "--output_dir", out, wait=False)
    last = out / "checkpoints" / "last.ckpt"
    wait_for_checkpoint(proc, last, min_step=14)  # a checkpoint in epoch 2 (steps 13-24)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    killed_at = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 14 <= killed_at < 80 and killed_at % 12, "the run must die mid-epoch for this test to mean anything"
    assert not (out / "model.safetensors").exists()
    resumed = train_py(*args, "--output_dir", out, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resumed at step {killed_at}" in resumed.stdout
    # no "dataloader is not resumable ... unreliable results" warning (Lightning's Trainer gave one): the sampler
    # resumes
    assert "not resumable" not in resumed.stdout + resumed.stderr
    assert "trained 80 steps" in resumed.stdout and "trained 80 steps" in whole.stdout
    want, got = val_losses(tmp_path / "whole"), val_losses(out)
    assert [s for s, _ in got] == [s for s, _ in want] and len(want) == 12  # after 7, 14, ..., 77 and 80
    assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-6)
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


@pytest.mark.slow  # several training processes compared: ~15-30 s on 2 cores
def test_resume_inside_a_gradient_accumulation_window_ends_where_the_uninterrupted_run_ends(tmp_path, tiny):
    """Exact resume with --gradient_accumulation_steps 4: 48 examples / batch 8 = 6 batches an epoch, windows
    of batches 1-4 and a short one of 5-6; validation (and last.ckpt) every 3 batches falls inside a window
    every other time. The run is SIGKILLed right after such a checkpoint in its second epoch; the resumed run
    must get back the gradients of the window's first 3 batches."""
    import torch
    data, _ = tiny
    model = make_tiny_t5(data, tmp_path / "dropout_model", dropout=0.1)
    args = ["--do_train", "--model_name_or_path", model, "--data_dir", data, "--max_steps", 8,
            "--gradient_accumulation_steps", 4, "--val_check_interval", 3, "--train_batch_size", 8,
            "--eval_batch_size", 16, "--learning_rate", "3e-3", "--seed", 3]
    whole = train_py(*args, "--output_dir", tmp_path / "whole")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    out = tmp_path / "killed"
    proc = train_py(*args, "--output_dir", out, wait=False)
    last = out / "checkpoints" / "last.ckpt"
    wait_for_checkpoint(proc, last, min_step=2, when=lambda c: "accumulated_gradients" in c)
    proc.kill()
    proc.wait()
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    assert checkpoint["sampler"]["batches_done"] == 3 and checkpoint["global_step"] in (2, 4, 6), \
        "the run must die inside an accumulation window for this test to mean anything"
    assert checkpoint["accumulated_gradients"]
    resumed = train_py(*args, "--output_dir", out, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resumed at step {checkpoint['global_step']}" in resumed.stdout
    assert "trained 8 steps" in resumed.stdout and "trained 8 steps" in whole.stdout
    want, got = val_losses(tmp_path / "whole"), val_losses(out)
    assert [s for s, _ in got] == [s for s, _ in want] and len(want) == 8  # after batches 3, 6, ..., 24
    assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-6)
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


def test_ctrl_c_exits_130_and_exports_nothing(tmp_path, tiny):
    data, model = tiny
    out = tmp_path / "out"
    proc = train_py("--do_train", "--model_name_or_path", model, "--data_dir", data, "--output_dir", out,
                    "--max_steps", 1000, "--val_check_interval", 4, "--train_batch_size", 2, wait=False)
    deadline = time.time() + 120
    while not (out / "checkpoints" / "last.ckpt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    assert output.strip().splitlines()[-1] == "train.py: interrupted; nothing half-written was left behind"
    assert not (out / "model.safetensors").exists() and not list(out.glob(".export-*"))
    assert (out / "checkpoints" / "last.ckpt").exists()  # --resume can pick it up


NAN_WRAPPER = '''
import sys
from jaqg.cli.args import run_cli
from jaqg.training.objectives import cross_entropy, register_loss

calls = 0

@register_loss("nan_after_3")
def nan_after_3(logits, labels, **options):
    """A user-defined loss (the extension point) that blows up on its 4th call."""
    global calls
    calls += 1
    return cross_entropy(logits, labels) * (float("nan") if calls > 3 else 1.0)

from jaqg.cli import train
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

    from jaqg.training.objectives import LOSSES
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11)
    labels = torch.randint(0, 11, (3, 5))
    labels[0, 3:] = -100
    want = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, label_smoothing=0.2)
    assert torch.allclose(LOSSES["label_smoothing"](logits, labels, label_smoothing=0.2), want, atol=1e-6)
    assert torch.allclose(LOSSES["ce"](logits, labels), F.cross_entropy(logits[0, :3], labels[0, :3]) * 3 / 13
                          + F.cross_entropy(logits[1:].flatten(0, 1), labels[1:].flatten()) * 10 / 13)


@pytest.mark.slow  # several training processes compared: ~15-30 s on 2 cores
def test_ddp_two_cpu_processes(tmp_path, tiny):
    data, model = tiny
    out = tmp_path / "out"
    proc = train_py("--do_train", "--model_name_or_path", model, "--data_dir", data, "--output_dir", out,
                    "--accelerator", "cpu", "--devices", 2, "--strategy", "ddp", "--max_steps", 6,
                    "--val_check_interval", 3, "--loss", "label_smoothing", *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trained 6 steps" in proc.stdout and proc.stdout.count("best model:") == 1  # rank 0 only
    assert (out / "model.safetensors").exists() and (out / "loss_curve.png").exists()


@pytest.mark.parametrize("case", ["no_data_dir", "no_model", "malformed_tsv", "eval_without_model", "resume_nothing",
                                  "earlier_run", "resume_changed"])
def test_bad_inputs_one_line_error_nothing_written(tmp_path, tiny, case):
    from jaqg.cli import train
    from jaqg.cli.args import as_flags
    from jaqg.core.errors import UserError
    data, model = tiny
    bad = tmp_path / "data"
    shutil.copytree(data, bad)
    args = {"--data_dir": bad, "--model_name_or_path": model, "--output_dir": tmp_path / "out"}
    flags = ["--do_train"]
    if case == "no_data_dir":
        args["--data_dir"], want = tmp_path / "missing", "no such data dir"
    elif case == "no_model":
        args["--model_name_or_path"], want = tmp_path / "no_model", "cannot load a seq2seq model"
    elif case == "malformed_tsv":
        with open(bad / "dev.tsv", "a", encoding="utf-8") as f:
            f.write("q999\tonly two fields\n")
        want = f"{bad / 'dev.tsv'}:17: expected 3 tab-separated fields"
    elif case == "eval_without_model":
        flags, want = ["--do_eval"], "no trained model here"
    elif case == "resume_nothing":
        flags, want = ["--do_train", "--resume"], "no checkpoint to resume from"
    elif case == "resume_changed":  # another learning rate would silently continue a different run
        (tmp_path / "out" / "checkpoints").mkdir(parents=True)
        (tmp_path / "out" / "checkpoints" / "last.ckpt").write_bytes(b"")
        before = {"model_name_or_path": str(model), "learning_rate": 0.1, "seed": 42, "max_steps": 5, "data": None}
        (tmp_path / "out" / "run_config.json").write_text(json.dumps(before), encoding="utf-8")
        flags = ["--do_train", "--resume", "--max_steps", "50"]  # training longer is allowed
        want = "--resume: --learning_rate 0.1 -> 0.0003 differs from the run in"
    else:  # never silently train over an earlier run's checkpoints
        (tmp_path / "out" / "checkpoints").mkdir(parents=True)
        (tmp_path / "out" / "checkpoints" / "last.ckpt").write_bytes(b"")
        want = "holds an earlier run; pass --resume to continue it or --overwrite_output_dir"
    argv = flags + [str(x) for kv in args.items() for x in kv]
    with pytest.raises(UserError) as e:
        train.main(argv)
    assert want in as_flags(str(e.value)) and "\n" not in str(e.value)  # as the command line prints it
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == (
        ["checkpoints", "last.ckpt"] if case == "earlier_run" else
        ["checkpoints", "last.ckpt", "run_config.json"] if case == "resume_changed" else [])


def test_cli_error_is_one_line_exit_2(tmp_path):
    proc = train_py("--do_train", "--model_name_or_path", "x", "--data_dir", tmp_path / "nope")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"train.py: error: {tmp_path / 'nope'}: no such data dir; run a prepare script first (e.g. python "
        "prepare_jsquad.py) or pass --data_dir"]


def test_collator_pads_inputs_and_masks_labels():
    from jaqg.data.batching import Collator
    batch = Collator(pad_token_id=0)([{"input_ids": [5, 6, 1], "labels": [7, 1]},
                                      {"input_ids": [5, 1], "labels": [8, 9, 1]}])
    assert batch["input_ids"].tolist() == [[5, 6, 1], [5, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[7, 1, -100], [8, 9, 1]]


def test_tokenized_dataset_counts_truncation_and_keeps_eos(tiny):
    from transformers import AutoTokenizer

    from jaqg.core.io import Example
    from jaqg.data.batching import TokenizedDataset
    tokenizer = AutoTokenizer.from_pretrained(tiny[1])
    ds = TokenizedDataset([Example("a", "赤い花", "赤"), Example("b", "とても古い花", "青い色")], tokenizer,
                          max_input_length=4, max_target_length=3)
    assert (ds.truncated_inputs, ds.truncated_targets) == (1, 1)
    assert [len(f["input_ids"]) for f in ds] == [4, 4] and ds[1]["input_ids"][-1] == tokenizer.eos_token_id
    assert ds[1]["labels"] == tokenizer(text_target="青い")["input_ids"][:2] + [tokenizer.eos_token_id]
    assert "1 inputs and 1 targets were truncated" in ds.truncation_report("train")


def test_length_grouped_sampler_ddp_shares_and_padding():
    from jaqg.data.batching import LengthGroupedBatchSampler
    rng = random.Random(0)
    lengths = [rng.randint(5, 200) for _ in range(1001)]
    ranks = [LengthGroupedBatchSampler(lengths, 8, seed=3, num_replicas=2, rank=r, bucket_factor=10)
             for r in range(2)]
    shares = [list(s) for s in ranks]
    assert len(shares[0]) == len(shares[1]) == len(ranks[0]) == len(ranks[1])  # DDP needs equal step counts
    seen = [i for share in shares for b in share for i in b]
    assert set(seen) == set(range(len(lengths)))  # every example, each once but for the evening-out batch
    assert len(seen) - len(lengths) <= 8
    assert shares[0] == list(ranks[0])  # deterministic within an epoch
    ranks[0].set_epoch(1)
    assert list(ranks[0]) != shares[0]  # reshuffled between epochs

    def padded(batches):
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    random_batches = [order[i: i + 8] for i in range(0, len(order), 8)]
    grouped = list(LengthGroupedBatchSampler(lengths, 8, seed=3, bucket_factor=10))
    assert padded(grouped) < 0.7 * padded(random_batches)
    first_batches = {tuple(b) for b in list(LengthGroupedBatchSampler(lengths, 8, seed=4, bucket_factor=10))[:5]}
    assert first_batches != {tuple(b) for b in grouped[:5]}  # batch order is random, not longest first


@pytest.mark.parametrize("max_steps, epochs, interval, want", [
    (-1, 3, None, None),   # default: validate every epoch (12 batches each)
    (5, 3, None, 5),       # the run ends inside epoch 1: validate at its end, or there is no best model
    (5, 3, 10000, 5),      # HF-style --save_steps larger than the run
    (-1, 3, 10000, None),  # ... over several epochs: every epoch
    (40, 3, 8, 8),         # a sensible interval is kept
])
def test_validation_interval_always_validates_a_run(max_steps, epochs, interval, want):
    from jaqg.training.config import batches_per_epoch, validation_interval
    assert validation_interval(max_steps, epochs, interval, batches_per_epoch(48, 4), 1) == want


def test_save_total_limit_keeps_that_many_best_checkpoints(tmp_path, tiny):
    data, model = tiny
    out = tmp_path / "out"
    proc = train_py("--do_train", "--model_name_or_path", model, "--data_dir", data, "--output_dir", out,
                    "--max_steps", 6, "--val_check_interval", 2, "--save_total_limit", 2, *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list((out / "checkpoints").glob("best-*.ckpt"))) == 2 and (out / "model.safetensors").exists()


def test_pretrained_loads_fp32_and_gradient_checkpointing_turns_on(tmp_path, tiny):
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from jaqg.models.loading import load_pretrained
    from jaqg.training.config import TrainingConfig
    from jaqg.training.experiment import Experiment
    half = tmp_path / "bf16_model"
    AutoModelForSeq2SeqLM.from_pretrained(tiny[1]).to(torch.bfloat16).save_pretrained(half)
    AutoTokenizer.from_pretrained(tiny[1]).save_pretrained(half)
    model, tokenizer = load_pretrained(str(half))
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # transformers 5 would keep bf16
    assert not model.is_activation_checkpointing
    Experiment(TrainingConfig(output_dir=str(tmp_path / "out"), gradient_checkpointing=True), model, tokenizer, None)
    assert model.is_activation_checkpointing and not model.config.use_cache


def test_max_steps_overrides_epochs_and_the_last_step_is_validated(tmp_path, tiny):
    """HF's rule: --max_steps > 0 wins over --num_train_epochs (48 examples / batch 4 = 12 batches an epoch);
    and the run's last step is validated although --val_check_interval does not divide it."""
    data, model = tiny
    out = tmp_path / "out"
    proc = train_py("--do_train", "--model_name_or_path", model, "--data_dir", data, "--output_dir", out,
                    "--num_train_epochs", 1, "--max_steps", 17, "--val_check_interval", 5, *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trained 17 steps" in proc.stdout
    assert len(val_losses(out)) == 4  # after batches 5, 10, 15 and the last one, 17


def test_bf16_mixed_precision_trains_with_the_default_optimizer(tmp_path, tiny):
    """Under mixed precision the default fused AdamW gives way to torch's loop (a gradient scaler unscales before
    clipping) instead of failing at the first step."""
    data, model = tiny
    proc = train_py("--do_train", "--model_name_or_path", model, "--data_dir", data, "--output_dir", tmp_path / "o",
                    "--max_steps", 2, "--precision", "bf16-mixed", *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "trained 2 steps" in proc.stdout


def test_resume_of_a_run_recorded_with_the_old_default_optimizer(tmp_path):
    from jaqg.core.io import write_json
    from jaqg.training.config import TrainingConfig
    write_json(tmp_path / "run_config.json", {"optimizer": "adamw", "learning_rate": 3e-4})
    assert TrainingConfig(output_dir=str(tmp_path), resume=True).optimizer == "adamw"  # its own command continues it
    from jaqg.core.errors import UserError
    with pytest.raises(UserError, match="`optimizer` 'adamw' -> 'adafactor'") as e:  # the library names fields
        TrainingConfig(output_dir=str(tmp_path), resume=True, optimizer="adafactor")
    assert "--" not in str(e.value)
    from jaqg.cli.args import as_flags
    assert "--resume: --optimizer 'adamw' -> 'adafactor'" in as_flags(str(e.value))  # as the CLI prints it


def test_progress_bar_has_no_negative_epoch_count_under_max_steps():
    """max_steps leaves the epoch count open (max_epochs -1): Lightning's Rich bar said "Epoch 0/-2"."""
    from jaqg.training.loop import progress_description
    assert progress_description(0, -1).strip() == "Epoch 0"
    assert progress_description(1, 3).strip() == "Epoch 1/2"


def test_fused_adamw_makes_the_default_update(tiny):
    """--optim adamw_torch_fused (HF's name and default): one fused kernel, the same AdamW update up to rounding."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from jaqg.training.objectives import cross_entropy, logits_and_labels
    from jaqg.training.optim import build_optimizer
    batch = {"input_ids": torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]]),
             "attention_mask": torch.tensor([[1] * 4, [1] * 3 + [0]]), "labels": torch.tensor([[6, 1], [9, -100]])}
    weights = []
    for name in ("adamw", "adamw_torch_fused"):
        model = AutoModelForSeq2SeqLM.from_pretrained(tiny[1]).train()
        optimizer = build_optimizer(model, name, learning_rate=1e-2, weight_decay=0.01)
        assert bool(optimizer.defaults["fused"]) == (name == "adamw_torch_fused")
        for _ in range(3):
            logits, labels = logits_and_labels(model, batch)
            cross_entropy(logits, labels).backward()
            optimizer.step()
            optimizer.zero_grad()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(weights[0], torch.cat([p.detach().flatten() for p in
                                                   AutoModelForSeq2SeqLM.from_pretrained(tiny[1]).parameters()]))
    assert torch.allclose(weights[0], weights[1], atol=1e-6)


def test_eval_alone_reads_the_data_dir_the_model_was_trained_on(tmp_path, capsys):
    """`train.py --do_eval --output_dir M` used to score a multitask or AQG model on the default data/ (QA),
    overwriting its metrics with scores on the wrong task."""
    from jaqg.cli import train
    from jaqg.cli.args import parse_args
    trained_on, out = tmp_path / "data_multi", tmp_path / "model"
    trained_on.mkdir()
    out.mkdir()
    (out / "run_config.json").write_text(json.dumps({"data_dir": str(trained_on)}), encoding="utf-8")
    assert parse_args(train.Args, ["--do_eval", "--output_dir", str(out)]).data_dir == str(trained_on)
    assert "the data dir" in capsys.readouterr().out
    assert parse_args(train.Args, ["--do_eval", "--output_dir", str(out), "--data_dir", "x"]).data_dir == "x"
    assert parse_args(train.Args, ["--do_train", "--output_dir", str(out)]).data_dir == "data"
    trained_on.rmdir()  # moved away since: the default again
    assert parse_args(train.Args, ["--do_eval", "--output_dir", str(out)]).data_dir == "data"


@pytest.mark.slow  # several training processes compared: ~15-30 s on 2 cores
def test_ddp_validation_loss_equals_one_process(tmp_path, tiny):
    """Validation sees every dev example exactly once and reports the global token-weighted mean: with learning
    rate 0 (the weights stay as loaded) two DDP processes report what one does. 16 dev examples in batches of 6
    make 3 batches: uneven shards (2 + 1), which the old sampler evened out by repeating a batch on one rank."""
    data, model = tiny
    args = ["--do_train", "--model_name_or_path", model, "--data_dir", data, "--accelerator", "cpu",
            "--max_steps", 1, "--learning_rate", 0, "--train_batch_size", 4, "--eval_batch_size", 6]
    one = train_py(*args, "--devices", 1, "--output_dir", tmp_path / "one")
    assert one.returncode == 0, one.stdout + one.stderr
    two = train_py(*args, "--devices", 2, "--strategy", "ddp", "--output_dir", tmp_path / "two")
    assert two.returncode == 0, two.stdout + two.stderr
    want, got = val_losses(tmp_path / "one"), val_losses(tmp_path / "two")
    assert len(want) == len(got) == 1
    assert got[0][1] == pytest.approx(want[0][1], abs=1e-5)


def test_validation_sampler_covers_every_example_once_across_ranks():
    from jaqg.data.batching import LengthGroupedBatchSampler
    lengths = list(range(16))
    shares = [list(LengthGroupedBatchSampler(lengths, 6, shuffle=False, num_replicas=2, rank=r, even=False))
              for r in range(2)]
    assert [len(s) for s in shares] == [2, 1]
    assert sorted(i for s in shares for b in s for i in b) == lengths


OBJECTIVE_CALLS = []


def test_objective_plug_in_gets_model_and_batch_and_logs_its_values(tmp_path, tiny):
    """A registered objective (model, batch) -> (loss, logs) trains and its logs become columns of metrics.csv."""
    from jaqg.cli import train
    from jaqg.training.log import read_log
    from jaqg.training.objectives import OBJECTIVES, cross_entropy, logits_and_labels, register_objective

    @register_objective("ce_and_token_count")
    def ce_and_token_count(model, batch, **options):
        OBJECTIVE_CALLS.append((set(batch), options["config"].loss))
        logits, labels = logits_and_labels(model, batch)
        return cross_entropy(logits, labels), {"labelled_tokens": int((labels != -100).sum())}

    data, model = tiny
    out = tmp_path / "out"
    try:
        assert train.main(["--do_train", "--model_name_or_path", str(model), "--data_dir", str(data), "--output_dir",
                           str(out), "--loss", "ce_and_token_count", "--max_steps", "3", "--log_every_n_steps", "1",
                           "--accelerator", "cpu", "--devices", "1", *map(str, FAST)]) == 0
    finally:
        del OBJECTIVES["ce_and_token_count"]
    assert len(OBJECTIVE_CALLS) == 3
    assert all(keys >= {"input_ids", "attention_mask", "labels"} and loss == "ce_and_token_count"
               for keys, loss in OBJECTIVE_CALLS)
    log = read_log(out / "logs" / "metrics.csv")
    assert [s for s, _ in log["labelled_tokens"]] == [0, 1, 2] and all(v > 0 for _, v in log["labelled_tokens"])
    assert [s for s, _ in log["train_loss"]] == [0, 1, 2] and len(log["val_loss"]) == 1
    assert (out / "model.safetensors").exists()


def test_a_loss_on_logits_is_an_objective_and_unknown_ones_are_refused(tiny):
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from jaqg.core.errors import ParamError
    from jaqg.training.objectives import (
        LOSSES,
        cross_entropy,
        from_loss,
        get_objective,
        logits_and_labels,
        split_result,
    )
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny[1])
    batch = {"input_ids": torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]]),
             "attention_mask": torch.tensor([[1] * 4, [1] * 3 + [0]]), "labels": torch.tensor([[6, 1], [9, -100]])}
    want = cross_entropy(*logits_and_labels(model, batch))
    loss, logs = split_result(get_objective("ce")(model, batch, label_smoothing=0.1))
    assert torch.equal(loss, want) and logs == {}
    smoothed = from_loss(LOSSES["label_smoothing"])(model, batch, label_smoothing=0.2)
    assert torch.allclose(smoothed, LOSSES["label_smoothing"](*logits_and_labels(model, batch), label_smoothing=0.2))
    with pytest.raises(ParamError, match="no_such_loss: unknown") as e:
        get_objective("no_such_loss")
    assert e.value.param == "loss"


@pytest.mark.slow  # several training processes compared: ~15-30 s on 2 cores
def test_a_run_replayed_from_its_run_config_ends_with_the_same_weights(tmp_path, tiny):
    """``jaqg train --config out/run_config.json --output_dir other`` is the same run: bit-identical weights."""
    import torch
    from safetensors.torch import load_file

    def jaqg_train(*args):
        return subprocess.run([sys.executable, "-m", "jaqg", "train", *map(str, args)], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=ROOT)
    data, _ = tiny
    model = make_tiny_t5(data, tmp_path / "dropout_model", dropout=0.1)  # dropout: the seed must come back too
    original = train_py("--do_train", "--model_name_or_path", model, "--data_dir", data, "--max_steps", 12,
                        "--val_check_interval", 5, *FAST, "--seed", 7, "--warmup_steps", 2,
                        "--output_dir", tmp_path / "original")
    assert original.returncode == 0, original.stdout + original.stderr
    config = tmp_path / "original" / "run_config.json"
    replay = jaqg_train("--config", config, "--output_dir", tmp_path / "replay")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    want = load_file(tmp_path / "original" / "model.safetensors")
    got = load_file(tmp_path / "replay" / "model.safetensors")
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert val_losses(tmp_path / "replay") == val_losses(tmp_path / "original")
    other = jaqg_train("--config", config, "--output_dir", tmp_path / "other_seed", "--seed", 8)
    assert other.returncode == 0, other.stdout + other.stderr  # a flag overrides the file: another run
    changed = load_file(tmp_path / "other_seed" / "model.safetensors")
    assert any(not torch.equal(want[k], changed[k]) for k in want)


def test_a_lightning_era_checkpoint_is_refused_in_one_line(tmp_path, tiny):
    import torch
    data, model = tiny
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    torch.save({"pytorch-lightning_version": "2.6.6", "state_dict": {"model.shared.weight": torch.zeros(1)},
                "global_step": 3}, out / "checkpoints" / "last.ckpt")
    proc = train_py("--do_train", "--resume", "--model_name_or_path", model, "--data_dir", data, "--output_dir", out,
                    *FAST, "--max_steps", 4)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "written by the Lightning Trainer" in proc.stderr and "--overwrite_output_dir" in proc.stderr
