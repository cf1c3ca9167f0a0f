"""Serve quiz generation over HTTP: the REST API (POST /v1/generate_qa, /v1/generate, /v1/answer, GET /health,
OpenAPI at /docs) and a web page at / (docs/service.md).

    python serve.py --model_name_or_path model_multi                       # http://127.0.0.1:8000/
    python serve.py --model_name_or_path model_aqg_hl --qa_model model_qa --port 8080
    JAQG_API_KEY=... python serve.py --model_name_or_path model_multi --host 0.0.0.0   # beyond loopback: a key

Ctrl-C or SIGTERM stops it after the requests in flight finish.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional

import uvicorn

from ..core.errors import UserError
from ..evaluation.hallucination import ANALYZERS
from ..service.app import create_app
from ..service.engine import EngineSettings, load_engine
from ..service.guard import Limits, check_bind
from .args import arg, parse_args
from .generation_args import BackendArgs


@dataclass
class Args(BackendArgs):
    """Serve quiz generation over HTTP: REST API and web page."""
    model_name_or_path: str = arg(help="question-generation model: a multitask model, an AQG-HL model (with "
                                       "--qa_model for the pipeline) or an AQG model (/v1/generate only)")
    qa_model: Optional[str] = arg(None, help="QA model for /v1/answer and the round trip (default: the "
                                             "multitask model's QA task)")
    ae_model: Optional[str] = arg(None, help="answer-extraction model for answers=model")
    assume_multitask: bool = arg(False, help="a model without run_config.json was trained on --task multi data "
                                             "with the default task prefixes")
    host: str = arg("127.0.0.1", help="address to listen on; anything but loopback needs an API key")
    port: int = arg(8000, help="TCP port")
    api_key: Optional[str] = arg(None, help="key the /v1/ endpoints require (X-API-Key or Authorization: Bearer); "
                                            "prefer the JAQG_API_KEY environment variable (a flag shows in ps)")
    device: str = arg("auto", help="auto | cpu | cuda | cuda:N")
    precision: str = arg("32", help="32 | bf16 | 16")
    threads: int = arg(0, help="CPU threads for torch (0 = torch's default)")
    batch_size: int = arg(16, help="inputs per generate call")
    hallucination_tokenizer: str = arg("ginza", choices=list(ANALYZERS), help="analyser of the hallucination check")
    max_pending: int = arg(32, help="requests waiting or running at once; more are answered 503 with Retry-After")
    max_batch: int = arg(32, help="/v1/generate or /v1/answer requests merged into one generate call")
    max_body_bytes: int = arg(1_000_000, help="largest request body (JSON or uploaded file); more is 413")
    max_text_chars: int = arg(100_000, help="most characters of text in one request")
    graceful_timeout: int = arg(60, help="seconds a shutdown waits for requests in flight")
    log_level: str = arg("info", choices=["critical", "error", "warning", "info", "debug"], help="server log level")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(Args, argv)
    api_key = args.api_key or os.environ.get("JAQG_API_KEY") or None
    check_bind(args.host, api_key)  # before minutes of model loading
    for name in ("port", "max_pending", "max_batch", "max_body_bytes", "max_text_chars", "batch_size"):
        if getattr(args, name) < (0 if name == "port" else 1) or (name == "port" and args.port > 65535):
            raise UserError(f"--{name} {getattr(args, name)}: out of range")
    engine = load_engine(EngineSettings(
        args.model_name_or_path, qa_model=args.qa_model, ae_model=args.ae_model,
        assume_multitask=args.assume_multitask, device=args.device, precision=args.precision, threads=args.threads,
        batch_size=args.batch_size, hallucination_tokenizer=args.hallucination_tokenizer,
        max_pending=args.max_pending, max_batch=args.max_batch, **args.backend_kwargs())).start()
    for name, why in engine.unavailable.items():
        print(f"note: {name} is not served: {why}", file=sys.stderr)
    app = create_app(engine, Limits(args.max_body_bytes, args.max_text_chars), api_key)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                    timeout_graceful_shutdown=args.graceful_timeout, server_header=False)
    finally:
        engine.close()
    return 0
