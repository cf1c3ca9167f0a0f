"""Question-answer pair generation (QAG) from raw text: the pipeline behind generate_qa.py.

    documents -> sentences -> passages that fit the models -> answer candidates per sentence -> a question per
    candidate (AQG-HL) -> round trip (answer it again with QA) -> hallucination check -> duplicate questions

- **Documents**: a ``.txt`` file is one document (id: the file's stem); a ``.jsonl`` file holds ``{"text"}``
  records (optional ``"id"``, default the line number, and ``"title"``); a ``.json`` JSQuAD (SQuAD v1.1) file gives one
  document per paragraph (its
  body and title; id: the paragraph's ``a123p0``, as score_qag.py expects). Each line is normalized alone and a
  line break always ends a sentence. A document with a title starts every passage with ``title [SEP] ``, the
  JSQuAD context layout the models were trained on; answers come from the body only.
- **Passages**: consecutive sentences (jaqg.core.sentences), as many as fit ``max_input_length`` tokens of each model's
  tokenizer in the worst input the passage takes part in: the AE and AQG-HL inputs with their task template and
  both ``<hl>`` markers (plus ``HL_SLACK`` tokens, for pieces a marker splits), and the QA input with a question of
  the QG model's ``max_new_tokens``. Passages partition the document: joined, they give back its normalized text.
  A sentence that alone does not fit is cut into the longest character runs that do, and counted.
- **Candidates**: ``answers="model"``: the AE task (``<hl>sentence<hl>`` -> ``a1 <sep> a2``) of the multitask model
  or of ``ae_model``; ``answers="ner"``: GiNZA entities and numeric expressions (jaqg.data.answer_extraction).
- **Filters**, in order (a candidate's ``reason`` names the first that drops it): ``unknown character in answer``
  (an AE answer holding the AE model's unknown token ``<unk>`` whose sentence does not determine what it stands
  for; one it does is mapped back to the sentence's span, jaqg.generation.outputs), ``answer not in sentence`` (an
  AE output that is no span of its sentence cannot be highlighted), ``empty question``, ``roundtrip mismatch``
  (char F1 of the QA answer and the candidate below ``min_roundtrip_f1``; the round-trip consistency check of
  Alberti et al. 2019), ``hallucinated`` (content words of the question that the passage lacks,
  jaqg.evaluation.hallucination; with ``allow_hallucinated`` such pairs are kept, their words listed), ``duplicate
  question``
  (the same normalized question earlier in the document).
"""

from __future__ import annotations

import logging
import sys
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from ..core.errors import UserError
from ..core.io import read_jsonl, read_lines
from ..core.normalize import DEFAULT_SEP, match_key, normalize
from ..core.sentences import split_sentences
from ..data.answer_extraction import ner_candidates, strip_span
from ..data.formats import GPT_SEP, HL_TOKEN, format_input, parse_ae_output
from ..data.highlight import wrap
from ..data.jsquad import load_paragraphs
from ..evaluation.hallucination import find_hallucinations
from ..evaluation.metrics import char_f1
from ..evaluation.roundtrip import answer_questions, qa_inputs
from ..generation.chat import Prompt
from ..generation.decoding import generate
from ..generation.outputs import UNK_MARKER, GenerationStats, resolve_unknown

log = logging.getLogger(__name__)

# Tokens a <hl> marker inside a passage may add over one around the whole passage (it can split a piece).
HL_SLACK = 2
REASONS = ("malformed pair", "unknown character in answer", "answer not in sentence", "answer not in passage",
           "empty question", "roundtrip mismatch", "hallucinated", "duplicate question")


class Document(NamedTuple):
    id: str
    sentences: list[str]  # normalized; "".join(sentences) is the document's normalized text
    title: str = ""  # normalized; when set, each passage starts with "title [SEP] "

    @property
    def text(self) -> str:
        return "".join(self.sentences)


def document_sentences(raw: str) -> list[str]:
    """Sentences of a raw text: each line normalized alone (normalization removes line breaks), then split."""
    return [s for line in raw.splitlines() for s in split_sentences(normalize(line))]


def read_documents(path: str | Path) -> list[Document]:
    """Documents of a .txt, .jsonl or JSQuAD .json file; UserError (file:line: what) on bad input."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; pass `input_file` doc.txt, docs.jsonl or a JSQuAD .json")
    if path.suffix == ".json":
        docs = [Document(p.id, document_sentences(p.body), p.title) for p in load_paragraphs(path)]
    elif path.suffix == ".jsonl":
        docs, seen = [], set()
        for lineno, item in read_jsonl(path, 'write one {"id": ..., "text": ...} per line'):
            if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
                raise UserError(f'{path}:{lineno}: needs a non-empty string field "text" ("id" and "title" are '
                                'optional; the id defaults to the line number)')
            if not isinstance(item.get("title", ""), str):
                raise UserError(f'{path}:{lineno}: "title" must be a string')
            doc_id = str(item.get("id", lineno))
            if doc_id in seen:
                raise UserError(f"{path}:{lineno}: id {doc_id!r} repeats an earlier line; ids must be unique")
            seen.add(doc_id)
            docs.append(Document(doc_id, document_sentences(item["text"]), normalize(item.get("title", ""))))
    elif path.suffix == ".txt":
        text = "\n".join(line for _, line in read_lines(path))
        docs = [Document(path.stem, document_sentences(text))] if text.strip() else []
    else:
        raise UserError(f"{path}: unknown kind of file; pass a .txt (one document), a .jsonl of "
                        '{"id", "text"} records, or a JSQuAD .json')
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise UserError(f"{path}: no text in it; pass a file that holds a document")
    return docs


def fit_passages(sentences: Sequence[str], fits: Callable[[str], bool]) -> tuple[list[list[str]], int]:
    """Group consecutive sentences into passages that ``fits``; (passages as lists of pieces, sentences cut).

    A sentence that does not fit alone is cut into the longest leading character runs that fit (binary search),
    each its own piece. Every character lands in exactly one piece, in order. ``fits`` must accept one character.
    """
    passages: list[list[str]] = []
    current: list[str] = []
    cut = 0
    for sentence in sentences:
        if current and fits("".join(current) + sentence):
            current.append(sentence)
            continue
        if current:
            passages.append(current)
            current = []
        if fits(sentence):
            current = [sentence]
            continue
        cut += 1
        rest = sentence
        while rest:
            lo, hi = 1, len(rest)  # the longest prefix that fits: fits(rest[:lo]) holds
            if not fits(rest[:1]):
                raise UserError("`max_input_length` is too small for even one character with the task template; "
                                "raise it")
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(rest[:mid]) else (lo, mid - 1)
            piece, rest = rest[:lo], rest[lo:]
            (passages.append([piece]) if rest else current.append(piece))
    if current:
        passages.append(current)
    return passages, cut


@dataclass
class TaskModel:
    """A loaded model, the full input template of one task, its lengths, and (a causal LM trained on chat data)
    how it is prompted (jaqg.generation.chat.Prompt: chat template and system turn)."""
    model: object
    tokenizer: object
    template: str
    max_new_tokens: int
    prompt: Prompt | None = None

    def input_length(self, text: str) -> int:
        """Tokens of ``text`` as this model's tokenizer encodes it, special tokens (or the chat template) included."""
        if self.prompt is not None:
            return len(self.prompt.encode(text, 0))
        return len(self.tokenizer(text)["input_ids"])


@dataclass
class QagConfig:
    """generate_qa.py's knobs: ``max_input_length`` in tokens of each model's tokenizer, ``min_roundtrip_f1`` a
    char F1 in 0-1 (jaqg.evaluation.metrics.char_f1), ``hallucination_tokenizer`` one of
    jaqg.evaluation.hallucination.ANALYZERS."""
    max_input_length: int = 512
    num_beams: int = 1
    bad_words: Sequence[str] | None = None
    batch_size: int = 16
    min_roundtrip_f1: float = 0.8
    allow_hallucinated: bool = False
    hallucination_tokenizer: str = "ginza"
    progress: bool = True


@dataclass
class QagResult:
    """What ``generate_qa`` returns: one record per candidate, the summary, and one entry per passage (see
    ``generate_qa``'s docstring for their keys)."""
    records: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    passages: list[dict] = field(default_factory=list)  # {id, index, passage, sentences, worst_input_tokens}


class InputMeter:
    """Records the token length of every model input of a run: ``longest``, and ``over`` (how many exceeded
    ``limit``). Called as ``meter(model, inputs)``, it returns the inputs unchanged."""

    def __init__(self, limit: int):
        self.limit, self.longest, self.over = limit, 0, 0

    def __call__(self, model: "TaskModel", inputs: list[str]) -> list[str]:
        for text in inputs:
            n = model.input_length(text)
            self.longest = max(self.longest, n)
            self.over += n > self.limit
        return inputs


def worst_input_tokens(qg: TaskModel, qa: TaskModel, ae: TaskModel | None) -> Callable[[str], int]:
    """Tokens of the longest input a passage can take part in (see the module docstring): AE and AQG-HL with the
    whole passage highlighted plus ``HL_SLACK``, QA with a question of the QG model's ``max_new_tokens``."""
    def worst(text: str) -> int:
        marked = HL_TOKEN + text + HL_TOKEN
        lengths = [qg.input_length(format_input("aqg_hl", context=marked, template=qg.template)) + HL_SLACK,
                   qa.input_length(format_input("qa", question="", context=text, template=qa.template))
                   + qg.max_new_tokens]
        if ae is not None:
            lengths.append(ae.input_length(format_input("ae", context=marked, template=ae.template)) + HL_SLACK)
        return max(lengths)
    return worst


def generate_qa(documents: Sequence[Document], qg: TaskModel, qa: TaskModel, *, answers: str = "model",
                ae: TaskModel | None = None, config: QagConfig = QagConfig(), sep: str = DEFAULT_SEP) -> QagResult:
    """Run the pipeline over documents; one record per candidate, in document and sentence order, and a summary.

    Records: {id, passage, sentence (0-based index in the document's sentences of the one the answer was extracted
    from), answer, question, roundtrip_answer, roundtrip_f1 (0-1), hallucinated_words, kept,
    reason (None when kept)}. Summary: documents, passages, sentences (of the documents; a cut sentence gives its
    pieces to answer extraction one by one), sentences_cut, max_input_tokens (the
    longest input any model received), inputs_over_limit, candidates, kept, dropped {reason: n}, kept_hallucinated,
    generation (GenerationStats of every model call: inputs_cut, unk_in_outputs, unk_resolved, unk_dropped,
    outputs_cut_at_limit, ...).
    """

    if answers not in ("model", "ner"):
        raise UserError(f"`answers` {answers}: choose model or ner")
    if answers == "model" and ae is None:
        raise UserError("`answers` model needs an answer-extraction model (a multitask model or `ae_model`)")
    worst = worst_input_tokens(qg, qa, ae if answers == "model" else None)
    fits = lambda text: worst(text) <= config.max_input_length  # noqa: E731
    measured = InputMeter(config.max_input_length)  # the passages' guarantee, checked on every model input
    stats = GenerationStats()

    # Passages and the sentences in them: (doc index, passage text, [(start, end, sentence index) of each piece]);
    # the index is of doc.sentences (a cut sentence's pieces share it), found from the piece's place in the document.
    passages, n_cut = [], 0
    n_sentences = sum(1 for doc in documents for sentence in doc.sentences if sentence.strip())
    for d, doc in enumerate(documents):
        head = f"{doc.title} {sep} " if doc.title else ""
        groups, cut = fit_passages(doc.sentences, lambda text: fits(head + text))
        n_cut += cut
        starts = list(accumulate((len(s) for s in doc.sentences[:-1]), initial=0))
        in_doc = 0  # where the piece starts in the document's text
        for pieces in groups:
            spans, at = [], len(head)
            for piece in pieces:
                a, b = strip_span(piece, 0, len(piece))
                if b > a:
                    spans.append((at + a, at + b, bisect_right(starts, in_doc) - 1))
                at += len(piece)
                in_doc += len(piece)
            passages.append((d, head + "".join(pieces), spans))

    # Candidates: (passage index, answer, start in passage) or a record dropped at once.
    sentence_refs = [(p, a, b, k) for p, (_, text, spans) in enumerate(passages) for a, b, k in spans]
    if answers == "ner":
        found = ner_candidates([passages[p][1][a:b] for p, a, b, _ in sentence_refs])
    else:
        inputs = measured(ae, [format_input("ae", context=wrap(passages[p][1], a, passages[p][1][a:b]),
                                            template=ae.template) for p, a, b, _ in sentence_refs])
        outputs = generate(ae.model, ae.tokenizer, inputs, batch_size=config.batch_size,
                           max_input_length=config.max_input_length, max_new_tokens=ae.max_new_tokens,
                           keep_special_tokens=(GPT_SEP,), progress=config.progress,
                           templates=[ae.template], stats=stats, prompt=ae.prompt) if inputs else []
        found = [parse_ae_output(o[0]) if o else [] for o in outputs]
        for (p, a, b, _), answers_ in zip(sentence_refs, found):  # <unk> stands for what the sentence holds there
            for j, answer in enumerate(answers_):
                if UNK_MARKER in answer:
                    source = resolve_unknown(ae.tokenizer, answer, passages[p][1][a:b])
                    stats.unk_resolved += source is not None
                    stats.unk_dropped += source is None
                    answers_[j] = source or answer
    candidates = []  # [passage index, answer, start or None, sentence index]
    for (p, a, b, k), spans in zip(sentence_refs, found):
        sentence = passages[p][1][a:b]
        for answer in spans:
            at = sentence.find(answer) if HL_TOKEN not in answer and UNK_MARKER not in answer else -1
            candidates.append((p, answer, a + at if at >= 0 else None, k))

    records = []
    for p, answer, start, k in candidates:
        d, text, _ = passages[p]
        records.append({"id": documents[d].id, "passage": text, "sentence": k, "answer": answer, "question": "",
                        "roundtrip_answer": "", "roundtrip_f1": 0.0, "hallucinated_words": [], "kept": False,
                        "reason": None if start is not None else "unknown character in answer"
                        if UNK_MARKER in answer else "answer not in sentence"})
    todo = [i for i, r in enumerate(records) if r["reason"] is None]

    qg_inputs = measured(qg, [format_input("aqg_hl", context=wrap(passages[candidates[i][0]][1], candidates[i][2],
                                                                 candidates[i][1]), template=qg.template)
                              for i in todo])
    questions = generate(qg.model, qg.tokenizer, qg_inputs, batch_size=config.batch_size,
                         max_input_length=config.max_input_length, max_new_tokens=qg.max_new_tokens,
                         num_beams=config.num_beams, bad_words=config.bad_words, templates=[qg.template],
                         progress=config.progress, stats=stats, prompt=qg.prompt) if qg_inputs else []
    for i, q in zip(todo, questions):
        records[i]["question"] = q[0] if q else ""
        if not records[i]["question"]:
            records[i]["reason"] = "empty question"
    todo = [i for i in todo if records[i]["reason"] is None]
    filter_pairs(records, todo, qa, config, stats, measured)
    summary = summarize(records, len(documents), len(passages), n_sentences, n_cut, config, measured.longest,
                        measured.over, answers, stats)
    if n_cut:
        log.warning("%d sentence(s) longer than --max_input_length %d tokens were cut by characters",
                    n_cut, config.max_input_length)
    passage_info = [{"id": documents[d].id, "index": i, "passage": text, "sentences": len(spans),
                     "worst_input_tokens": worst(text)} for i, (d, text, spans) in enumerate(passages)]
    return QagResult(records, summary, passage_info)


def filter_pairs(records: list[dict], todo: list[int], qa: TaskModel, config: QagConfig, stats: GenerationStats,
                 measured: Callable[[TaskModel, list[str]], list[str]]) -> None:
    """The filters every mode shares, on ``records[i]`` for i in ``todo`` (pairs with a question and no reason
    yet): round trip (``roundtrip mismatch``), hallucination check (``hallucinated``), ``duplicate question`` within
    a document; sets roundtrip_answer, roundtrip_f1, hallucinated_words, kept and reason."""
    qa_questions, qa_passages = [records[i]["question"] for i in todo], [records[i]["passage"] for i in todo]
    measured(qa, qa_inputs(qa_questions, qa_passages, qa.template))  # the inputs answer_questions builds
    replies = answer_questions(qa.model, qa.tokenizer, qa_questions, qa_passages, template=qa.template,
                               batch_size=config.batch_size, max_input_length=config.max_input_length,
                               max_new_tokens=qa.max_new_tokens, progress=config.progress, stats=stats,
                               prompt=qa.prompt)
    hallucinated = find_hallucinations(qa_questions, qa_passages, tokenizer=config.hallucination_tokenizer) \
        if qa_questions else []
    seen: dict[str, set[str]] = {}
    for i, reply, words in zip(todo, replies, hallucinated):
        r = records[i]
        r["roundtrip_answer"], r["roundtrip_f1"] = reply, round(char_f1(reply, r["answer"]), 4)
        r["hallucinated_words"] = words
        key = match_key(r["question"])
        if r["roundtrip_f1"] < config.min_roundtrip_f1:
            r["reason"] = "roundtrip mismatch"
        elif words and not config.allow_hallucinated:
            r["reason"] = "hallucinated"
        elif key in seen.setdefault(r["id"], set()):
            r["reason"] = "duplicate question"
        else:
            seen[r["id"]].add(key)
            r["kept"] = True


def summarize(records: list[dict], documents: int, passages: int, sentences: int, cut: int, config: QagConfig,
              longest: int, over: int, answers: str, stats: GenerationStats) -> dict:
    """The run's summary (see ``generate_qa``)."""
    dropped = Counter(r["reason"] for r in records if not r["kept"])
    return {"documents": documents, "passages": passages, "sentences": sentences,
            "sentences_cut": cut, "max_input_length": config.max_input_length,
            "max_input_tokens": longest, "inputs_over_limit": over, "answers": answers,
            "candidates": len(records), "kept": sum(r["kept"] for r in records),
            "dropped": {reason: dropped[reason] for reason in REASONS if dropped[reason]},
            "kept_hallucinated": sum(bool(r["kept"] and r["hallucinated_words"]) for r in records),
            "generation": stats.as_dict()}


def format_summary(summary: dict) -> str:
    """Two human-readable lines of a ``generate_qa`` summary (documents, passages, longest input; candidates,
    kept, dropped by reason)."""
    dropped = ", ".join(f"{k}: {v}" for k, v in summary["dropped"].items()) or "none"
    return (f"{summary['documents']} document(s), {summary['passages']} passage(s), {summary['sentences']} "
            f"sentence(s) ({summary['sentences_cut']} cut to fit); longest input {summary['max_input_tokens']} of "
            f"{summary['max_input_length']} tokens\n{summary['candidates']} candidate(s) ({summary['answers']}), "
            f"kept {summary['kept']}, dropped: {dropped}" + _generation_line(summary.get("generation") or {}))


def _generation_line(counts: dict) -> str:
    """A third line when model inputs were cut or outputs held unknown tokens or half characters."""
    shown = {k: v for k, v in counts.items() if k != "inputs" and v}
    return ("\ngeneration: " + ", ".join(f"{k} {v}" for k, v in shown.items())) if shown else ""


def print_summary(summary: dict) -> None:
    print(format_summary(summary), file=sys.stderr)
