"""Scores for generated text against one or more references, on a 0-100 scale.

- ``exact_match``: prediction == a reference after ``normalize`` (best over references).
- ``char_f1``: SQuAD-style F1 over the multiset of characters of the normalized texts, whitespace ignored.
- ``bleu``: sacrebleu corpus BLEU over the words of a tokenizer (pre-split, ``tokenize="none"``); with ``mecab``
  this is exactly ``sacrebleu --tokenize ja-mecab``.
- ``rouge1`` / ``rouge2`` / ``rougeL``: compare-mt's ROUGE F-measure, averaged over sentences (best reference per
  sentence). compare-mt keeps only ``[a-zA-Z0-9]`` of each token, which erases Japanese, so every token is first
  mapped to an ASCII id (``w0``, ``w1``, ...); punctuation tokens count like any other.
- ``jglue``: JGLUE's official JSQuAD exact match / F1 (jaqg.evaluation.jglue_metric) on the raw gold answers.
BLEU and ROUGE see the texts as written; EM and char F1 compare normalized texts.
Each tokenizer's BLEU carries sacrebleu's signature (``bleu_signature``, its ``tok:`` field naming our
tokenizer, e.g. ``tok:ja-mecab-0.996-IPA``), and ROUGE the compare-mt version and tokenizer (``rouge_signature``).
"""

from __future__ import annotations

from typing import Sequence

from ..core.errors import UserError
from ..core.io import prediction_text, read_examples, read_json, read_predictions
from ..core.normalize import normalize
from ..data.formats import RAW_REFERENCES
from ..tokenization.word import get_tokenizer, tokenizer_signature
from .breakdowns import BREAKDOWNS, breakdowns, data_fields, format_breakdowns
from .jglue_metric import jglue_scores, multiset_f1

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
WORD_METRICS = ("bleu", *ROUGE_TYPES)


def char_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 (0-1) over the characters of the two texts after ``normalize``, whitespace ignored."""
    return multiset_f1([c for c in normalize(prediction) if not c.isspace()],
                       [c for c in normalize(reference) if not c.isspace()])


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


class _AsciiIds:
    """Maps tokens to ``w<n>`` so compare-mt's ASCII-only ROUGE tokenizer keeps every token intact."""

    def __init__(self):
        self.ids: dict[str, str] = {}

    def __call__(self, tokens: Sequence[str]) -> list[str]:
        return [self.ids.setdefault(t, f"w{len(self.ids)}") for t in tokens]


def _rouge_scorers():
    from compare_mt.scorers import RougeScorer
    return {t: RougeScorer(rouge_type=t) for t in ROUGE_TYPES}


def bleu_streams(tokenized_preds: list[list[str]], tokenized_refs: list[list[list[str]]]
                 ) -> tuple[list[str], list[list[str | None]]]:
    """Space-joined hypotheses and sacrebleu's reference streams (None pads examples with fewer references)."""
    hyps = [" ".join(p) for p in tokenized_preds]
    refs = [[" ".join(r) for r in rs] for rs in tokenized_refs]
    width = max(len(rs) for rs in refs)
    return hyps, [[rs[i] if i < len(rs) else None for rs in refs] for i in range(width)]


def _bleu(tokenized_preds: list[list[str]], tokenized_refs: list[list[list[str]]], tok_signature: str
          ) -> tuple[float, list[float], str]:
    """Corpus BLEU, per-sentence BLEU (effective order) over pre-split words, and the corpus BLEU's signature."""
    from sacrebleu.metrics import BLEU
    hyps, streams = bleu_streams(tokenized_preds, tokenized_refs)
    bleu = BLEU(tokenize="none")
    corpus = bleu.corpus_score(hyps, streams).score
    signature = bleu.get_signature()
    signature.update("tok", tok_signature)  # the words were split by our tokenizer, not by sacrebleu
    sentence_bleu = BLEU(tokenize="none", effective_order=True)
    refs = [[r for r in rs if r is not None] for rs in zip(*streams)]
    return corpus, [sentence_bleu.sentence_score(h, rs).score for h, rs in zip(hyps, refs)], signature.format()


def rouge_signature(tok_signature: str) -> str:
    """How ROUGE was computed, in sacrebleu's signature style."""
    from importlib.metadata import version
    return f"compare-mt:{version('compare-mt')}|tok:{tok_signature}|tokens:ascii-ids|avg:sentence|refs:best"


def score_examples(predictions: Sequence[str], references: Sequence[Sequence[str]],
                   tokenizers: Sequence[str] = ("mecab",), tokenizer_name_or_path: str | None = None,
                   raw_references: Sequence[Sequence[str]] | None = None) -> tuple[dict, list[dict]]:
    """(corpus metrics shaped like metrics.json, one dict of sentence-level scores per example).

    ``raw_references``: the gold answers as written (no NFKC) for ``jglue``; default ``references``.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    raw_references = references if raw_references is None else raw_references
    if len(raw_references) != len(references):
        raise ValueError(f"{len(raw_references)} raw reference lists but {len(references)} reference lists")
    if not predictions:
        raise UserError("nothing to score: no predictions")
    for i, refs in enumerate(references):
        if isinstance(refs, str):  # a bare string would be scored as a list of one-character references
            raise TypeError(f"references[{i}] is a string; pass a list of references per example")
        if not refs:
            raise UserError(f"example {i + 1} has no reference; every prediction needs at least one")
    per_example = [{"exact_match": 100 * max(exact_match(p, r) for r in refs),
                    "char_f1": 100 * max(char_f1(p, r) for r in refs),
                    **dict(zip(("jglue_exact_match", "jglue_f1"), jglue_scores(p, raw)))}
                   for p, refs, raw in zip(predictions, references, raw_references)]
    metrics = {"n": len(predictions),
               "exact_match": _mean(e["exact_match"] for e in per_example),
               "char_f1": _mean(e["char_f1"] for e in per_example),
               "jglue": {"exact_match": _mean(e["jglue_exact_match"] for e in per_example),
                         "f1": _mean(e["jglue_f1"] for e in per_example)},
               "by_tokenizer": {}}
    rouge = _rouge_scorers() if tokenizers else {}
    for name in tokenizers:
        tokenize = get_tokenizer(name, tokenizer_name_or_path)
        preds = [tokenize(p) for p in predictions]
        refs = [[tokenize(r) for r in rs] for rs in references]
        tok_signature = tokenizer_signature(name, tokenizer_name_or_path)
        corpus_bleu, sentence_bleus, signature = _bleu(preds, refs, tok_signature)
        scores = {"bleu": corpus_bleu, "bleu_signature": signature, "rouge_signature": rouge_signature(tok_signature)}
        for example, s in zip(per_example, sentence_bleus):
            example[f"{name}_bleu"] = s
        to_ids = _AsciiIds()
        for rouge_type, scorer in rouge.items():
            sentence = [max(scorer.score_sentence(to_ids(r), to_ids(p))[0] for r in rs) for p, rs in zip(preds, refs)]
            scores[rouge_type] = _mean(sentence)
            for example, s in zip(per_example, sentence):
                example[f"{name}_{rouge_type}"] = s
        metrics["by_tokenizer"][name] = scores
    return metrics, per_example


def score_data(predictions: Sequence[str], ids: Sequence[str], references: Sequence[Sequence[str]], *,
               tsv_path=None, json_path=None, tokenizers: Sequence[str] = ("mecab",),
               tokenizer_name_or_path: str | None = None, fields=None,
               raw_map: tuple[dict[str, list[str]] | None, str] | None = None,
               with_breakdowns: bool = True) -> tuple[dict, list[dict]]:
    """``score_examples`` of a data set's predictions (one per id, in ``ids`` order) as score.py, train.py --do_eval
    and run_clm.py --do_eval report them: JGLUE's metric on the raw golds that follow the references
    (``read_raw_reference_map``; ``metrics["jglue_references"]`` says which were scored) and, with the data TSV,
    the breakdowns by question type and lengths (jaqg.evaluation.breakdowns; ``fields``: its rows' fields, if already
    read).
    ``raw_map``: ``read_raw_reference_map(ids, tsv_path, json_path)``, if already read (two systems scored against
    the same references read their golds once). ``with_breakdowns=False`` skips the breakdowns (score.py's system
    B: only its per-example scores are used, and question types cost a SudachiPy pass over every question)."""
    ids = list(ids)
    raw, raw_source = raw_map if raw_map is not None else read_raw_reference_map(ids, tsv_path, json_path)
    metrics, per_example = score_examples(predictions, references, tokenizers, tokenizer_name_or_path,
                                          raw_references=[raw[i] for i in ids] if raw else None)
    metrics["jglue_references"] = raw_source
    if tsv_path and with_breakdowns:
        metrics.update(breakdowns(per_example, fields if fields is not None else data_fields(tsv_path, ids)))
    return metrics, per_example


def format_report(metrics: dict) -> str:
    """``format_table`` and, when metrics has them, the breakdowns' table (scored by the first tokenizer's BLEU)."""
    tables = [format_table(metrics)]
    if any(k in metrics for k in BREAKDOWNS):
        first = next(iter(metrics.get("by_tokenizer", {})), None)
        tables.append(format_breakdowns({k: metrics[k] for k in BREAKDOWNS if k in metrics},
                                        f"{first}_bleu" if first else None))
    return "\n\n".join(tables)


def compute_metrics(predictions: list[str], references: list[list[str]], tokenizers=("mecab",),
                    tokenizer_name_or_path: str | None = None, raw_references: list[list[str]] | None = None) -> dict:
    """``{"n", "exact_match", "char_f1", "jglue": {"exact_match", "f1"}, "by_tokenizer": {name: {"bleu",
    "bleu_signature", "rouge1", "rouge2", "rougeL", "rouge_signature"}}}``."""
    return score_examples(predictions, references, tokenizers, tokenizer_name_or_path, raw_references)[0]


def format_table(metrics: dict) -> str:
    """Markdown: a summary line, then one row per tokenizer, then the BLEU signatures.

    With ``by_task`` (multitask data) the summary and the table are over all tasks mixed and say so, and one line
    per task follows the summary; JGLUE's JSQuAD EM/F1 is named only on the QA task's line."""
    summary = f"n = {metrics['n']}, exact_match = {metrics['exact_match']:.2f}, char_f1 = {metrics['char_f1']:.2f}"
    by_task = metrics.get("by_task")
    if by_task:
        summary = f"all tasks mixed (read the task lines): {summary}"
    elif "jglue" in metrics:
        summary += f"; JGLUE JSQuAD EM = {metrics['jglue']['exact_match']:.2f}, F1 = {metrics['jglue']['f1']:.2f}"
    lines = [summary]
    for task, m in (by_task or {}).items():
        line = f"{task}: n = {m['n']}, exact_match = {m['exact_match']:.2f}, char_f1 = {m['char_f1']:.2f}"
        if task == "qa" and "jglue" in m:
            line += f"; JGLUE JSQuAD EM = {m['jglue']['exact_match']:.2f}, F1 = {m['jglue']['f1']:.2f}"
        elif m.get("by_tokenizer"):
            name, scores = next(iter(m["by_tokenizer"].items()))
            line += f"; BLEU ({name}) = {scores['bleu']:.2f}"
        lines.append(line)
    lines += ["", "| tokenizer" + (" (all tasks mixed)" if by_task else "") + " | BLEU | ROUGE-1 | ROUGE-2 | ROUGE-L |",
              "|---|---:|---:|---:|---:|"]
    for name, s in metrics["by_tokenizer"].items():
        lines.append(f"| {name} | " + " | ".join(f"{s[m]:.2f}" for m in WORD_METRICS) + " |")
    signatures = [f"{name}: {s['bleu_signature']}" for name, s in metrics["by_tokenizer"].items()
                  if "bleu_signature" in s]
    if signatures:
        lines += ["", "BLEU signatures:", *signatures]
    return "\n".join(lines)


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def read_prediction_map(path) -> dict[str, str]:
    """``{id: prediction}`` from ``id\tprediction[\textra...]``, in file order.

    An n-best file (predict.py --num_return_sequences N: an id's rows adjacent, best first) gives each id its first
    row, and says so; an id repeated apart from its rows is an error (two files concatenated, say). Extra columns are
    allowed
    but every line must have the same number: a line with more fields than the others is a prediction with a tab.
    An empty generation, written as ``<empty>`` (jaqg.core.io.EMPTY_PREDICTION), is read back as ``""``.
    """
    rows = read_predictions(path)
    width = min(len(r) for r in rows)
    for lineno, row in enumerate(rows, 1):
        if len(row) != width:
            raise UserError(f"{path}:{lineno}: {len(row)} tab-separated fields where other lines have {width}; "
                            "a prediction may not hold a tab, remove it")
    predictions: dict[str, str] = {}
    most = run = 0
    for lineno, row in enumerate(rows, 1):
        if row[0] not in predictions:
            predictions[row[0]], run = prediction_text(row[1]), 1
        elif row[0] == rows[lineno - 2][0]:  # the next candidate of an n-best list
            run += 1
        else:
            raise UserError(f"{path}:{lineno}: id {row[0]!r} again, apart from its earlier rows; each example needs "
                            "one prediction (or adjacent n-best rows, best first)")
        most = max(most, run)
    if most > 1:
        print(f"{path}: an n-best list (up to {most} rows per id); using each id's first (best) row")
    return predictions


def read_reference_map(tsv_path=None, json_path=None) -> dict[str, list[str]]:
    """``{id: [reference, ...]}`` from a data TSV (target column) and/or a references JSON.

    The JSON is either JSQuAD (``data[].paragraphs[].qas[].answers[].text``) or ``{id: [answers]}``. With both,
    the TSV says which examples there are and the JSON gives each its (possibly several) references.
    """
    if tsv_path is None and json_path is None:
        raise UserError("no references: pass `references` R.tsv and/or `references_json` F.json")
    from_json = _references_from_json(json_path) if json_path else None
    if tsv_path is None:
        return from_json
    examples = {e.id: [e.target] for e in read_examples(tsv_path)}
    if from_json is None:
        return examples
    check_same_ids(examples, from_json, tsv_path, json_path, subset=True)
    return {id_: from_json[id_] for id_ in examples}


def read_raw_reference_map(ids, tsv_path=None, json_path=None) -> tuple[dict[str, list[str]] | None, str]:
    """The gold answers as written, for JGLUE's metric, and where they came from. They follow the references
    scored: with ``--references_json``, a JSQuAD file's answer texts, else the ``test_references_raw.json`` beside
    it (a prepared data dir's ``test_references.json``) when it covers every id, else that JSON as given; with a
    data TSV alone, the ``test_references_raw.json`` beside it. ``(None, why)`` when only normalized references
    exist (a hand-made data TSV's targets): score those instead."""
    from pathlib import Path
    ids = list(ids)

    def beside(path):
        candidate = Path(path).parent / RAW_REFERENCES
        if candidate.is_file() and candidate.resolve() != Path(path).resolve():
            raw = _references_from_json(candidate, raw=True)
            if all(i in raw for i in ids):
                return raw, str(candidate)
        return None

    if json_path:
        obj = read_json(json_path)
        if _is_jsquad(obj):
            return _references_from_json(json_path, raw=True, obj=obj), str(json_path)
        return beside(json_path) or (_references_from_json(json_path, raw=True, obj=obj), str(json_path))
    found = beside(tsv_path) if tsv_path else None
    return found or (None, "the references (normalized; no raw gold answers found)")


def _is_jsquad(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("data"), list)


def is_jsquad_file(path) -> bool:
    """Whether a references JSON is JSQuAD / SQuAD v1.1 (answers), not ``{id: [references]}``."""
    return _is_jsquad(read_json(path))


def _references_from_json(path, raw: bool = False, obj=None) -> dict[str, list[str]]:
    """``{id: [answers]}`` from a JSQuAD or ``{id: [answers]}`` JSON; normalized unless ``raw``. ``obj``: the
    file's parsed JSON, if already read (``path`` then only names it in errors)."""
    obj = read_json(path) if obj is None else obj
    norm = (lambda text: text) if raw else normalize  # noqa: E731
    if _is_jsquad(obj):  # JSQuAD / SQuAD v1.1
        try:
            refs = {qa["id"]: [norm(a["text"]) for a in qa["answers"]]
                    for article in obj["data"] for para in article["paragraphs"] for qa in para["qas"]
                    if qa["answers"]}  # unanswerable questions have no reference
        except (KeyError, TypeError, AttributeError) as e:
            raise UserError(f"{path}: not JSQuAD format (missing {e}); expected "
                            "data[].paragraphs[].qas[].{id, answers[].text}") from None
    elif isinstance(obj, dict) and all(isinstance(v, str) or (isinstance(v, list) and all(map(_is_str, v)))
                                       for v in obj.values()):
        refs = {k: [norm(a) for a in ([v] if isinstance(v, str) else v)] for k, v in obj.items()}
    else:
        raise UserError(f"{path}: expected JSQuAD format or {{id: [answers]}}; check the file")
    for id_, answers in refs.items():
        if not answers or not all(isinstance(a, str) and a for a in answers):
            raise UserError(f"{path}: id {id_!r} has no usable reference text; give each id at least one answer")
    return refs


def _is_str(x) -> bool:
    return isinstance(x, str)


def check_same_ids(have: dict, want: dict, have_path, want_path, subset: bool = False) -> None:
    """Raise one clear line when the ids of ``have`` and ``want`` differ (``subset``: ``want`` may hold more)."""
    missing = [i for i in have if i not in want]
    extra = [] if subset else [i for i in want if i not in have]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} of {len(have)} ids in {have_path} are not in {want_path} "
                     f"(e.g. {', '.join(map(repr, missing[:3]))})")
    if extra:
        parts.append(f"{len(extra)} of {len(want)} ids in {want_path} are not in {have_path} "
                     f"(e.g. {', '.join(map(repr, extra[:3]))})")
    raise UserError("; ".join(parts) + "; score predictions made for these same examples")
