"""`serve.py` as its own process on 127.0.0.1: memorised tiny models answer right through the API, a small load
test (bench/serve_load.py's) fails no request and leaves RSS flat, waiting requests share generate batches, and
SIGTERM lets the requests in flight finish."""

import signal
import sys
import threading
import time

import httpx
import pytest
from serve_helpers import ROOT, start_process

sys.path.insert(0, str(ROOT / "bench"))
from serve_load import rss_kb, run_load  # noqa: E402
from trained_models import FACT, SEED  # noqa: E402


@pytest.fixture(scope="module")
def server(models):
    proc, url = start_process("--model_name_or_path", models["aqg"], "--qa_model", models["qa"], "--threads", 1)
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


def test_memorised_models_answer_through_the_api(server):
    _, url = server
    answer, context, question = SEED
    r = httpx.post(url + "/v1/generate", json={"answer": answer, "context": context}, timeout=60)
    assert r.status_code == 200 and r.json()["questions"] == [question]
    r = httpx.post(url + "/v1/answer", json={"question": FACT[2], "context": FACT[1]}, timeout=60)
    assert r.status_code == 200 and r.json() == {"answer": FACT[0]}
    health = httpx.get(url + "/health", timeout=10).json()
    assert health["capabilities"]["generate"] and health["capabilities"]["answer"]
    assert not health["capabilities"]["generate_qa"] and "AQG-HL" in health["unavailable"]["answers_ner"]
    r = httpx.post(url + "/v1/generate_qa", json={"text": context}, timeout=60)
    assert r.status_code == 501 and "do not serve /v1/generate_qa" in r.json()["detail"]


def test_a_small_load_fails_nothing_and_memory_stays_flat(server):
    proc, url = server
    run_load(url, "generate", 2, 3)  # warm up
    before = rss_kb(proc.pid)
    result = {e: run_load(url, e, clients=4, requests=10, timeout=60, deadline=240) for e in ("generate", "answer")}
    after = rss_kb(proc.pid)
    print({**result, "rss_mb": (before // 1024, after // 1024)})
    for r in result.values():
        assert r["ok"] == r["requests"] == 40 and r["failed"] == 0, r["failures"]
    assert after - before < 50 * 1024  # KB: no growth with the number of requests
    health = httpx.get(url + "/health", timeout=10).json()["queue"]
    assert health["batches"] < health["jobs_done"]  # some waiting requests were batched together


def test_sigterm_finishes_the_requests_in_flight(server):
    proc, url = server
    replies = []
    body = {"answer": SEED[0], "context": SEED[1], "num_beams": 8, "num_return_sequences": 8}

    def ask():
        replies.append(httpx.post(url + "/v1/generate", json=body, timeout=120).status_code)

    def queue() -> dict:
        return httpx.get(url + "/health", timeout=10).json()["queue"]

    def admitted(q: dict) -> int:  # requests the worker has taken in since the test began (waiting, running, done)
        return q["outstanding"] + q["jobs_done"] - done_before

    done_before = queue()["jobs_done"]
    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while admitted(q := queue()) < 6 and time.monotonic() < deadline:  # one not yet connected would be refused
        time.sleep(0.01)
    assert admitted(q) == 6
    in_flight = q["outstanding"]
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(120)
    assert in_flight > 0  # the premise: SIGTERM came while requests were waiting or running
    assert replies == [200] * 6
    assert proc.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after its graceful shutdown
