"""lmqg's question-generation scores (BLEU-4, ROUGE-L, METEOR), computed as lmqg computes them, for numbers that
compare with lmqg's published Japanese ones (QG-Bench / JaQuAD; Ushio et al., EMNLP 2022).

Traced to lmqg's code (github.com/asahi417/lm-question-generation, package ``lmqg`` 0.1.1):

- ``lmqg/automatic_evaluation.py`` ``compute_metrics``: for ``language`` "ja" every reference question and every
  prediction is stripped and split into words by ``SpacyPipeline("ja").token`` (``lmqg/spacy_module.py``: the
  tokenizer of spaCy's ``ja_core_news_sm``, i.e. ``spacy.ja.JapaneseTokenizer``, SudachiPy split mode A; here
  ``spacy.blank("ja")``, the same tokenizer without the model download), words joined by one space. References
  are not lowercased. With ``prediction_level`` "sentence" (what lmqg's model cards report:
  ``metric.first.sentence.paragraph_answer.question``) the questions are grouped by their lowercased, tokenized
  ``sentence``: each group is one segment whose references are all its gold questions and whose hypothesis is the
  FIRST prediction of the group (``prediction_aggregation`` "first"); with "answer" each question is a segment.
  A missing prediction counts as the empty string (lmqg logs a warning; we count it).
- ``lmqg/automatic_evaluation_tool/text_normalization.py`` ``text_normalization``: applied to the hypothesis only
  (by Bleu, Rouge and Meteor; ``normalize_hypothesis=True``): lowercase, brackets to ``-lrb-`` etc., a space before
  ``?`` ``,`` ``'`` ``$`` ``%`` and before runs like ``...``, double quotes to ````` '' `` (NQG's reference style).
- ``bleu/bleu.py`` ``Bleu(4)``: pycocoevalcap's ``BleuScorer`` (lmqg's ``bleu_scorer.py`` is the same code) with
  ``option='closest'``: corpus BLEU over segments, n-gram counts clipped by the max count over a segment's
  references, the closest reference length (ties: the shorter), brevity penalty exp(1 - r/c) when c < r, and no
  smoothing beyond adding 1e-15 / 1e-9 to each precision's numerator / denominator. Words: bytes.split() of the
  UTF-8 text, as lmqg passes bytes. lmqg reports Bleu_4.
- ``rouge.py`` ``Rouge``: per segment ROUGE-L (Lin 2004) with beta 1.2 over words split on single spaces:
  P = max over references of LCS/len(hyp), R = max of LCS/len(ref), F = (1 + b^2) P R / (R + b^2 P); the mean
  over segments (pycocoevalcap's ``Rouge.calc_score``, the same code).
- ``meteor/meteor.py`` ``Meteor``: the METEOR 1.5 jar (``java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en
  -norm``, LC_ALL=C) fed one ``SCORE ||| ref1 ||| ... ||| hyp`` line per segment (whitespace runs squeezed), then
  one ``EVAL`` line; lmqg reports the jar's aggregate score over all segments (not the mean of segment scores).
  The jar is pycocoevalcap's (``pip install pycocoevalcap==1.2``) and needs Java; without either it is not computed
  and the reason is reported. nltk's METEOR is a different number and is not used.

All scores are reported 0-100 (lmqg's files hold 0-1; its tables multiply by 100).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple, Sequence

from ..core.errors import UserError
from ..data.lmqg import read_rows
from ..tokenization.word import analyser_pieces
from .lmqg_embedding import BERTSCORE_LAYERS, bertscore_precision, moverscore

LEVELS = ("sentence", "answer")
_TOK_DICT = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}


@functools.lru_cache(maxsize=None)
def _spacy_ja():
    import spacy
    return spacy.blank("ja")


def spacy_ja_tokens(text: str) -> list[str]:
    """spaCy's Japanese tokenizer (Sudachi mode A) words of ``text``, as lmqg's ``SpacyPipeline.token``; a text
    over Sudachi's input limit (lmqg would fail on it) is analysed in pieces (jaqg.tokenization.word)."""
    nlp = _spacy_ja()
    return [str(t) for piece in analyser_pieces(text) for t in nlp.tokenizer(piece)]


def lmqg_tokenize(text: str) -> str:
    """One line as lmqg's compute_metrics prepares it for "ja": stripped, spaCy words joined by one space."""
    return " ".join(spacy_ja_tokens(text.strip()))


def text_normalization(text: str) -> str:
    """lmqg's hypothesis normalization (text_normalization.py, after NQG's processed references)."""
    text = text.lower()
    for k, v in _TOK_DICT.items():
        text = text.replace(k, v)
    for s in ["'s", "?", ",", "'", "$", "%"]:
        text = re.sub(r"\s*\{}".format(s), " {}".format(s), text)
    text = re.sub(r'"([^"]+)"', r"`` \1 ''", text)
    for s in [".", "-"]:
        text = re.sub(r"\s*([{}].{{2}})".format(s), r" \1", text)
    return text


class Segments(NamedTuple):
    """lmqg's ``gts`` / ``res``: per segment, its references and its one hypothesis (tokenized, UTF-8 bytes)."""
    references: list[list[bytes]]
    hypotheses: list[bytes]
    missing: int  # predictions absent, scored as "" as lmqg does


def segments(predictions: Sequence[str | None], references: Sequence[str], sentences: Sequence[str] | None,
             level: str = "sentence") -> Segments:
    """Group questions into segments as lmqg's compute_metrics does (``prediction_aggregation`` "first").

    ``predictions[i]`` (None: missing) answers ``references[i]``, whose source sentence is ``sentences[i]``
    (needed for ``level`` "sentence"). Order: first appearance, as lmqg's dicts keep it."""
    if level not in LEVELS:
        raise UserError(f"`lmqg_level` {level!r}: choose from {', '.join(LEVELS)}")
    if level == "sentence" and sentences is None:
        raise UserError("`lmqg_level` sentence needs each question's sentence (lmqg's `sentence` field)")
    gts: dict[object, list[bytes]] = {}
    res: dict[object, list[bytes]] = {}
    missing = 0
    for i, reference in enumerate(references):
        key = lmqg_tokenize(sentences[i].lower()) if level == "sentence" else i
        prediction = predictions[i]
        missing += prediction is None
        res.setdefault(key, []).append(lmqg_tokenize(prediction or "").encode("utf-8"))
        gts.setdefault(key, []).append(lmqg_tokenize(reference).encode("utf-8"))
    return Segments([gts[k] for k in gts], [res[k][0] for k in gts], missing)


def _hypothesis(h: bytes) -> bytes:
    return text_normalization(h.decode("utf-8")).encode("utf-8")


def bleu4(seg: Segments) -> float:
    """lmqg's Bleu_4 (0-100): pycocoevalcap's BleuScorer, option 'closest', hypotheses normalized."""
    from pycocoevalcap.bleu.bleu_scorer import BleuScorer
    scorer = BleuScorer(n=4)
    for refs, hyp in zip(seg.references, seg.hypotheses):
        scorer += (_hypothesis(hyp), refs)
    score, _ = scorer.compute_score(option="closest", verbose=0)
    return 100 * score[3]


def rouge_l(seg: Segments) -> float:
    """lmqg's ROUGE_L (0-100): the mean over segments of pycocoevalcap's ROUGE-L (beta 1.2, max over references)."""
    from pycocoevalcap.rouge.rouge import Rouge
    rouge = Rouge()
    scores = [rouge.calc_score([_hypothesis(h).decode("utf-8")], [r.decode("utf-8") for r in refs])
              for refs, h in zip(seg.references, seg.hypotheses)]
    return 100 * sum(scores) / len(scores) if scores else 0.0


def meteor_jar() -> tuple[Path | None, str]:
    """(the METEOR 1.5 jar, "") or (None, why it cannot run)."""
    try:
        import pycocoevalcap
    except ImportError:
        return None, "pycocoevalcap (which ships meteor-1.5.jar) is not installed: pip install pycocoevalcap==1.2"
    jar = next((Path(p) / "meteor" / "meteor-1.5.jar" for p in pycocoevalcap.__path__
                if (Path(p) / "meteor" / "meteor-1.5.jar").is_file()), None)
    if jar is None:
        return None, "pycocoevalcap has no meteor/meteor-1.5.jar"
    if shutil.which("java") is None:
        return None, "METEOR 1.5 is a Java program and no `java` is on PATH (install a JRE, e.g. openjdk-17-jre)"
    return jar, ""


def meteor(seg: Segments, memory: str = "2G") -> float:
    """lmqg's METEOR (0-100): the METEOR 1.5 jar's aggregate score, fed as lmqg's Meteor.compute_score feeds it.
    UserError when the jar or Java is missing (``meteor_jar`` says why)."""
    jar, why = meteor_jar()
    if jar is None:
        raise UserError(f"METEOR not computed: {why}")
    env = {**os.environ, "LC_ALL": "C"}
    proc = subprocess.Popen(["java", "-jar", f"-Xmx{memory}", jar.name, "-", "-", "-stdio", "-l", "en", "-norm"],
                            cwd=jar.parent, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        stats = []
        for refs, hyp in zip(seg.references, seg.hypotheses):
            h = _hypothesis(hyp).decode("utf-8").replace("|||", "")
            line = " ||| ".join(("SCORE", " ||| ".join(r.decode("utf-8") for r in refs), h))
            stats.append(_ask(proc, re.sub(r"\s+", " ", line)))
        proc.stdin.write(("EVAL ||| " + " ||| ".join(stats) + "\n").encode("utf-8"))
        proc.stdin.flush()
        for _ in stats:  # the segment scores, then the aggregate
            proc.stdout.readline()
        return 100 * float(proc.stdout.readline().decode("utf-8").strip())
    except (BrokenPipeError, ValueError) as e:
        raise UserError(f"METEOR not computed: the METEOR jar stopped answering ({e}); is `java` working?") from None
    finally:
        proc.kill()
        proc.wait()


def _ask(proc, line: str) -> str:
    proc.stdin.write((line + "\n").encode("utf-8"))
    proc.stdin.flush()
    return proc.stdout.readline().decode("utf-8").strip()


def lmqg_scores(predictions: Sequence[str | None], references: Sequence[str], sentences: Sequence[str] | None,
                level: str = "sentence", with_meteor: bool = True) -> dict:
    """{"Bleu_4", "ROUGE_L", "METEOR" (or None with "METEOR_not_computed": why), "segments", "questions",
    "missing_predictions", "level", "tokenizer"}: lmqg's scores, 0-100."""
    out = scores_of(segments(predictions, references, sentences, level), level, with_meteor)
    out["questions"] = len(references)
    return out


def scores_of(seg: Segments, level: str, with_meteor: bool = True) -> dict:
    """``lmqg_scores`` of segments already built."""
    out = {"Bleu_4": bleu4(seg), "ROUGE_L": rouge_l(seg)}
    jar, why = meteor_jar()
    if not with_meteor:
        why = "not asked for"
    out["METEOR"] = meteor(seg) if with_meteor and jar is not None else None
    if out["METEOR"] is None:
        out["METEOR_not_computed"] = why
    out.update(segments=len(seg.hypotheses), missing_predictions=seg.missing,
               level=level, aggregation="first",
               tokenizer=f"spacy-{version('spacy')} ja (sudachipy-{version('sudachipy')} mode A, "
                         f"sudachidict_core-{version('sudachidict_core')})")
    return out


def score_lmqg_file(predictions: dict[str, str], lmqg_file: str, level: str = "sentence", allow_partial: bool = False,
                    bertscore_model: str | None = None, bertscore_layers: int = BERTSCORE_LAYERS,
                    moverscore_model: str | None = None, with_meteor: bool = True) -> dict:
    """lmqg's scores of ``predictions`` ({id: question}) against lmqg's own file of the split (its ``question`` and
    ``sentence`` fields, as written there), ids ``{file stem}-{line}`` (jaqg.data.lmqg). A question without a
    prediction is scored as "" (lmqg's rule) and counted, or left out with ``allow_partial``; a prediction whose id
    is not in the file is an error. BERTScore / MoverScore only with a local model dir."""
    rows = read_rows(lmqg_file)
    known = {r.id for r in rows}
    stray = [i for i in predictions if i not in known]
    if stray:
        raise UserError(f"{lmqg_file}: has no line for prediction id {stray[0]!r} ({len(stray)} such); ids are "
                        "{file stem}-{line} (`jaqg prepare-lmqg`): pass the lmqg file of the split you predicted")
    if allow_partial:
        rows = [r for r in rows if r.id in predictions]
    seg = segments([predictions.get(r.id) for r in rows], [r.question for r in rows], [r.sentence for r in rows],
                   level)
    out = scores_of(seg, level, with_meteor)
    out["questions"] = len(rows)
    hyps = [h.decode("utf-8") for h in seg.hypotheses]
    firsts = [refs[0].decode("utf-8") for refs in seg.references]
    if bertscore_model:
        out["BERTScore"] = bertscore_precision(hyps, firsts, bertscore_model, bertscore_layers)
        out["BERTScore_model"] = f"{bertscore_model} (layer {bertscore_layers}; precision, as lmqg)"
    if moverscore_model:
        out["MoverScore"] = moverscore(hyps, firsts, moverscore_model)
        out["MoverScore_model"] = moverscore_model
    out["comparable"] = not allow_partial or len(rows) == len(known)
    return out
