"""Hallucination check (seed.md): words of a generated text that its source does not contain.

A word of the candidate is a hallucination unless its surface form occurs verbatim in the source (after the
project's normalization) or, for a verb or adjective, its lemma (dictionary form) is the lemma of a verb or
adjective of the source: 行った asks about the source's 行く, 読む about its 読んだ. The surface rule also covers
the seed's token-set difference (every source token is a substring of the source), so a source is analysed only
when one of its candidate's verbs or adjectives is not found by surface (segmenting long contexts is what made the
seed slow; those sources are analysed in one batch). Paraphrases, spelling variants and
background knowledge all count as hallucinations. By default only content words are checked; interrogatives
(何, 誰, いつ, どこ, 何年...) are not content words.

With GiNZA and Sudachi (both use Sudachi's tags), a word tagged 非自立可能 ("may be non-independent": 行く, 来る,
見る, 出す, 忘れる, いる, しまう, 始める...) is a function word only in an auxiliary use, decided from the
preceding token: right after a verb, adjective or auxiliary (降り|始め, 読み|終え) or after the conjunctive
particle て/で (読んで|いる, して|しまう, 持って|来). Elsewhere (京都へ|行っ, 映画を|見, 傘を|忘れ) it is the main
verb and a content word. A closed list of light verbs and formal nouns (LIGHT_WORDS: する, なる, ある, いる, できる,
こと, もの, ため...) is never content, with every analyser. MeCab's ipadic already tags auxiliary uses 非自立
from context.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Iterable, Sequence

from ..core.errors import UserError
from ..core.normalize import DEFAULT_SEP, normalize
from ..data.formats import DEFAULT_TEMPLATES, GPT_SEP, HL_TOKEN
from ..tokenization.word import ginza_tokens, mecab_parse_lines, sudachi_morphemes, sudachi_tokenizer

ANALYZERS = ("ginza", "mecab", "sudachi")
# Universal POS of content words: nouns, proper nouns, verbs, adjectives, adverbs, numerals.
CONTENT_UPOS = {"NOUN", "PROPN", "VERB", "ADJ", "ADV", "NUM"}
# The same in the analysers' own tag sets (first level); 形状詞 is Sudachi's na-adjective.
CONTENT_MECAB = {"名詞", "動詞", "形容詞", "副詞"}
# second level: light nouns/verbs, pronouns (PRON in UD), and suffixes: the passive れ of された and the 者 of
# 創業者 are bound to a word that is checked itself (Sudachi tags them 接尾辞, a first level it never counts)
FUNCTIONAL_MECAB = {"非自立", "代名詞", "特殊", "接尾"}
CONTENT_SUDACHI = {"名詞", "動詞", "形容詞", "形状詞", "副詞"}

# Interrogatives are how a generated question asks, never a claim about the source: like pronouns, they are not
# content words (GiNZA tags 誰/どこ PRON, but 何年's 何 NUM and 何人/いくつ NOUN, なぜ ADV).
QUESTION_WORD = re.compile(r"(何|なに|なん|幾).*|誰|だれ|いつ|どこ|どれ|どの|どう|どんな|どちら|どっち"
                           r"|いくつ|いくら|なぜ")

# Light verbs and formal nouns (dictionary forms): never content words, whatever precedes them.
LIGHT_WORDS = frozenset("する なる ある いる できる ない こと もの ところ ため よう わけ はず つもり とき うち "
                        "ほう まま".split())
# What makes a 非自立可能 word auxiliary when it comes right before: a verb / adjective / auxiliary (a compound's
# second verb, 降り始め) or the conjunctive particle て/で (読んでいる).
_AUX_AFTER_POS = ("動詞", "形容詞", "助動詞")
_TE = {"て", "で"}

# (surface, is a content word, lemma of a verb or adjective (else None))
Words = list[tuple[str, bool, str | None]]
_INFLECTING_SUDACHI = ("動詞", "形容詞")  # Sudachi's (and GiNZA's tag_) verbs and adjectives: matched by lemma too


def function_use(tag: str, lemma: str, previous: tuple[str, str] | None) -> bool:
    """Whether a word is used as a function word, from Sudachi's tag (``動詞-非自立可能``, levels joined by ``-``),
    its dictionary form and the preceding token's (tag, surface); see the module docstring."""
    if lemma in LIGHT_WORDS:
        return True
    if "非自立可能" not in tag or previous is None:
        return False
    prev_tag, prev_surface = previous
    return prev_tag.startswith(_AUX_AFTER_POS) or (prev_tag.startswith("助詞-接続助詞") and prev_surface in _TE)


def _ginza(texts: Sequence[str]) -> list[Words]:
    out = []
    for tokens in ginza_tokens(texts):
        words = []
        for i, t in enumerate(tokens):
            # GiNZA's tag map calls some 非自立可能 verbs AUX without context (a sentence-initial 見); we decide.
            content = t.pos_ in CONTENT_UPOS or (t.pos_ == "AUX" and t.tag_.startswith(("動詞", "形容詞")))
            previous = (tokens[i - 1].tag_, tokens[i - 1].text) if i else None
            lemma = t.lemma_ if t.tag_.startswith(_INFLECTING_SUDACHI) else None
            words.append((t.text, content and not function_use(t.tag_, t.lemma_, previous), lemma))
        out.append(words)
    return out


def _mecab(texts: Sequence[str]) -> list[Words]:
    out = []
    for text in texts:
        words = []
        for line in mecab_parse_lines(text):
            surface, features = line.split("\t", 1)
            pos = features.split(",")
            base = pos[6] if len(pos) > 6 and pos[6] != "*" else surface  # ipadic's 原形 (dictionary form)
            content = pos[0] in CONTENT_MECAB and pos[1] not in FUNCTIONAL_MECAB and base not in LIGHT_WORDS
            words.append((surface, content, base if pos[0] in ("動詞", "形容詞") else None))
        out.append(words)
    return out


def _sudachi(texts: Sequence[str]) -> list[Words]:
    tok = sudachi_tokenizer("C")  # GiNZA's unit, with Sudachi's own POS
    out = []
    for text in texts:
        words, previous = [], None
        for m in sudachi_morphemes(tok, text):
            pos = m.part_of_speech()
            tag = "-".join(p for p in pos[:4] if p != "*")
            content = pos[0] in CONTENT_SUDACHI and not function_use(tag, m.dictionary_form(), previous)
            words.append((m.surface(), content, m.dictionary_form() if pos[0] in _INFLECTING_SUDACHI else None))
            previous = (tag, m.surface())
        out.append(words)
    return out


_ANALYSE = {"ginza": _ginza, "mecab": _mecab, "sudachi": _sudachi}


def find_hallucinations(candidates: Sequence[str], sources: Sequence[str], stop_words: Iterable[str] = (),
                        tokenizer: str = "ginza", all_words: bool = False) -> list[list[str]]:
    """For each candidate, its hallucinated words (unique, in order of appearance): content words (every word with
    ``all_words``) whose surface is not in the source and, for verbs and adjectives, whose lemma is no source verb's
    or adjective's lemma. Batched: candidates in one call, then the sources that need lemmas in one more."""
    if tokenizer not in _ANALYSE:
        raise UserError(f"unknown tokenizer {tokenizer!r} for hallucination; choose from {', '.join(ANALYZERS)}")
    if len(candidates) != len(sources):
        raise ValueError(f"{len(candidates)} candidates but {len(sources)} sources")
    stop = {normalize(w) for w in stop_words}
    candidates = [normalize(c) for c in candidates]
    sources = [normalize(s) for s in sources]
    unmatched = [[(w, lemma) for w, content, lemma in words
                  if (all_words or (content and not QUESTION_WORD.fullmatch(w)))
                  and w.strip() and w not in stop and w not in source]
                 for words, source in zip(_ANALYSE[tokenizer](candidates), sources)]
    need = [i for i, hits in enumerate(unmatched) if any(lemma for _, lemma in hits)]
    source_lemmas = {i: {lemma for _, _, lemma in words if lemma}
                     for i, words in zip(need, _ANALYSE[tokenizer]([sources[i] for i in need]) if need else [])}
    return [list(dict.fromkeys(w for w, lemma in hits if not (lemma and lemma in source_lemmas.get(i, ()))))
            for i, hits in enumerate(unmatched)]


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
