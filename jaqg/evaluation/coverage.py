"""How well a tokenizer covers a data set: inputs and targets holding ``<unk>``, texts that do not survive
encode -> decode, and the exact-match ceilings those imply for a model generating through it."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from .jglue_metric import compute_exact
from .metrics import exact_match


def _excerpt(text: str, start: int, end: int, width: int = 12) -> str:
    """``text[start:end]`` with up to ``width`` characters either side, spaces as written, ``…`` where cut."""
    lo, hi = max(0, start - width), min(len(text), end + width)
    return ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")


def _first_difference(text: str, decoded: str, width: int = 12) -> str:
    """``'…text…' -> '…decoded…'`` around the first character where the two differ, whitespace aside (as the
    round-trip check compares them); the excerpts keep their spaces as written."""
    where_a = [i for i, c in enumerate(text) if not c.isspace()]
    where_b = [i for i, c in enumerate(decoded) if not c.isspace()]
    k = next((k for k, (i, j) in enumerate(zip(where_a, where_b)) if text[i] != decoded[j]),
             min(len(where_a), len(where_b)))
    a = where_a[k] if k < len(where_a) else len(text)
    b = where_b[k] if k < len(where_b) else len(decoded)
    return f"{_excerpt(text, a, a + 1, width)!r} -> {_excerpt(decoded, b, b + 1, width)!r}"


def coverage(tokenizer, texts: Sequence[str], ids: Sequence[str] | None = None, n_examples: int = 3,
             exact_match_ceilings: bool = False) -> dict:
    """How many ``texts`` hold the unknown token under ``tokenizer``, and how many do not survive
    encode -> decode (compared ignoring whitespace, since SentencePiece collapses and adds spaces).

    Returns ``{"n", "with_unk", "not_round_trip", "unknown_chars": {char: count} (top 10), "unk_examples",
    "round_trip_examples"}``. ``unk_examples``: up to ``n_examples`` ``{"id", "unknown": [each distinct character
    under <unk>, in order], "text": an excerpt around the first}`` (SentencePiece gives a run of unknown characters
    one ``<unk>``; they are listed one by one). ``round_trip_examples``: ``{"id", "change": "'…text…' ->
    '…decoded…'"}`` around the first difference, spaces as written. ``exact_match_ceilings``: also
    ``"exact_match_kept"`` / ``"jglue_exact_match_kept"``, how many decoded texts still equal their text under
    score.py's ``exact_match`` (jaqg.evaluation.metrics: NFKC + neologdn, never lowercases) and under JGLUE's official
    EM
    (jaqg.evaluation.jglue_metric: lowercased, trailing 。 stripped, spaces squeezed).
    No special tokens are added; ``<hl>`` and other added tokens count as themselves.
    """
    ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
    enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    unk = tokenizer.unk_token_id
    decoded = tokenizer.batch_decode(enc["input_ids"], skip_special_tokens=False)
    report = {"n": len(texts), "with_unk": 0, "not_round_trip": 0, "unknown_chars": {}, "unk_examples": [],
              "round_trip_examples": []}
    if exact_match_ceilings:
        report["exact_match_kept"] = report["jglue_exact_match_kept"] = 0
    unknown = Counter()
    for key, text, token_ids, offsets, back in zip(ids, texts, enc["input_ids"], enc["offset_mapping"], decoded):
        if exact_match_ceilings:
            report["exact_match_kept"] += int(exact_match(back, text))
            report["jglue_exact_match_kept"] += compute_exact(text, back)
        spans = [(a, b) for t, (a, b) in zip(token_ids, offsets) if t == unk]
        if unk is not None and unk in token_ids:
            report["with_unk"] += 1
            chars = [c for a, b in spans for c in text[a:b] if not c.isspace()]
            unknown.update(chars)
            chars = list(dict.fromkeys(chars))
            if len(report["unk_examples"]) < n_examples and \
                    all(e["unknown"] != chars for e in report["unk_examples"]):  # distinct examples
                a, b = spans[0]
                report["unk_examples"].append({"id": key, "unknown": chars, "text": _excerpt(text, a, b, 20)})
        if "".join(back.split()) != "".join(text.split()):
            report["not_round_trip"] += 1
            change = _first_difference(text, back)
            if len(report["round_trip_examples"]) < n_examples and \
                    all(e["change"] != change for e in report["round_trip_examples"]):
                report["round_trip_examples"].append({"id": key, "change": change})
    report["unknown_chars"] = dict(unknown.most_common(10))
    return report


def coverage_report(tokenizer, examples_by_split: dict[str, Sequence], n_examples: int = 3) -> dict:
    """``coverage`` of the inputs and targets of each split's examples (objects with id, input, target), with two
    exact-match ceilings per split, each the share (0-100) of targets whose encode -> decode still equals the
    target under that metric, an upper bound for a model that generates through this tokenizer:
    ``exact_match_ceiling`` for score.py's / train.py's ``exact_match`` (jaqg.evaluation.metrics: NFKC + neologdn; case
    counts, so a lowercasing tokenizer such as rinna's loses every target with a capital letter) and
    ``jglue_exact_match_ceiling`` for ``jglue.exact_match`` (JGLUE's official JSQuAD EM, which lowercases)."""
    out = {"tokenizer": str(tokenizer.name_or_path)}
    for split, examples in examples_by_split.items():
        if not examples:
            continue
        ids = [e.id for e in examples]
        inputs = coverage(tokenizer, [e.input for e in examples], ids, n_examples)
        targets = coverage(tokenizer, [e.target for e in examples], ids, n_examples, exact_match_ceilings=True)
        n = targets["n"]
        out[split] = {"inputs": inputs, "targets": targets,
                      "exact_match_ceiling": round(100.0 * targets["exact_match_kept"] / n, 2),
                      "jglue_exact_match_ceiling": round(100.0 * targets["jglue_exact_match_kept"] / n, 2)}
    return out


def format_coverage(report: dict) -> str:
    """The coverage report as a few printable lines (counts and up to three examples each)."""
    lines = [f"tokenizer coverage ({report['tokenizer']}):"]
    for split, r in report.items():
        if split == "tokenizer":
            continue
        for side in ("inputs", "targets"):
            c = r[side]
            line = (f"  {split} {side}: {c['with_unk']} of {c['n']} hold <unk>, {c['not_round_trip']} do not survive "
                    "encode->decode")
            if c["unk_examples"]:
                line += "; <unk> e.g. " + ", ".join(f"{e['id']} {e['text']!r} (unknown: {' '.join(e['unknown'])})"
                                                    for e in c["unk_examples"])
            if c["round_trip_examples"]:
                line += "; changed e.g. " + ", ".join(f"{e['id']} {e['change']}" for e in c["round_trip_examples"])
            lines.append(line)
        lines.append(f"  {split} exact-match ceiling: {r['exact_match_ceiling']:.2f} (exact_match: NFKC, case "
                     f"kept), {r['jglue_exact_match_ceiling']:.2f} (jglue exact_match: lowercased)")
    return "\n".join(lines)

