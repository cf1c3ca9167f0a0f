"""Rewards for reinforcement from QA feedback: components scored per generated question, mixed by weights.

A ``RewardItem`` is what a question is judged against: the target answer, the passage, the reference question.
Components (each one value per question, in [0, 1]; a negative weight makes one a penalty)::

    qa_f1          a frozen QA model's answer to the question (against the passage), char F1 to the target answer;
                   0 for an empty question (nothing was asked)
    hallucination  content words of the question the passage does not contain (jaqg.evaluation.hallucination,
                   MeCab: fast enough for every sample of every step), min(count, 3) / 3
    leakage        1 when the question contains the answer (normalized, spaces ignored)
    form           half for ending as a question (か。 か？ ? ？ の？ ...), half for a length in FORM_LENGTH
    ref_f1         char F1 to the reference question (an anchor to the supervised data)
    fragment       1 when the question starts with a particle or auxiliary (MeCab): its subject was dropped
                   (``が創業した会社はどこか。``). Measured here: scst without it learned exactly that on synthetic
                   data, as the QA model still answers and a dropped (misspelled) name stops counting as invented
    cut_subject    1 when the words before the question's first particle cut a word of one of the passage's noun
                   compounds (MeCab): a name cut short (``ノ工業の創業者は誰か。`` for サノ工業, ``村が…`` for
                   村木真理). The next hack scst found once ``fragment`` closed the first one

QA rewards get gamed (Hosking & Riedel 2019; Xie et al. 2020): the answer copied into the question is answered
perfectly, so ``leakage`` is in the default mix with a weight that outweighs what qa_f1 gains from it.
``degenerate`` flags the outputs reported as a share (empty, a repeated n-gram, the answer copied, the passage
copied, a fragment); the training loop logs it beside each component.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ..core.errors import ParamError
from ..core.normalize import match_key, normalize
from ..data.formats import DEFAULT_TEMPLATES, HL_TOKEN
from ..evaluation.hallucination import find_hallucinations
from ..evaluation.metrics import char_f1
from ..tokenization.word import mecab_parse_lines

# the default mix: the round trip, anchored to the references, guarded against leaking the answer and inventing
DEFAULT_REWARDS = ["qa_f1:1.0", "ref_f1:0.5", "form:0.25", "leakage:-1.5", "hallucination:-0.5", "fragment:-1.0",
                   "cut_subject:-1.0"]
FORM_LENGTH = (5, 60)  # characters of a well-formed question
QUESTION_END = re.compile(r"(か|の|ですか|ますか)?[。．.]?[？?]$|か[。．.]?$")
HALLUCINATION_CAP = 3
REPEAT_NGRAM, REPEAT_TIMES = 3, 3  # a character 3-gram occurring 3 times marks a degenerate repetition


@dataclass(frozen=True)
class RewardItem:
    answer: str
    passage: str
    reference: str = ""


# name -> fn(questions, items, judges) -> one value per question; judges: {"qa": QAModel or None}
COMPONENTS: dict[str, Callable[..., list[float]]] = {}


def component(name: str):
    def add(fn):
        COMPONENTS[name] = fn
        return fn
    return add


@component("qa_f1")
def qa_f1(questions: Sequence[str], items: Sequence[RewardItem], judges: dict) -> list[float]:
    qa = judges.get("qa")
    if qa is None:
        raise ParamError("qa_model", "the `qa_f1` reward needs a QA model to answer the generated questions")
    asked = [i for i, q in enumerate(questions) if q.strip()]
    answers = qa.answer([questions[i] for i in asked], [items[i].passage for i in asked]) if asked else []
    scores = [0.0] * len(questions)
    for i, predicted in zip(asked, answers):
        scores[i] = char_f1(predicted, items[i].answer)
    return scores


@component("hallucination")
def hallucination(questions: Sequence[str], items: Sequence[RewardItem], judges: dict) -> list[float]:
    found = find_hallucinations(list(questions), [it.passage for it in items], tokenizer="mecab")
    return [min(len(words), HALLUCINATION_CAP) / HALLUCINATION_CAP for words in found]


def leaks(question: str, answer: str) -> bool:
    key = match_key(answer)
    return bool(key) and key in match_key(question)


@component("leakage")
def leakage(questions: Sequence[str], items: Sequence[RewardItem], judges: dict) -> list[float]:
    return [float(leaks(q, it.answer)) for q, it in zip(questions, items)]


def form_score(question: str) -> float:
    text = normalize(question).strip()
    if not text:
        return 0.0
    low, high = FORM_LENGTH
    return 0.5 * bool(QUESTION_END.search(text)) + 0.5 * (low <= len(text) <= high)


@component("form")
def form(questions: Sequence[str], items: Sequence[RewardItem], judges: dict) -> list[float]:
    return [form_score(q) for q in questions]


@component("ref_f1")
def ref_f1(questions: Sequence[str], items: Sequence[RewardItem], judges: dict) -> list[float]:
    return [char_f1(q, it.reference) if q.strip() else 0.0 for q, it in zip(questions, items)]


FRAGMENT_POS = ("助詞", "助動詞")
FRAGMENT_START = {"が", "の", "は", "を", "に", "で", "と", "へ", "も", "や"}  # ipadic tags a leading が 接続詞


def _tokens(text: str) -> list[tuple[str, str]]:
    """(surface, first-level POS) of MeCab ipadic's analysis."""
    return [(surface, features.split(",")[0]) for surface, features in
            (line.split("\t", 1) for line in mecab_parse_lines(normalize(text).strip()))]


def is_fragment(question: str) -> bool:
    """Whether a question starts with a hiragana particle or auxiliary (MeCab ipadic): a sentence with its subject
    cut off. On the demo's synthetic data: 0 of 7,616 reference questions (train), 0 of 300 supervised outputs."""
    tokens = _tokens(question)
    if not tokens:
        return False
    surface, pos = tokens[0]
    if not all("ぁ" <= c <= "ゖ" for c in surface):  # particles are hiragana (ipadic reads a katakana デ as だ)
        return False
    return pos in FRAGMENT_POS or surface in FRAGMENT_START


@component("fragment")
def fragment(questions: Sequence[str], items: Sequence[RewardItem], judges: dict) -> list[float]:
    return [float(is_fragment(q)) for q in questions]


@functools.lru_cache(maxsize=1024)  # a passage is judged for every sample of its input, twice (reward, degenerate)
def noun_compounds(text: str) -> tuple[tuple[str, frozenset[int]], ...]:
    """Maximal runs of nouns (MeCab ipadic's 名詞, any subtype: ``サノ工業``, ``1896年``), each with the character
    offsets where its words begin or end."""
    runs, run, bounds = [], "", {0}
    for surface, pos in _tokens(text):
        if pos == "名詞":
            run += surface
            bounds.add(len(run))
        elif run:
            runs.append((run, frozenset(bounds)))
            run, bounds = "", {0}
    return tuple(runs + [(run, frozenset(bounds))] if run else runs)


def cut_subject_of(question: str, passage: str) -> str:
    """The question's words before its first particle when they cut a word of one of the passage's noun compounds
    (a name cut short: ``ノ工業`` of サノ|工業, ``村`` of 村木), else "". Cutting between words (``町`` of 上山|町)
    is allowed. Measured: 0 of 7,616 + 300 synthetic reference questions; 16 of 4,442 JSQuAD valid questions (about
    half of them typos in the question: ``子江気団``, ``020年``); 78 of 300 questions of an scst run rewarded without
    this check (``業の創業者は誰か。``)."""
    lead = ""
    for surface, pos in _tokens(question):
        if pos == "助詞":
            break
        lead += surface
    else:
        return ""  # no particle: no subject position to judge
    compounds = noun_compounds(passage)
    if not lead or any(lead == text for text, _ in compounds):
        return ""
    for text, bounds in compounds:
        at = text.find(lead)
        while at >= 0:
            if at not in bounds or at + len(lead) not in bounds:
                return lead
            at = text.find(lead, at + 1)
    return ""


@component("cut_subject")
def cut_subject(questions: Sequence[str], items: Sequence[RewardItem], judges: dict) -> list[float]:
    return [float(bool(cut_subject_of(q, it.passage))) for q, it in zip(questions, items)]


def parse_rewards(specs: Sequence[str]) -> list[tuple[str, float]]:
    """``["qa_f1:1.0", "leakage:-1"]`` -> [(name, weight)]; ParamError naming `reward` for anything else."""
    parsed: dict[str, float] = {}
    for spec in specs:
        name, _, weight = spec.partition(":")
        if name not in COMPONENTS:
            raise ParamError("reward", f"{spec}: unknown component {name!r}; choose from {', '.join(COMPONENTS)}")
        try:
            parsed[name] = float(weight) if weight else 1.0
        except ValueError:
            raise ParamError("reward", f"{spec}: the weight after ':' must be a number") from None
    if not parsed:
        raise ParamError("reward", "no reward components; pass at least one NAME:WEIGHT")
    return list(parsed.items())


def score(questions: Sequence[str], items: Sequence[RewardItem], weights: Sequence[tuple[str, float]],
          judges: dict | None = None) -> tuple[list[float], dict[str, list[float]]]:
    """(the weighted sum per question, {component: its values}) for the questions against their items."""
    judges = judges or {}
    parts = {name: COMPONENTS[name](questions, items, judges) for name, _ in weights}
    total = [sum(w * parts[name][i] for name, w in weights) for i in range(len(questions))]
    return total, parts


def repeats_ngram(text: str, n: int = REPEAT_NGRAM, times: int = REPEAT_TIMES) -> bool:
    counts: dict[str, int] = {}
    for i in range(len(text) - n + 1):
        counts[text[i:i + n]] = counts.get(text[i:i + n], 0) + 1
        if counts[text[i:i + n]] >= times:
            return True
    return False


def degenerate(question: str, item: RewardItem) -> bool:
    """Empty, a repeated n-gram, the answer copied (the question is the answer), the passage copied (the
    question, end punctuation aside, is a span of the passage: it asks nothing), a fragment (``is_fragment``) or a
    subject cut short (``cut_subject_of``)."""
    key = match_key(question).rstrip("。．.？?")
    if not key:
        return True
    return (repeats_ngram(key) or key == match_key(item.answer)
            or (len(key) > len(match_key(item.answer)) and key in match_key(item.passage)) or is_fragment(question)
            or bool(cut_subject_of(question, item.passage)))


# ---- what the reward needs, read back from an AQG model input ---------------------------------------------------
def input_parser(task: str | None, template: str | None) -> Callable[[str], tuple[str, str]]:
    """fn(input text) -> (answer, passage) for an AQG (``answer: .. context: ..`` or your template) or AQG-HL
    (the answer between <hl> markers) data dir's inputs; ParamError for other tasks."""
    if task == "aqg_hl":
        template = template or DEFAULT_TEMPLATES["aqg_hl"]
        context_only = _template_regex(template)

        def parse_hl(text: str) -> tuple[str, str]:
            m = context_only.fullmatch(text.strip())
            context = m.group("context") if m else text
            parts = context.split(HL_TOKEN)
            answer = parts[1].strip() if len(parts) >= 3 else ""
            return answer, normalize("".join(parts)).strip()
        return parse_hl
    if task in (None, "aqg"):
        pattern = _template_regex(template or DEFAULT_TEMPLATES["aqg"])

        def parse(text: str) -> tuple[str, str]:
            m = pattern.fullmatch(text.strip())
            return (m.group("answer").strip(), m.group("context").strip()) if m else ("", text.strip())
        return parse
    raise ParamError("loss", f"scst generates questions: it needs an aqg or aqg_hl data dir, not task {task!r}")


def _template_regex(template: str) -> re.Pattern:
    """The template as a regex: literal words (spaces flexible, as decoding may change them), fields as groups."""
    out, pos = "", 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out += r"\s*".join(re.escape(w) for w in template[pos:m.start()].split()) + r"\s*"
        out += f"(?P<{m.group(1)}>.*?)" if m.group(1) == "answer" else f"(?P<{m.group(1)}>.*)"
        pos = m.end()
    return re.compile(out + r"\s*" + r"\s*".join(re.escape(w) for w in template[pos:].split()), re.S)
