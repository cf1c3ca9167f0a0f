"""Load test of `jaqg serve` on localhost: a real uvicorn process on 127.0.0.1, CLIENTS threads each sending
REQUESTS requests one after another; prints p50 / p95 latency, throughput, failures and the server's RSS before and
after (flat: no growth per request). Bounded: every request has a timeout and the whole run a deadline.

    python bench/serve_load.py                                   # a tiny random multitask T5 built here
    python bench/serve_load.py --model_name_or_path model_multi --clients 8 --requests 50 --endpoint generate_qa

Endpoints: generate_qa (NER answers: the whole pipeline per request), generate, answer (batched across clients).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "service"))

import httpx  # noqa: E402

from jaqg.cli.args import arg, parse_args  # noqa: E402

TEXTS = ["青葉町は山形県の南部にある町である。人口は約8200人で、和紙の産地として知られる。",
         "白川は星野湖に注ぐ川で、長さは12kmである。", "森瀬市は1952年に市制を施行した。"]


@dataclass
class Args:
    """Load test of jaqg serve on 127.0.0.1."""
    model_name_or_path: Optional[str] = arg(None, help="model to serve (default: a tiny random multitask T5)")
    qa_model: Optional[str] = arg(None, help="QA model to serve")
    endpoint: str = arg("generate_qa", choices=["generate_qa", "generate", "answer"], help="what each request asks")
    clients: int = arg(8, help="concurrent clients")
    requests: int = arg(50, help="requests per client")
    timeout: float = arg(60.0, help="seconds one request may take")
    deadline: float = arg(600.0, help="seconds the whole run may take")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def request_body(endpoint: str, i: int) -> dict:
    text = TEXTS[i % len(TEXTS)]
    if endpoint == "generate_qa":
        return {"text": text, "options": {"answers": "ner"}}
    if endpoint == "generate":
        return {"answer": text[:3], "context": text}
    return {"question": text[:6] + "はどこか。", "context": text}


def run_load(url: str, endpoint: str, clients: int, requests: int, timeout: float = 60.0,
             deadline: float = 600.0) -> dict:
    """Latencies and failures of clients x requests; stops early at the deadline (counted as not sent)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline

    def client(c: int) -> None:
        with httpx.Client(base_url=url, timeout=timeout) as http:
            for i in range(requests):
                if time.monotonic() > stop_at:
                    return
                start = time.perf_counter()
                try:
                    r = http.post(f"/v1/{endpoint}", json=request_body(endpoint, c * requests + i))
                    ok, why = r.status_code == 200, f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as e:
                    ok, why = False, repr(e)
                took = time.perf_counter() - start
                with lock:
                    (latencies.append(took) if ok else failures.append(why))

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")  # noqa
    return {"requests": clients * requests, "ok": len(latencies), "failed": len(failures),
            "failures": failures[:5], "p50_ms": round(pick(0.5) * 1000, 1), "p95_ms": round(pick(0.95) * 1000, 1),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
            "throughput_rps": round(len(latencies) / wall, 2), "seconds": round(wall, 2)}


def tiny_multitask(out: Path) -> Path:
    from serve_helpers import make_multitask

    from jaqg.data.synthetic import write_synthetic_jsquad
    from jaqg.models.tiny import build_tiny_model
    write_synthetic_jsquad(out / "jsquad", n_train=600, n_valid=100, seed=0)
    return make_multitask(build_tiny_model(out / "jsquad", out / "t5", arch="t5"), out / "multi")


def main() -> int:
    from serve_helpers import start_process

    args = parse_args(Args)
    with tempfile.TemporaryDirectory(prefix="serve_load-") as tmp:
        model = args.model_name_or_path or str(tiny_multitask(Path(tmp)))
        flags = ["--model_name_or_path", model, "--max_pending", max(32, args.clients * 2)]
        flags += ["--qa_model", args.qa_model] if args.qa_model else []
        proc, url = start_process(*flags)
        try:
            run_load(url, args.endpoint, min(args.clients, 2), 3, args.timeout, 120)  # warm up (GiNZA loads)
            before = rss_kb(proc.pid)
            result = run_load(url, args.endpoint, args.clients, args.requests, args.timeout, args.deadline)
            after = rss_kb(proc.pid)
            health = httpx.get(url + "/health", timeout=5).json()
        finally:
            proc.terminate()
            proc.wait(60)
    result.update(rss_mb_before=round(before / 1024, 1), rss_mb_after=round(after / 1024, 1),
                  rss_mb_growth=round((after - before) / 1024, 1), batches=health["queue"]["batches"],
                  jobs=health["queue"]["jobs_done"], endpoint=args.endpoint, clients=args.clients,
                  requests_per_client=args.requests, server_exit=proc.returncode)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"{args.endpoint}: {result['ok']}/{result['requests']} ok, p50 {result['p50_ms']} ms, p95 "
          f"{result['p95_ms']} ms, {result['throughput_rps']} req/s, RSS {result['rss_mb_before']} -> "
          f"{result['rss_mb_after']} MB")
    return 0 if result["failed"] == 0 and result["ok"] == result["requests"] else 1


if __name__ == "__main__":
    sys.exit(main())
