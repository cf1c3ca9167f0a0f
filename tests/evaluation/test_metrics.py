"""Metrics pinned to sacrebleu (BLEU) and to an independent ROUGE written here, plus hand-computed cases."""

from collections import Counter

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st

from jaqg.core.errors import UserError
from jaqg.evaluation.metrics import char_f1, compute_metrics, score_examples
from jaqg.tokenization.word import get_tokenizer

# Our own sentences (question-generation style), with near misses, reorderings and punctuation.
PREDICTIONS = [
    "山梨県の県庁所在地はどこですか?",
    "富士山の高さは何メートルですか。",
    "日本で一番長い川は何ですか?",
    "この橋が完成したのは何年ですか?",
    "猫が好きな食べ物は魚だと言われています。",
    "東京タワーはいつ建てられたか。",
]
REFERENCES = [
    ["山梨県の県庁所在地はどこ?"],
    ["富士山は何メートルの高さですか。", "富士山の標高は何メートルか?"],
    ["日本で最も長い川は何ですか?"],
    ["その橋はいつ完成しましたか?"],
    ["猫の好物は魚だと言われている。"],
    ["東京タワーが建てられたのはいつか。", "東京タワーの建設年は?", "東京タワーはいつできたか"],
]


def test_hand_computed_rouge_and_char_f1():
    # mecab splits 山梨県の -> 山梨 県 の and 山梨県 -> 山梨 県.
    m, (ex,) = score_examples(["山梨県の"], [["山梨県"]], tokenizers=("mecab",))
    assert get_tokenizer("mecab")("山梨県の") == ["山梨", "県", "の"]
    assert ex["mecab_rouge1"] == pytest.approx(80.0)  # P 2/3, R 1
    assert ex["mecab_rouge2"] == pytest.approx(200 / 3)  # bigrams {山梨県, 県の} vs {山梨県}: P 1/2, R 1
    assert ex["mecab_rougeL"] == pytest.approx(80.0)  # LCS 2
    assert char_f1("甲府市", "甲府") == pytest.approx(0.8)
    assert char_f1("甲 府", "甲府") == 1.0  # whitespace ignored
    assert m["exact_match"] == 0.0


def test_exact_match_normalizes_and_takes_best_reference():
    m = compute_metrics(["ＡＢＣ株式会社", "甲府市"], [["ABC株式会社"], ["甲府", "甲府市"]], tokenizers=())
    assert m["n"] == 2 and m["exact_match"] == 100.0 and m["char_f1"] == 100.0
    m = compute_metrics(["甲府"], [["甲府市"]], tokenizers=())
    assert m["exact_match"] == 0.0 and m["char_f1"] == pytest.approx(80.0)


def test_bleu_equals_sacrebleu_ja_mecab():
    single = [refs[0] for refs in REFERENCES]
    ours = compute_metrics(PREDICTIONS, [[r] for r in single])["by_tokenizer"]["mecab"]["bleu"]
    assert ours == pytest.approx(sacrebleu.corpus_bleu(PREDICTIONS, [single], tokenize="ja-mecab").score, abs=1e-9)
    assert 0 < ours < 100
    # Several references per example (a variable number, padded with None as sacrebleu allows).
    streams = [[refs[i] if i < len(refs) else None for refs in REFERENCES] for i in range(3)]
    expected = sacrebleu.corpus_bleu(PREDICTIONS, streams, tokenize="ja-mecab").score
    assert compute_metrics(PREDICTIONS, REFERENCES)["by_tokenizer"]["mecab"]["bleu"] == pytest.approx(expected)


def test_other_tokenizers_bleu_is_presplit_none():
    chars = [" ".join(p.replace(" ", "")) for p in PREDICTIONS]
    refs = [" ".join(r[0]) for r in REFERENCES]
    expected = sacrebleu.corpus_bleu(chars, [refs], tokenize="none").score
    got = compute_metrics(PREDICTIONS, [[r[0]] for r in REFERENCES], tokenizers=("char",))
    assert got["by_tokenizer"]["char"]["bleu"] == pytest.approx(expected)


# --- an independent ROUGE (n-gram overlap F and LCS F), to cross-check compare-mt through our id mapping ---
def ngram_f(ref, out, n):
    r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
    o = Counter(tuple(out[i:i + n]) for i in range(len(out) - n + 1))
    overlap = sum((r & o).values())
    if not overlap:
        return 0.0
    p, rec = overlap / sum(o.values()), overlap / sum(r.values())
    return 100 * 2 * p * rec / (p + rec)


def lcs_f(ref, out):
    table = [[0] * (len(out) + 1) for _ in range(len(ref) + 1)]
    for i, a in enumerate(ref):
        for j, b in enumerate(out):
            table[i + 1][j + 1] = table[i][j] + 1 if a == b else max(table[i][j + 1], table[i + 1][j])
    lcs = table[-1][-1]
    if not lcs:
        return 0.0
    p, rec = lcs / len(out), lcs / len(ref)
    return 100 * 2 * p * rec / (p + rec)


def independent_rouge(preds, refs_lists, tokenize):
    out = {"rouge1": [], "rouge2": [], "rougeL": []}
    for p, refs in zip(preds, refs_lists):
        pt, rts = tokenize(p), [tokenize(r) for r in refs]
        out["rouge1"].append(max(ngram_f(r, pt, 1) for r in rts))
        out["rouge2"].append(max(ngram_f(r, pt, 2) for r in rts))
        out["rougeL"].append(max(lcs_f(r, pt) for r in rts))
    return {k: sum(v) / len(v) for k, v in out.items()}


@pytest.mark.parametrize("name", ["mecab", "sudachi_C", "char"])
def test_rouge_matches_independent_implementation(name):
    got = compute_metrics(PREDICTIONS, REFERENCES, tokenizers=(name,))["by_tokenizer"][name]
    want = independent_rouge(PREDICTIONS, REFERENCES, get_tokenizer(name))
    for key in want:
        assert got[key] == pytest.approx(want[key]), key
    assert 0 < got["rouge2"] < got["rouge1"] < 100


def test_unpatched_compare_mt_scores_japanese_zero():
    """Why the id mapping exists: compare-mt alone erases every Japanese token."""
    from compare_mt.scorers import RougeScorer
    tokens = get_tokenizer("mecab")(PREDICTIONS[0])
    assert RougeScorer("rouge1").score_sentence(tokens, tokens)[0] == 0.0
    assert compute_metrics([PREDICTIONS[0]], [[PREDICTIONS[0]]])["by_tokenizer"]["mecab"]["rouge1"] == 100.0


TEXT = st.text(alphabet="山川県市のはがを?。あいうカタ富士123", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TEXT, st.lists(TEXT, min_size=1, max_size=3)), min_size=1, max_size=5))
def test_rouge_matches_independent_implementation_random(pairs):
    preds, refs = [p for p, _ in pairs], [r for _, r in pairs]
    metrics, per_example = score_examples(preds, refs, tokenizers=("char",))
    got = metrics["by_tokenizer"]["char"]
    want = independent_rouge(preds, refs, get_tokenizer("char"))
    for key in want:
        assert got[key] == pytest.approx(want[key]), key
    # Two routes to one number: char F1 is ROUGE-1 over characters (no whitespace, normalize is a no-op here).
    for example in per_example:
        assert example["char_f1"] == pytest.approx(example["char_rouge1"])


def test_sudachi_modes_differ_and_no_whitespace_tokens():
    a, c = get_tokenizer("sudachi_A"), get_tokenizer("sudachi_C")
    assert len(a("東京都庁の職員")) > len(c("東京都庁の職員"))
    assert "".join(a("東京都庁の職員")) == "東京都庁の職員"
    assert all(t.strip() for t in c("今日は よい 天気"))


def test_unknown_tokenizer_and_missing_t5_path():
    with pytest.raises(UserError, match="unknown tokenizer 'juman'.*mecab"):
        get_tokenizer("juman")
    with pytest.raises(UserError, match="tokenizer_name_or_path"):
        get_tokenizer("t5")
    with pytest.raises(UserError, match="no reference"):
        compute_metrics(["a"], [[]])
    with pytest.raises(TypeError, match="list of references"):
        compute_metrics(["甲府"], ["甲府"])


def test_invisible_characters_in_a_reference_do_not_cost_exact_match():
    # The tokenizers drop a zero-width space, so the model can only ever write 甲府市.
    from jaqg.evaluation.metrics import char_f1, exact_match
    assert exact_match("甲府市", "甲府\u200b市") == 1.0
    assert exact_match("甲府市", "\ufeff甲府\u00ad市") == 1.0
    assert char_f1("甲府市", "甲府\u2060市") == 1.0


def test_jglue_metric_still_scores_raw_strings():
    from jaqg.evaluation.jglue_metric import compute_exact
    assert compute_exact("甲府\u200b市", "甲府市") == 0
