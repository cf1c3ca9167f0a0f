import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Tests never touch a hub; two cores are shared by everything.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_script(script: str, *args: str, cwd: Path | None = None, check: bool = False,
               timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a top-level script as a user would, capturing output; ``env`` adds to the environment."""
    proc = subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def run():
    return run_script


def run_main_in_process(capsys, main, prog: str, *argv) -> tuple[int, str, str]:
    """A script's ``main`` as its command line runs it, in this process: (exit status, stdout, stderr)."""
    from jaqg.cli.args import run_cli
    with pytest.raises(SystemExit) as e:
        run_cli(lambda: main(list(map(str, argv))), prog=prog)
    out, err = capsys.readouterr()
    return e.value.code, out, err


# Shared, session-scoped fixtures (built once per test run; owned by H3). Small on purpose: 2 shared cores.
@pytest.fixture(scope="session")
def synthetic_jsquad_dir(tmp_path_factory) -> Path:
    """A JSQuAD-format dir (train-v1.3.json: 600 questions, valid-v1.3.json: 100; disjoint names)."""
    from jaqg.data.synthetic import write_synthetic_jsquad
    out = tmp_path_factory.mktemp("synthetic_jsquad")
    write_synthetic_jsquad(out, n_train=600, n_valid=100, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_t5_dir(synthetic_jsquad_dir, tmp_path_factory) -> Path:
    """A random tiny T5 + tokenizer (with <hl>, <sep>) built on the synthetic data; treat it as read-only."""
    from jaqg.models.tiny import build_tiny_model
    return build_tiny_model(synthetic_jsquad_dir, tmp_path_factory.mktemp("tiny") / "t5", arch="t5")


@pytest.fixture(scope="session")
def tiny_bart_dir(synthetic_jsquad_dir, tmp_path_factory) -> Path:
    from jaqg.models.tiny import build_tiny_model
    return build_tiny_model(synthetic_jsquad_dir, tmp_path_factory.mktemp("tiny") / "bart", arch="bart")


@pytest.fixture(scope="session")
def tiny_gpt2_dir(synthetic_jsquad_dir, tmp_path_factory) -> Path:
    """A random tiny GPT-2 + tokenizer (no </s> appended by the tokenizer; <sep> is a special token)."""
    from jaqg.models.tiny import build_tiny_model
    return build_tiny_model(synthetic_jsquad_dir, tmp_path_factory.mktemp("tiny") / "gpt2", arch="gpt2")


@pytest.fixture(scope="session")
def models(tiny_t5_dir, tiny_bart_dir, tiny_gpt2_dir, tmp_path_factory):
    from trained_models import trained_models
    return trained_models(tiny_t5_dir, tiny_bart_dir, tiny_gpt2_dir, tmp_path_factory)
