"""The models of one service process, loaded once, and what they can do: the QAG pipeline (jaqg.qag.pipeline, as
generate_qa.py runs it), question generation for an answer in a context (as generate.py builds its input), and
question answering (jaqg.evaluation.roundtrip). Every call runs on the BatchWorker's one thread.

Which endpoint works depends on the models (a multitask model serves all; an AQG-HL model with a QA model serves
the pipeline with NER answers, and so on); ``capabilities`` says so, and ``unavailable`` says why not.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Hashable, Sequence

from ..core.errors import UserError
from ..evaluation.roundtrip import answer_questions, qa_template
from ..generation.decoding import check_model_path, generate, load_model, read_run_config
from ..generation.inputs import question_input
from ..generation.outputs import GenerationStats
from ..qag.loading import QagModels, load_qag_models, plan_qag_models
from ..qag.pipeline import Document, QagConfig, QagResult, generate_qa, summarize
from .worker import BatchWorker

log = logging.getLogger(__name__)


@dataclass
class EngineSettings:
    """The models and how to run them (names as the command's flags)."""
    model_name_or_path: str
    qa_model: str | None = None
    ae_model: str | None = None
    assume_multitask: bool = False
    device: str = "auto"
    precision: str = "32"
    threads: int = 0
    batch_size: int = 16
    hallucination_tokenizer: str = "ginza"
    max_pending: int = 32  # requests waiting or running; more get 503
    max_batch: int = 32  # /v1/generate and /v1/answer requests merged into one generate call
    backend: str = "transformers"
    ct2_compute_type: str = "float32"
    trust_remote_code: bool = False  # the model repository's own Python code runs only when the operator asks


@dataclass
class QaSetup:
    template: str
    max_input_length: int
    max_new_tokens: int


@dataclass
class Engine:
    settings: EngineSettings
    qag: dict[str, QagModels] = field(default_factory=dict)  # answers ("model" / "ner") -> models
    qag_max_input_length: int | None = None
    qg: tuple | None = None  # (model, tokenizer) for /v1/generate
    qg_run_config: dict = field(default_factory=dict)
    qa: tuple | None = None  # (model, tokenizer) for /v1/answer
    qa_setup: QaSetup | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # capability -> why not
    worker: BatchWorker | None = None

    @property
    def capabilities(self) -> dict[str, bool]:
        return {"generate_qa": bool(self.qag), "answers_model": "model" in self.qag, "answers_ner": "ner" in self.qag,
                "generate": self.qg is not None, "answer": self.qa is not None}

    def start(self) -> "Engine":
        self.worker = BatchWorker({"qag": self._run_qag, "generate": self._run_generate, "answer": self._run_answer},
                                  batchable=("qag", "generate", "answer"), max_pending=self.settings.max_pending,
                                  max_batch=self.settings.max_batch)
        return self

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    # --- the calls (run on the worker thread) ---

    def _run_qag(self, key: Hashable, payloads: Sequence[tuple]) -> list[QagResult]:
        """Requests with the same answers and options run as ONE pipeline over all their documents (their
        candidates fill the same model batches), then split back per request (``split_qag``)."""
        answers = key[0]
        models = self.qag[answers]
        if len(payloads) == 1:
            documents, config = payloads[0]
            return [generate_qa(documents, models.qg, models.qa, answers=answers, ae=models.ae, config=config)]
        merged = [Document(f"{j}{BATCH_SEP}{d.id}", d.sentences, d.title)
                  for j, (documents, _) in enumerate(payloads) for d in documents]
        result = generate_qa(merged, models.qg, models.qa, answers=answers, ae=models.ae, config=payloads[0][1])
        return split_qag(result, [documents for documents, _ in payloads], payloads[0][1])

    def _run_generate(self, key: Hashable, payloads: Sequence[str]) -> list[list[str]]:
        num_beams, num_return_sequences, bad_words = key
        model, tokenizer = self.qg
        rc = self.qg_run_config
        return generate(model, tokenizer, list(payloads), batch_size=self.settings.batch_size,
                        max_input_length=rc.get("max_input_length") or 512,
                        max_new_tokens=rc.get("max_target_length") or 64, num_beams=num_beams,
                        num_return_sequences=num_return_sequences, bad_words=list(bad_words) or None)

    def _run_answer(self, key: Hashable, payloads: Sequence[tuple[str, str]]) -> list[str]:
        model, tokenizer = self.qa
        s = self.qa_setup
        return answer_questions(model, tokenizer, [q for q, _ in payloads], [c for _, c in payloads],
                                template=s.template, batch_size=self.settings.batch_size,
                                max_input_length=s.max_input_length, max_new_tokens=s.max_new_tokens)

    # --- what the endpoints submit ---

    def submit_qag(self, documents: list[Document], answers: str, config: QagConfig):
        options = dataclasses.astuple(dataclasses.replace(config, bad_words=tuple(config.bad_words or ())))
        return self.worker.submit("qag", (answers, options), (documents, config))

    def question_input(self, answer: str, context: str) -> str:
        """The input the QG model was trained on; UserError when the answer cannot be used with the context."""
        try:
            return question_input(answer, context, self.qg_run_config.get("data"))
        except ValueError as e:
            raise UserError(str(e).replace("pass --answer", "send an `answer`").replace(
                "pass --context", "send a `context`")) from None

    def submit_generate(self, text: str, num_beams: int, num_return_sequences: int, bad_words: Sequence[str]):
        return self.worker.submit("generate", (num_beams, num_return_sequences, tuple(bad_words)), text)

    def submit_answer(self, question: str, context: str):
        return self.worker.submit("answer", (), (question, context))


BATCH_SEP = "\x00"  # joins a request's index to its document ids in a merged run (no text holds it)
# Summary values that count the model inputs of the whole merged run (they cannot be told apart per request)
BATCH_WIDE = ("sentences_cut", "max_input_tokens", "inputs_over_limit", "generation")


def split_qag(result: QagResult, requests: Sequence[Sequence[Document]], config: QagConfig) -> list[QagResult]:
    """One merged pipeline run (document ids ``{j}\\x00{id}``) back into one result per request: its records and
    passages in order, ids restored, and its own summary (``summarize``); the values in ``BATCH_WIDE`` are the merged
    run's, and ``summary["batch"]`` says so ({requests, documents} of the run)."""
    out = []
    for j, documents in enumerate(requests):
        prefix = f"{j}{BATCH_SEP}"
        records = [dict(r, id=r["id"][len(prefix):]) for r in result.records if r["id"].startswith(prefix)]
        passages = [dict(p, id=p["id"][len(prefix):], index=k)
                    for k, p in enumerate(p for p in result.passages if p["id"].startswith(prefix))]
        sentences = sum(1 for d in documents for sentence in d.sentences if sentence.strip())
        summary = summarize(records, len(documents), len(passages), sentences, 0, config, 0, 0,
                            result.summary["answers"], GenerationStats())
        summary.update({k: result.summary[k] for k in BATCH_WIDE},
                       batch={"requests": len(requests), "documents": result.summary["documents"]})
        out.append(QagResult(records, summary, passages))
    return out


def load_engine(settings: EngineSettings) -> Engine:
    """Check every model, plan what each can serve, and load each path once; UserError when nothing can be served
    or a model named explicitly is missing or unusable."""
    s = settings
    named = {"model_name_or_path": s.model_name_or_path, "qa_model": s.qa_model, "ae_model": s.ae_model}
    for setting, path in named.items():
        if path:
            check_model_path(path, setting)
    engine = Engine(s)
    loaded: dict[str, tuple] = {}

    def load(path: str, setting: str) -> tuple:
        if path not in loaded:
            loaded[path] = load_model(path, device=s.device, precision=s.precision, threads=s.threads,
                                      param=setting, backend=s.backend, ct2_compute_type=s.ct2_compute_type,
                                      trust_remote_code=s.trust_remote_code)
        return loaded[path]

    plans = {}
    for answers in ("model", "ner"):
        try:
            plans[answers] = plan_qag_models(s.model_name_or_path, qa_model=s.qa_model,
                                             ae_model=s.ae_model if answers == "model" else None,
                                             answers=answers, assume_multitask=s.assume_multitask)
        except UserError as e:
            engine.unavailable[f"answers_{answers}"] = str(e)
    for plan in plans.values():
        for note in plan.notes:
            log.info(note)
    run_config = read_run_config(s.model_name_or_path) if Path(s.model_name_or_path).is_dir() else {}
    data = run_config.get("data")
    if (data or {}).get("task") in ("qa", "ae"):
        engine.unavailable["generate"] = (f"{s.model_name_or_path} was trained for task {data['task']!r}, not "
                                          "question generation; pass an AQG or multitask `model_name_or_path`")
    else:
        engine.qg, engine.qg_run_config = load(s.model_name_or_path, "model_name_or_path"), run_config
    qa_path = s.qa_model or s.model_name_or_path
    qa_config = read_run_config(qa_path) if Path(qa_path).is_dir() else {}
    qa_plan = plans.get("ner") or plans.get("model")
    if s.qa_model:  # named for QA: it must serve it
        template = qa_template(qa_config.get("data"), where=s.qa_model)
    elif qa_plan is not None:  # the pipeline's QA task of the model (a multitask model)
        template = qa_plan.configs["qa"][0]
    elif (data or {}).get("task") == "qa":
        template = qa_template(data, where=s.model_name_or_path)
    else:
        template = None
        engine.unavailable["answer"] = "no QA model: start the service with `qa_model` (or a multitask model)"
    if template:
        engine.qa = load(qa_path, "qa_model" if s.qa_model else "model_name_or_path")
        engine.qa_setup = QaSetup(template, qa_config.get("max_input_length") or 512,
                                  qa_config.get("max_target_length") or 64)
    for answers, plan in plans.items():
        if plan is not None:
            engine.qag[answers] = load_qag_models(plan, device=s.device, precision=s.precision, threads=s.threads,
                                                  loaded=loaded, backend=s.backend, ct2_compute_type=s.ct2_compute_type,
                                                  trust_remote_code=s.trust_remote_code)
            engine.qag_max_input_length = plan.max_input_length
    if not any(engine.capabilities.values()):
        raise UserError("these models serve no endpoint: " + "; ".join(engine.unavailable.values()))
    log.info("loaded %d model(s); serving %s", len(loaded),
             ", ".join(k for k, v in engine.capabilities.items() if v))
    return engine
