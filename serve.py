"""Serve quiz generation over HTTP: a REST API (POST /v1/generate_qa, /v1/generate, /v1/answer, GET /health,
OpenAPI at /docs) and a web page at /, on 127.0.0.1:8000 unless told otherwise (docs/service.md).

    python serve.py --model_name_or_path model_multi
    python serve.py --model_name_or_path model_aqg_hl --qa_model model_qa --port 8080
"""

from jaqg.cli.args import run_cli
from jaqg.cli.serve import main

if __name__ == "__main__":
    run_cli(main)
