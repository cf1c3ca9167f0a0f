"""jaqg.cli.args: flags from config dataclasses (HfArgumentParser), HF aliases, --config FILE, errors as flags."""

import json
from dataclasses import dataclass
from typing import Optional

import pytest

from jaqg.cli.args import arg, as_flags, parse_args, run_cli
from jaqg.core.config import option
from jaqg.core.errors import ParamError, UserError


@dataclass
class Settings:
    """A command's settings."""
    data_dir: str = option("data", help="folder")
    train_batch_size: int = option(8, help="examples per step")
    max_target_length: Optional[int] = option(None, help="new tokens")
    learning_rate: float = option(3e-4, help="peak learning rate")
    do_train: bool = option(False, help="train")
    progress: bool = option(True, help="bar")
    eval_tokenizers: list[str] = option(["mecab"], help="word tokenizers")
    optimizer: str = option("adamw", choices=["adamw", "adafactor"], help="optimizer")
    extra: Optional[str] = arg(None, aliases=["--another_name"], help="a command-only alias")


def test_flag_forms_aliases_bools_and_lists():
    s = parse_args(Settings, ["--data_dir=d", "--per_device_train_batch_size", "4", "--max_new_tokens", "9",
                              "--do_train", "--progress", "false", "--eval_tokenizers", "char", "mecab",
                              "--optim", "adafactor", "--another_name", "x"])
    assert (s.data_dir, s.train_batch_size, s.max_target_length, s.do_train, s.progress) == ("d", 4, 9, True, False)
    assert s.eval_tokenizers == ["char", "mecab"] and s.optimizer == "adafactor" and s.extra == "x"
    assert parse_args(Settings, ["--do_train=false"]).do_train is False
    assert parse_args(Settings, []) == Settings()


def test_bad_flags_exit_2(capsys):
    for argv in (["--nope", "1"], ["--optimizer", "sgd"], ["--train_batch_size", "x"], ["--data"]):
        with pytest.raises(SystemExit) as e:
            parse_args(Settings, argv)
        assert e.value.code == 2


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_config_file_sets_values_and_flags_override_it(tmp_path, suffix):
    values = {"learning_rate": 0.01, "eval_tokenizers": ["char"], "do_train": True, "data": {"task": "qa"},
              "tokenizer_coverage": {}}
    path = tmp_path / f"run{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(values))
    else:
        path.write_text("learning_rate: 0.01\neval_tokenizers: [char]\ndo_train: true\ndata: {task: qa}\n")
    s = parse_args(Settings, ["--config", str(path), "--learning_rate", "0.5"])
    assert (s.learning_rate, s.eval_tokenizers, s.do_train) == (0.5, ["char"], True)  # flag wins, file fills in
    assert parse_args(Settings, ["--config", str(path)]).learning_rate == 0.01


@pytest.mark.parametrize("text,message", [
    ('{"learning_rat": 1}', "unknown setting 'learning_rat'"),
    ("[1, 2]", "a config file holds a mapping"),
    ('{"learning_rate": ', "not a valid JSON config"),
])
def test_bad_config_file_is_one_line(tmp_path, text, message):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as e:
        parse_args(Settings, ["--config", str(path)])
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="no such config file"):
        parse_args(Settings, ["--config", str(tmp_path / "missing.json")])


def test_library_settings_are_printed_as_flags(capsys):
    assert as_flags("no such folder; run `bash download.sh` or pass `jsquad_dir` DIR") == \
        "no such folder; run `bash download.sh` or pass --jsquad_dir DIR"
    assert str(ParamError("num_beams", "must be at least 1, got 0")) == "`num_beams` must be at least 1, got 0"

    def main():
        raise ParamError("num_beams", "must be at least 1, got 0")
    with pytest.raises(SystemExit) as e:
        run_cli(main, prog="jaqg generate")
    assert e.value.code == 2
    assert capsys.readouterr().err == "jaqg generate: error: --num_beams must be at least 1, got 0\n"


def test_a_repeatable_list_flag_adds_up():
    @dataclass
    class Rewards:
        reward: list[str] = option(["qa_f1:1"], help="components")
        eval_tokenizers: list[str] = option(["mecab"], help="word tokenizers")
    assert parse_args(Rewards, []).reward == ["qa_f1:1"]
    assert parse_args(Rewards, ["--reward", "form:0.5"]).reward == ["form:0.5"]  # replaces the default
    assert parse_args(Rewards, ["--reward", "form:0.5", "--reward", "leakage:-1", "ref_f1:1"]).reward == [
        "form:0.5", "leakage:-1", "ref_f1:1"]
    assert parse_args(Rewards, ["--eval_tokenizers", "char", "--eval_tokenizers", "mecab"]).eval_tokenizers == [
        "mecab"]  # other list flags: the last one


def test_a_repeatable_flag_replaces_a_config_file_value(tmp_path):
    @dataclass
    class Rewards:
        reward: list[str] = option(["qa_f1:1"], help="components")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"reward": ["ref_f1:1"]}))
    assert parse_args(Rewards, ["--config", str(path)]).reward == ["ref_f1:1"]
    assert parse_args(Rewards, ["--config", str(path), "--reward", "form:1", "--reward", "x:2"]).reward == [
        "form:1", "x:2"]
