"""Hallucination check (seed.md): words of a generated text that its source does not contain.

A word of the candidate is a hallucination unless its surface form occurs verbatim in the source (after the
project's normalization). That rule also covers the seed's token-set difference (every source token is a
substring of the source), so only the candidate is segmented: sentences and whole contexts can segment
differently, and segmenting long contexts is what made the seed slow. Paraphrases, spelling variants and
background knowledge all count as hallucinations. By default only content words are checked; interrogatives
(何, 誰, いつ, どこ, 何年...) are not content words, nor, with GiNZA and Sudachi, light verbs and formal nouns
(する, なる, ある, いる, こと: Sudachi's 非自立可能). MeCab's ipadic has no such class and counts them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Iterable, Sequence

from .errors import UserError
from .formats import DEFAULT_TEMPLATES, GPT_SEP, HL_TOKEN
from .normalize import DEFAULT_SEP, normalize
from .word_tokenizers import ginza_tokenizer_only, mecab_tagger, sudachi_tokenizer

ANALYZERS = ("ginza", "mecab", "sudachi")
# Universal POS of content words: nouns, proper nouns, verbs, adjectives, adverbs, numerals.
CONTENT_UPOS = {"NOUN", "PROPN", "VERB", "ADJ", "ADV", "NUM"}
# The same in the analysers' own tag sets (first level); 形状詞 is Sudachi's na-adjective.
CONTENT_MECAB = {"名詞", "動詞", "形容詞", "副詞"}
FUNCTIONAL_MECAB = {"非自立", "代名詞", "特殊"}  # second level: light nouns/verbs, pronouns (PRON in UD)
CONTENT_SUDACHI = {"名詞", "動詞", "形容詞", "形状詞", "副詞"}

# Interrogatives are how a generated question asks, never a claim about the source: like pronouns, they are not
# content words (GiNZA tags 誰/どこ PRON, but 何年's 何 NUM and 何人/いくつ NOUN, なぜ ADV).
QUESTION_WORD = re.compile(r"(何|なに|なん|幾).*|誰|だれ|いつ|どこ|どれ|どの|どう|どんな|どちら|どっち|いくつ|いくら|なぜ")

Words = list[tuple[str, bool]]  # (surface, is a content word)


def _ginza(texts: Sequence[str]) -> list[Words]:
    nlp = ginza_tokenizer_only()
    # Light verbs and formal nouns (する, なる, ある, こと: Sudachi's 非自立可能) are not content, as in _sudachi.
    return [[(t.text, t.pos_ in CONTENT_UPOS and "非自立可能" not in t.tag_) for t in doc]
            for doc in nlp.pipe(texts, batch_size=256)]


def _mecab(texts: Sequence[str]) -> list[Words]:
    tagger = mecab_tagger()
    out = []
    for text in texts:
        words = []
        for line in tagger.parse(text).splitlines():
            if line == "EOS" or "\t" not in line:
                continue
            surface, features = line.split("\t", 1)
            pos = features.split(",")
            words.append((surface, pos[0] in CONTENT_MECAB and pos[1] not in FUNCTIONAL_MECAB))
        out.append(words)
    return out


def _sudachi(texts: Sequence[str]) -> list[Words]:
    tok = sudachi_tokenizer("C")  # GiNZA's unit, with Sudachi's own POS
    out = []
    for text in texts:
        words = []
        for m in tok.tokenize(text):
            pos = m.part_of_speech()
            words.append((m.surface(), pos[0] in CONTENT_SUDACHI and pos[1] != "非自立可能"))
        out.append(words)
    return out


_ANALYSE = {"ginza": _ginza, "mecab": _mecab, "sudachi": _sudachi}


def find_hallucinations(candidates: Sequence[str], sources: Sequence[str], stop_words: Iterable[str] = (),
                        tokenizer: str = "ginza", all_words: bool = False) -> list[list[str]]:
    """For each candidate, its hallucinated words (unique, in order of appearance). Batched over candidates."""
    if tokenizer not in _ANALYSE:
        raise UserError(f"unknown tokenizer {tokenizer!r} for hallucination; choose from {', '.join(ANALYZERS)}")
    if len(candidates) != len(sources):
        raise ValueError(f"{len(candidates)} candidates but {len(sources)} sources")
    stop = {normalize(w) for w in stop_words}
    candidates = [normalize(c) for c in candidates]
    sources = [normalize(s) for s in sources]
    found = []
    for words, source in zip(_ANALYSE[tokenizer](candidates), sources):
        hits = dict.fromkeys(w for w, content in words
                             if (all_words or (content and not QUESTION_WORD.fullmatch(w)))
                             and w.strip() and w not in stop and w not in source)
        found.append(list(hits))
    return found


def check_hallucination(candidate: str, reference: str, stop_words: Iterable[str] = (),
                        tokenizer: str = "ginza", all_words: bool = False) -> set[str]:
    """The seed's function: words of ``candidate`` that ``reference`` does not contain."""
    return set(find_hallucinations([candidate], [reference], stop_words, tokenizer, all_words)[0])


def template_markers(template: str | None = None, sep: str = DEFAULT_SEP) -> list[str]:
    """Literal text of the input template(s) (``question:``, ``context:``...), the highlight and separators."""
    templates = [template] if template else list(DEFAULT_TEMPLATES.values())
    literals = {lit.strip() for t in templates for lit, *_ in string.Formatter().parse(t) if lit.strip()}
    return sorted(literals | {HL_TOKEN, GPT_SEP, sep}, key=len, reverse=True)


def source_text(model_input: str, markers: Sequence[str]) -> str:
    """The source of an example: its model input with the template markers removed."""
    for marker in markers:
        model_input = model_input.replace(marker, " ")
    return " ".join(model_input.split())


def summarize(found: Sequence[Sequence[str]], top_k: int = 20) -> dict:
    """``n``, ``hallucination_rate`` (0-1), ``mean_hallucinated_words``, ``top_words`` [[word, count], ...]."""
    counts = Counter(w for words in found for w in words)
    n = len(found)
    return {"n": n,
            "hallucination_rate": sum(1 for words in found if words) / n if n else 0.0,
            "mean_hallucinated_words": sum(len(words) for words in found) / n if n else 0.0,
            "top_words": [[w, c] for w, c in counts.most_common(top_k)]}
