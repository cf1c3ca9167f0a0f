"""End-to-end QAG (generate_qa.py ``mode`` e2e): one model writes every question-answer pair of a passage at once.

    documents -> sentences -> passages that fit -> one generation per passage -> pairs (jaqg.data.e2e.parse_e2e_pairs)
    -> answer in the passage? -> round trip -> hallucination check -> duplicates

A T5 e2e model (prepare ``task`` e2e, TSV) writes lmqg's ``question: q, answer: a | ...``; a chat model (``format``
chat) a JSON list of ``{"question", "answer"}``. A malformed pair is dropped with its reason (``malformed pair``,
the parser's words in ``problem``), one record each, and counted; an answer that is no span of its passage is
``answer not in passage``. The rest get the pipeline's filters (jaqg.qag.pipeline.filter_pairs), records and summary
(``candidates`` counts every parsed or malformed pair; ``answers`` is ``e2e``).
"""

from __future__ import annotations

from typing import Sequence

from ..core.normalize import DEFAULT_SEP
from ..data.e2e import parse_e2e_pairs
from ..data.formats import format_input
from ..evaluation.roundtrip import qa_inputs
from ..generation.decoding import generate
from ..generation.outputs import GenerationStats
from .pipeline import (
    Document,
    InputMeter,
    QagConfig,
    QagResult,
    TaskModel,
    filter_pairs,
    fit_passages,
    summarize,
)


def e2e_format(data_info: dict | None) -> str:
    """How an e2e model writes its pairs: ``chat`` (a JSON list) for a model trained on chat data, else ``tsv``."""
    return "chat" if (data_info or {}).get("format") == "chat" else "tsv"


def generate_qa_e2e(documents: Sequence[Document], e2e: TaskModel, qa: TaskModel, *, fmt: str = "tsv",
                    config: QagConfig = QagConfig(), sep: str = DEFAULT_SEP) -> QagResult:
    """Question-answer pairs from documents with an end-to-end model; records and summary as
    jaqg.qag.pipeline.generate_qa's, plus ``problem`` on a malformed pair's record and ``sentence`` the index of
    the document sentence holding the answer (None when the passage lacks it). ``fmt``: ``e2e_format``."""
    measured = InputMeter(config.max_input_length)
    stats = GenerationStats()

    def worst(text: str) -> int:  # the e2e input, and the QA input with a question of the e2e output's length
        return max(e2e.input_length(format_input("e2e", context=text, template=e2e.template)),
                   qa.input_length(qa_inputs([""], [text], qa.template)[0]) + e2e.max_new_tokens)

    passages, n_cut = [], 0  # (doc index, passage text, index of its first sentence)
    for d, doc in enumerate(documents):
        head = f"{doc.title} {sep} " if doc.title else ""
        groups, cut = fit_passages(doc.sentences, lambda text: worst(head + text) <= config.max_input_length)
        n_cut += cut
        first = 0
        for pieces in groups:
            passages.append((d, head + "".join(pieces), first))
            first += sum(1 for p in pieces if p in doc.sentences)
    inputs = measured(e2e, [format_input("e2e", context=text, template=e2e.template) for _, text, _ in passages])
    outputs = generate(e2e.model, e2e.tokenizer, inputs, batch_size=config.batch_size,
                       max_input_length=config.max_input_length, max_new_tokens=e2e.max_new_tokens,
                       num_beams=config.num_beams, bad_words=config.bad_words, templates=[e2e.template],
                       progress=config.progress, stats=stats, prompt=e2e.prompt) if inputs else []
    records = []
    for (d, text, first), outs in zip(passages, outputs):
        pairs, problems = parse_e2e_pairs(outs[0] if outs else "", fmt)
        doc = documents[d]
        base = {"id": doc.id, "passage": text, "roundtrip_answer": "", "roundtrip_f1": 0.0,
                "hallucinated_words": [], "kept": False}
        for problem in problems:
            records.append({**base, "sentence": None, "answer": "", "question": "", "reason": "malformed pair",
                            "problem": problem})
        for question, answer in pairs:
            at = text.find(answer)
            records.append({**base, "sentence": _sentence_of(doc, text, at, first), "answer": answer,
                            "question": question, "reason": None if at >= 0 else "answer not in passage"})
    todo = [i for i, r in enumerate(records) if r["reason"] is None]
    filter_pairs(records, todo, qa, config, stats, measured)
    n_sentences = sum(1 for doc in documents for sentence in doc.sentences if sentence.strip())
    summary = summarize(records, len(documents), len(passages), n_sentences, n_cut, config, measured.longest,
                        measured.over, "e2e", stats)
    summary["malformed_pairs"] = sum(r["reason"] == "malformed pair" for r in records)
    passage_info = [{"id": documents[d].id, "index": i, "passage": text, "worst_input_tokens": worst(text)}
                    for i, (d, text, _) in enumerate(passages)]
    return QagResult(records, summary, passage_info)


def _sentence_of(doc: Document, passage: str, at: int, first: int) -> int | None:
    """The index in the document's sentences of the one holding passage position ``at`` (None when -1)."""
    if at < 0:
        return None
    offset = passage.find(doc.sentences[first]) if first < len(doc.sentences) else -1
    pos, k = max(offset, 0), first
    while k < len(doc.sentences) and pos + len(doc.sentences[k]) <= at:
        pos += len(doc.sentences[k])
        k += 1
    return min(k, len(doc.sentences) - 1)
