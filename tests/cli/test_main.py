"""The ``jaqg`` command: every subcommand resolves to its entry point, and the top-level scripts are its shims."""

import importlib
import inspect
import subprocess
import sys

import pytest
from conftest import ROOT

from jaqg.cli.main import COMMANDS


def jaqg(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "jaqg", *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_an_entry_point(name):
    module, function, _ = COMMANDS[name]
    entry = getattr(importlib.import_module(f"jaqg.cli.{module}"), function)
    assert list(inspect.signature(entry).parameters) == ["argv"]  # jaqg hands it the flags after the name


def test_help_lists_every_subcommand_and_unknown_ones_exit_2():
    proc = jaqg("--help")
    assert proc.returncode == 0 and all(name in proc.stdout for name in COMMANDS)
    proc = jaqg("trian")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "unknown command 'trian'" in proc.stderr


def test_a_subcommand_runs_with_its_flags_and_config(tmp_path):
    config = tmp_path / "synthetic.yaml"
    config.write_text("n_train: 7\nn_valid: 3\n")
    proc = jaqg("make-synthetic-jsquad", "--config", config, "--output_dir", tmp_path / "j", "--n_valid", 2)
    assert proc.returncode == 0, proc.stderr
    assert "(7 questions)" in proc.stdout and "(2 questions)" in proc.stdout
    proc = jaqg("make-tiny-model", "--like", "nobody/model", "--output_dir", tmp_path / "m")
    assert proc.returncode == 2 and proc.stderr.startswith("jaqg make-tiny-model: error: --like nobody/model")


SHIMS = {"prepare_jsquad.py": "prepare-jsquad", "prepare_jsquad_aqg.py": "prepare-jsquad-aqg",
         "prepare_quiz_aqg.py": "prepare-quiz", "make_tiny_model.py": "make-tiny-model", "predict.py": "predict",
         "generate.py": "generate", "generate_qa.py": "generate-qa", "score.py": "score", "score_qag.py": "score-qag",
         "hallucination.py": "hallucination", "train.py": "train", "run_clm.py": "train-clm", "serve.py": "serve"}


@pytest.mark.parametrize("script", SHIMS)
def test_scripts_are_shims_over_their_subcommand(script):
    """The script's source calls the subcommand's entry point (and nothing else of substance)."""
    module, function, _ = COMMANDS[SHIMS[script]]
    source = (ROOT / script).read_text(encoding="utf-8")
    assert f"from jaqg.cli.{module} import {function}" in source
    assert len([line for line in source.split('"""')[-1].splitlines() if line.strip()]) <= 5
