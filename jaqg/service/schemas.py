"""Request and response bodies of the REST API (they make its OpenAPI schema). Types are strict: ``"2"`` is no
``num_beams`` and ``123`` is no ``text`` (422 naming the field); unknown fields are refused too."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

STRICT = ConfigDict(strict=True, extra="forbid")

BadWords = Field(default_factory=list, max_length=50, description="words no generated question may contain")


class QagOptions(BaseModel):
    """The knobs of generate_qa.py that a request may set (the model, device and lengths are the server's)."""
    model_config = STRICT
    answers: Optional[Literal["model", "ner"]] = Field(
        None, description="answer candidates: model (the AE task) or ner (GiNZA entities and numbers); "
                          "default: model when the server has an AE model, else ner")
    num_beams: int = Field(1, ge=1, le=8, description="beam size for question generation")
    bad_words: list[str] = BadWords
    min_roundtrip_f1: float = Field(0.8, ge=0, le=1, description="keep a pair when the QA model's answer has "
                                                                 "at least this char F1 with the candidate")
    allow_hallucinated: bool = Field(False, description="keep pairs whose question has words the passage lacks")
    keep_dropped: bool = Field(True, description="also return the dropped pairs, with the reason")
    max_input_length: Optional[int] = Field(None, ge=8, le=4096, description="passage budget in tokens "
                                                                             "(default: the model's)")


class GenerateQaRequest(BaseModel):
    model_config = STRICT
    text: str = Field(description="the document: plain text, a line break ends a sentence")
    title: str = Field("", max_length=200, description="optional title; passages start with `title [SEP] `")
    id: str = Field("text", min_length=1, max_length=100, description="the document's id in the records")
    options: QagOptions = Field(default_factory=QagOptions)


class QaPair(BaseModel):
    """One candidate: the record generate_qa.py writes as a JSON line, plus where the answer is in its passage."""
    id: str
    passage: str
    sentence: int
    answer: str
    question: str
    roundtrip_answer: str
    roundtrip_f1: float
    hallucinated_words: list[str]
    kept: bool
    reason: Optional[str]
    answer_start: Optional[int] = Field(None, description="offset of the answer in the passage (in its sentence)")


class GenerateQaResponse(BaseModel):
    pairs: list[QaPair]
    summary: dict[str, Any] = Field(description="generate_qa.py's .summary.json: documents, passages, "
                                                "candidates, kept, dropped by reason, ...")
    seconds: float


class GenerateRequest(BaseModel):
    model_config = STRICT
    answer: str = Field(min_length=1, max_length=200)
    context: str = Field(min_length=1)
    num_beams: int = Field(1, ge=1, le=8)
    num_return_sequences: int = Field(1, ge=1, le=8)
    bad_words: list[str] = BadWords


class GenerateResponse(BaseModel):
    questions: list[str]
    input: str = Field(description="the model input built from answer and context, as generate.py builds it")


class AnswerRequest(BaseModel):
    model_config = STRICT
    question: str = Field(min_length=1, max_length=500)
    context: str = Field(min_length=1)


class AnswerResponse(BaseModel):
    answer: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    capabilities: dict[str, bool]
    unavailable: dict[str, str]
    auth_required: bool
    queue: dict[str, int]
    limits: dict[str, int]
