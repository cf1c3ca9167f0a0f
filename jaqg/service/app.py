"""The REST API and the web page over one Engine (jaqg.service.engine): ``create_app(engine, limits)``.

    POST /v1/generate_qa        {"text", "title"?, "id"?, "options"?} -> {"pairs", "summary", "seconds"}
    POST /v1/generate_qa/file   multipart: file (.txt / .jsonl / .json, as generate_qa.py reads it), options (JSON)
    POST /v1/generate           {"answer", "context", "num_beams"?, ...} -> {"questions", "input"}
    POST /v1/answer             {"question", "context"} -> {"answer"}
    GET  /health                capabilities, queue, limits        GET /  the page     GET /docs  OpenAPI

Status codes: 400 a request the models cannot serve (empty text, an answer not in its context...), 401 no or a
wrong key, 413 a body over the limit, 422 malformed JSON or a field of the wrong type (the message names it), 500
a model error (the process keeps serving), 501 an endpoint these models do not serve, 503 the queue is full
(Retry-After). Every model call goes through the engine's one worker thread (jaqg.service.worker).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from .. import __version__
from ..core.errors import UserError
from ..core.normalize import normalize
from ..qag.pipeline import Document, QagConfig, document_sentences, read_documents
from .engine import Engine
from .guard import Guard, Limits
from .schemas import (
    AnswerRequest,
    AnswerResponse,
    GenerateQaRequest,
    GenerateQaResponse,
    GenerateRequest,
    GenerateResponse,
    Health,
    QagOptions,
)
from .worker import Busy

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
UPLOAD_SUFFIXES = (".txt", ".jsonl", ".json")


@dataclass
class Unavailable(Exception):
    status: int
    message: str


def field_name(loc) -> str:
    """``("body", "options", "num_beams")`` -> ``options.num_beams``; the body itself -> ``body``."""
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_message(errors) -> str:
    first = errors[0]
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"`{field_name(first.get('loc', ()))}`: {first.get('msg', 'invalid')}{more}"


def answer_start(doc: Document, record: dict) -> int | None:
    """Where the answer is in the passage: in its own sentence when that is whole in the passage, else first."""
    passage, answer = record["passage"], record["answer"]
    if not answer:
        return None
    sentence = doc.sentences[record["sentence"]] if 0 <= record["sentence"] < len(doc.sentences) else ""
    at = passage.find(sentence) if sentence else -1
    inner = sentence.find(answer) if at >= 0 else -1
    if inner >= 0:
        return at + inner
    found = passage.find(answer)
    return found if found >= 0 else None


def create_app(engine: Engine, limits: Limits | None = None, api_key: str | None = None) -> FastAPI:
    limits = limits or Limits()

    async def wait(future):
        """A job's result; UserError -> 400, any other failure -> 500 (logged; the worker goes on)."""
        try:
            return await asyncio.wrap_future(future)
        except UserError as e:
            raise HTTPException(400, str(e)) from None
        except Exception as e:  # noqa: BLE001 - a model error answers its request, never ends the process
            log.exception("model error")
            reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise HTTPException(500, f"model error: {type(e).__name__}{': ' + reason if reason else ''}") from None

    def submit(call, *args):
        try:
            return call(*args)
        except Busy as e:
            raise HTTPException(503, str(e), headers={"Retry-After": str(e.retry_after)}) from None

    async def run_qag(documents: list[Document], opts: QagOptions) -> GenerateQaResponse:
        if not engine.qag:
            raise Unavailable(501, "these models do not serve /v1/generate_qa: "
                              + "; ".join(v for k, v in engine.unavailable.items() if k.startswith("answers_")))
        answers = opts.answers or ("model" if "model" in engine.qag else "ner")
        if answers not in engine.qag:
            raise HTTPException(400, f"`options.answers` {answers} is not served here: "
                                     f"{engine.unavailable.get('answers_' + answers, '')}")
        if any(not w.strip() for w in opts.bad_words):
            raise HTTPException(400, "`options.bad_words` holds an empty word; list only words to keep out")
        config = QagConfig(max_input_length=opts.max_input_length or engine.qag_max_input_length or 512,
                           num_beams=opts.num_beams, bad_words=opts.bad_words or None,
                           batch_size=engine.settings.batch_size, min_roundtrip_f1=opts.min_roundtrip_f1,
                           allow_hallucinated=opts.allow_hallucinated,
                           hallucination_tokenizer=engine.settings.hallucination_tokenizer, progress=False)
        start = time.perf_counter()
        result = await wait(submit(engine.submit_qag, documents, answers, config))
        docs = {d.id: d for d in documents}
        pairs = [dict(r, answer_start=answer_start(docs[r["id"]], r)) for r in result.records
                 if r["kept"] or opts.keep_dropped]
        return GenerateQaResponse(pairs=pairs, summary=result.summary, seconds=round(time.perf_counter() - start, 3))

    app = FastAPI(title="jaqg", version=__version__,
                  description="Quiz generation: question-answer pairs from Japanese text, questions for an answer, "
                              "answers to a question (docs/service.md).")

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        errors = exc.errors()
        fields = ["body" if e.get("type") == "json_invalid" else field_name(e.get("loc", ())) for e in errors]
        return JSONResponse({"detail": validation_message(errors), "errors": [
            {"field": f, "message": e.get("msg", ""), "type": e.get("type", "")} for f, e in zip(fields, errors)]},
                            status_code=422)

    @app.exception_handler(Unavailable)
    async def unavailable(request, exc: Unavailable):
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.get("/health", response_model=Health)
    async def health():
        worker = engine.worker
        return Health(status="ok", version=__version__, capabilities=engine.capabilities,
                      unavailable={k: ("" if api_key else v) for k, v in engine.unavailable.items()},
                      auth_required=bool(api_key),
                      queue=worker.counts(),
                      limits={"max_body_bytes": limits.max_body_bytes, "max_text_chars": limits.max_text_chars})

    @app.post("/v1/generate_qa", response_model=GenerateQaResponse)
    async def generate_qa(req: GenerateQaRequest):
        """Question-answer pairs from a text: generate_qa.py's records (kept and, unless `keep_dropped` is false,
        dropped with the reason) and its summary."""
        if len(req.text) > limits.max_text_chars:
            raise HTTPException(413, f"`text` has {len(req.text)} characters; the limit is {limits.max_text_chars}")
        documents = [Document(req.id, document_sentences(req.text), normalize(req.title))]
        if not documents[0].text.strip():
            raise HTTPException(400, "`text` is empty; send the document's text")
        return await run_qag(documents, req.options)

    @app.post("/v1/generate_qa/file", response_model=GenerateQaResponse)
    async def generate_qa_file(file: UploadFile = File(description="a .txt (one document), a .jsonl of "
                                                                   "{\"text\"[, \"id\", \"title\"]} or a JSQuAD .json"),
                               options: str = Form("{}", description="QagOptions as JSON")):
        """generate_qa.py's input files, uploaded: read as the command reads them, from a temporary directory."""
        try:
            opts = QagOptions.model_validate_json(options)
        except ValidationError as e:
            errors = [dict(err, loc=("options", *err.get("loc", ()))) for err in e.errors()]
            raise RequestValidationError(errors) from None
        name = Path(file.filename or "").name
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise HTTPException(400, f"`file` {name!r}: send a .txt, .jsonl or .json file")
        data = await file.read(limits.max_body_bytes + 1)
        if len(data) > limits.max_body_bytes:
            raise HTTPException(413, f"`file` is over {limits.max_body_bytes} bytes")
        with tempfile.TemporaryDirectory(prefix="jaqg-upload-") as tmp:
            path = Path(tmp) / f"upload{suffix}"  # the client's name is never a path here
            path.write_bytes(data)
            try:
                documents = read_documents(path)
            except UserError as e:
                raise HTTPException(400, str(e).replace(str(path), name or "the file")) from None
        if suffix == ".txt":
            documents = [d._replace(id=Path(name).stem or d.id) for d in documents]
        if sum(len(d.text) for d in documents) > limits.max_text_chars:
            raise HTTPException(413, f"`file` holds over {limits.max_text_chars} characters of text")
        return await run_qag(documents, opts)

    @app.post("/v1/generate", response_model=GenerateResponse)
    async def generate(req: GenerateRequest):
        """Questions for an answer in a context, the input built as generate.py builds it. Requests that wait
        together with the same beams and bad words are generated in one batch."""
        if engine.qg is None:
            raise Unavailable(501, f"these models do not serve /v1/generate: {engine.unavailable.get('generate')}")
        if req.num_return_sequences > req.num_beams:
            raise HTTPException(400, "`num_return_sequences` must not exceed `num_beams`")
        if any(not w.strip() for w in req.bad_words):
            raise HTTPException(400, "`bad_words` holds an empty word; list only words to keep out")
        try:
            text = engine.question_input(req.answer, req.context)
        except UserError as e:
            raise HTTPException(400, str(e)) from None
        questions = await wait(submit(engine.submit_generate, text, req.num_beams, req.num_return_sequences,
                                      req.bad_words))
        return GenerateResponse(questions=questions, input=text)

    @app.post("/v1/answer", response_model=AnswerResponse)
    async def answer(req: AnswerRequest):
        """The QA model's answer to a question about a context (batched with other waiting requests)."""
        if engine.qa is None:
            raise Unavailable(501, f"these models do not serve /v1/answer: {engine.unavailable.get('answer')}")
        if not normalize(req.question) or not normalize(req.context):
            raise HTTPException(400, "`question` and `context` must hold text")
        return AnswerResponse(answer=await wait(submit(engine.submit_answer, req.question, req.context)))

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, limits=limits, api_key=api_key)  # outermost: before any body is read
    return app
