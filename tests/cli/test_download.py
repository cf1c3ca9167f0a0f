"""download.sh offline: archives and files come from local paths or file:// URLs (the same curl path)."""

import gzip
import shutil
import subprocess
import tarfile

import pytest
from conftest import ROOT

SAMPLE = ROOT / "examples" / "jsquad"


def download(tmp_path, *args, **env):
    return subprocess.run(["bash", str(ROOT / "download.sh"), *args], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "DATA_ROOT": str(tmp_path), "TMPDIR": str(tmp_path), **env},
                          timeout=60)


def jglue_archive(tmp_path, version="1.3.0"):
    short = version.rsplit(".", 1)[0]
    path = tmp_path / "src" / f"v{version}.tar.gz"
    path.parent.mkdir(exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "valid"):
            tar.add(SAMPLE / f"{split}-v1.3.json", f"JGLUE-{version}/datasets/jsquad-v{short}/{split}-v{short}.json")
        tar.add(SAMPLE / "train-v1.3.json", f"JGLUE-{version}/datasets/jcommonsenseqa-v{short}/train-v{short}.json")
    return path


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


@needs_curl
def test_jsquad_from_url_is_idempotent(tmp_path):
    archive = jglue_archive(tmp_path)
    proc = download(tmp_path, JGLUE_ARCHIVE=archive.as_uri())
    assert proc.returncode == 0, proc.stderr
    train = tmp_path / "jsquad" / "train-v1.3.json"
    assert train.read_bytes() == (SAMPLE / "train-v1.3.json").read_bytes()
    assert sorted(p.name for p in (tmp_path / "jsquad").iterdir()) == ["train-v1.3.json", "valid-v1.3.json"]
    mtime = train.stat().st_mtime_ns
    archive.unlink()  # a second run needs nothing
    again = download(tmp_path, JGLUE_ARCHIVE=archive.as_uri())
    assert again.returncode == 0 and "already" in again.stderr
    assert train.stat().st_mtime_ns == mtime
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("jsquad.")]  # staging removed


def test_local_archive_and_version(tmp_path):
    proc = download(tmp_path, JGLUE_ARCHIVE=str(jglue_archive(tmp_path, "1.1.0")), JGLUE_VERSION="1.1.0")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "jsquad" / "valid-v1.1.json").is_file()


def test_wrong_archive_fails_clearly_and_leaves_nothing(tmp_path):
    archive = jglue_archive(tmp_path)
    proc = download(tmp_path, JGLUE_ARCHIVE=str(archive), JGLUE_VERSION="1.2.0")
    assert proc.returncode != 0
    assert "no datasets/jsquad-v1.2/*.json inside" in proc.stderr
    assert not (tmp_path / "jsquad").exists()


@needs_curl
def test_offline_message(tmp_path):
    proc = download(tmp_path, JGLUE_ARCHIVE="http://127.0.0.1:9/v1.3.0.tar.gz")
    assert proc.returncode != 0
    assert "cannot fetch http://127.0.0.1:9/v1.3.0.tar.gz (offline" in proc.stderr
    assert "JGLUE_ARCHIVE=" in proc.stderr
    assert not (tmp_path / "jsquad").exists() and not (tmp_path / "downloads").exists()


def test_quiz_from_local_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("abc_01-12.json.gz", "aio_01_dev.json.gz"):
        (src / name).write_bytes(gzip.compress(b"[]"))
    proc = download(tmp_path, "quiz", QUIZ_SOURCE=str(src))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "quiz").iterdir()) == ["abc_01-12.json.gz", "aio_01_dev.json.gz"]
    (src / "aio_01_dev.json.gz").write_bytes(b"not gzip")
    (tmp_path / "quiz" / "aio_01_dev.json.gz").unlink()
    proc = download(tmp_path, "quiz", QUIZ_SOURCE=str(src))
    assert proc.returncode != 0 and "not a complete gzip file" in proc.stderr
    assert not (tmp_path / "quiz" / "aio_01_dev.json.gz").exists()


def test_unknown_target(tmp_path):
    proc = download(tmp_path, "jglue")
    assert proc.returncode != 0 and "unknown target 'jglue'" in proc.stderr
