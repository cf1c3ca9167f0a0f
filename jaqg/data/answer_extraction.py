"""Answer extraction (AE): which spans of a sentence are worth asking about.

Training data (``prepare_*_aqg.py --task ae``, after lmqg): one example per (paragraph, body sentence holding gold
answers); input = the context with that sentence wrapped as ``<hl>sentence<hl>``, target = the gold answers inside
it in order of appearance joined by `` <sep> ``. Each question's answer is placed where AQG-HL highlights it
(jaqg.data.highlight: body over title, the occurrence related to the question), so the two tasks agree on where an
answer is. Answers found only in the title are skipped (the title is no sentence to highlight). Sentences are
jaqg.core.sentences'.

Candidates without a model (``generate_qa.py --answers ner``): GiNZA's named entities (the full ``ja_ginza``
pipeline) and numeric expressions (a number with its counter or unit, e.g. ``1603年``, ``約3000人``), per sentence.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Sequence

from ..core.errors import UserError
from ..core.io import Example
from ..core.sentences import sentence_spans
from ..tokenization.word import pipe_in_pieces
from .formats import HL_TOKEN, format_ae_target, format_input
from .highlight import body_start, candidates, pick, wrap
from .records import group_paragraphs

# A number (ASCII digits after NFKC, or kanji numerals with a place) and what it counts: 1603年, 3.5km, 約300人.
_KANJI_DIGITS = "〇一二三四五六七八九十百千万億兆"
_COUNTER = (r"(?:年|月|日|時|分|秒|世紀|歳|才|人|名|円|ドル|個|本|冊|枚|台|回|度|位|号|番|階|巻|話|両|隻|羽|匹|頭|種|校"
            r"|社|店|件|戸|軒|曲|作|部|章|局|票|点|倍|割|%|パーセント|平方キロメートル|キロメートル|メートル|キロ|グラム"
            r"|トン|リットル|ヘクタール|km|cm|mm|kg|ha|m|g|t)")
# ASCII digits (after NFKC) with an optional counter; kanji numerals only with a counter (千葉, 十分 are words).
NUMERIC_EXPRESSION = re.compile(
    r"(?:約|およそ)?(?:\d+(?:[.,]\d+)*(?:万|億|兆)?" + _COUNTER + "?"
    r"|[" + _KANJI_DIGITS + r"]+" + _COUNTER + ")")


def paragraph_sentence_spans(context: str, sep: str) -> tuple[int, list[tuple[int, int]]]:
    """(body start, sentence spans of the body) of a ``title [SEP] body`` context (the whole text if no sep)."""
    body_from = body_start(context, sep)
    return body_from, sentence_spans(context, body_from)


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without its leading and trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def highlight_sentence(context: str, start: int, end: int) -> str:
    """The context with ``context[start:end]`` (whitespace trimmed) wrapped as ``<hl>sentence<hl>``."""
    start, end = strip_span(context, start, end)
    return wrap(context, start, context[start:end])


def build_ae_examples(records, template: str, hl_strategy: str, sep: str, stats: Counter | None = None
                      ) -> tuple[list[Example], Counter]:
    """AE examples from normalized records (jaqg.data.prepare.Record), grouped into paragraphs by (group, context).

    Returns (examples, skipped by reason); ``stats`` counts questions placed per sentence.
    """
    skipped, examples = Counter(), []
    for pid, members in group_paragraphs(records).items():
        context = members[0].context
        body_from, spans = paragraph_sentence_spans(context, sep)
        in_sentence: dict[int, dict[str, int]] = {}
        for record in members:
            answer = record.answers[0]
            try:
                found = candidates(context, answer, record.question, hl_strategy, sep)
            except ValueError:
                skipped["answer not in normalized context"] += 1
                continue
            start = found[0] if len(found) == 1 else pick(found, record.answer_start(sep))
            if start < body_from:
                skipped["answer only in the title"] += 1
                continue
            k = next(i for i, (a, b) in enumerate(spans) if a <= start < b)
            if start + len(answer) > spans[k][1]:
                skipped["answer crosses a sentence end"] += 1
                continue
            where = in_sentence.setdefault(k, {})
            where[answer] = min(where.get(answer, start), start)
        for k in sorted(in_sentence):
            answers = sorted(in_sentence[k], key=lambda a: (in_sentence[k][a], -len(a)))
            if any(HL_TOKEN in a for a in answers):
                skipped["answer holds <hl>"] += 1
                continue
            text = format_input("ae", context=highlight_sentence(context, *spans[k]), template=template)
            examples.append(Example(f"{pid}-s{k}", text, format_ae_target(answers)))
            if stats is not None:
                stats["answers per sentence " + ("1" if len(answers) == 1 else "2+")] += 1
    return examples, skipped


# --- candidates without a model ---

@functools.lru_cache(maxsize=None)
def ginza_pipeline():
    """GiNZA's full pipeline (``ja_ginza``), for its named entities."""
    import spacy
    try:
        return spacy.load("ja_ginza")
    except OSError:
        raise UserError("GiNZA is not installed; pip install ja-ginza, or use `answers` model") from None


def ner_candidates(sentences: Sequence[str], batch_size: int = 64) -> list[list[str]]:
    """Answer candidates per sentence: GiNZA entities and numeric expressions, in order of appearance.

    Overlapping spans keep the longer one (an entity ``1603年`` over the number ``1603``); each text once per sentence.
    """
    out = []
    for sentence, docs in zip(sentences, pipe_in_pieces(ginza_pipeline(), sentences, batch_size)):
        spans = [(offset + e.start_char, offset + e.end_char) for offset, doc in docs for e in doc.ents]
        spans += [m.span() for m in NUMERIC_EXPRESSION.finditer(sentence) if m.group().strip()]
        spans = [strip_span(sentence, a, b) for a, b in spans]
        chosen: list[tuple[int, int]] = []
        for a, b in sorted({s for s in spans if s[1] > s[0]}, key=lambda s: (s[0] - s[1], s[0])):
            if all(b <= c or a >= d for c, d in chosen):  # longest first; no overlap with a kept one
                chosen.append((a, b))
        texts = [sentence[a:b] for a, b in sorted(chosen)]
        out.append([t for t in dict.fromkeys(texts) if HL_TOKEN not in t])
    return out
