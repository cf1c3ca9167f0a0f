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
               timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a top-level script as a user would, capturing output."""
    proc = subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def run():
    return run_script
