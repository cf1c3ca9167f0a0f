"""Shared by the service tests: a multitask model dir, a free port, a uvicorn server in a thread or a process."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from trained_models import make_multitask  # noqa: F401 (the service tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
# Invented text (no corpus text): short sentences with names, places and numbers for NER candidates.
TEXT = ("青葉町は山形県の南部にある町である。人口は約8200人で、和紙の産地として知られる。\n"
        "町を流れる白川は、下流で星野湖に注いでいる。")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer /health in {timeout} s")


class ThreadServer:
    """uvicorn on 127.0.0.1 in a thread of this process (tests can reach into the app's engine)."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_healthy(self.url, 30)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


def start_process(*flags, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``python serve.py FLAGS --port P`` on 127.0.0.1 in its own process; (process, base URL) once healthy."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), *map(str, flags), "--port", str(port),
                             "--host", "127.0.0.1", "--log_level", "warning"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
    except BaseException:
        proc.kill()
        raise
    return proc, url
