"""lmqg's BLEU-4 / ROUGE-L / METEOR / BERTScore / MoverScore (jaqg/evaluation/lmqg_metrics.py, lmqg_embedding.py)
on hand cases whose expected numbers are worked out below from lmqg's formulas (module docstrings give the code
they are traced to). The Japanese questions are our own."""

import json
import math

import numpy as np
import pytest
from conftest import run_main_in_process

from jaqg.cli import score
from jaqg.evaluation.lmqg_embedding import bertscore_precision, mover_score, moverscore
from jaqg.evaluation.lmqg_metrics import (
    Segments,
    bleu4,
    lmqg_scores,
    lmqg_tokenize,
    meteor,
    meteor_jar,
    rouge_l,
    segments,
    text_normalization,
)

B = 1.2 ** 2  # lmqg's ROUGE-L beta, squared


def rouge_f(p, r):
    return (1 + B) * p * r / (r + B * p)


def test_lmqg_tokenization_is_spacy_sudachi_mode_a():
    # The words every hand case below rests on (spaCy ja tokenizer = Sudachi mode A, SudachiDict-core).
    assert lmqg_tokenize(" 富士山の高さは何メートル? ") == "富士 山 の 高 さ は 何 メートル ?"
    assert lmqg_tokenize("富士山の高さは?") == "富士 山 の 高 さ は ?"
    assert lmqg_tokenize("琵琶湖の面積は?") == "琵琶湖 の 面積 は ?"
    assert lmqg_tokenize("琵琶湖の広さは?") == "琵琶湖 の 広 さ は ?"


def test_text_normalization_as_lmqg():
    # lowercase; ( ) -> -lrb- -rrb-; a space before ? and ,; "x" -> `` x ''; a space before "..." and before
    # every "-" followed by two characters (lmqg's rule r'\s*([-].{2})' also splits its own -lrb- tokens; checked
    # against lmqg 0.1.1's text_normalization.py on these inputs)
    assert text_normalization("NHK (Japan)?") == "nhk -lrb -japan -rrb - ?"
    assert text_normalization('He said "yes",ok...') == "he said `` yes '' ,ok ..."
    assert text_normalization("富士山の高さは?") == "富士山の高さは ?"


def test_answer_level_one_segment_by_hand():
    # ref  富士 山 の 高 さ は 何 メートル ?  (9 words)     hyp  富士 山 の 高 さ は ?  (7 words)
    # n-gram precisions: 7/7; 5/6 (は ? is not in ref); 4/5; 3/4  -> geometric mean (1*5/6*4/5*3/4)^(1/4) = 0.5^(1/4)
    # brevity: c = 7 < r = 9 -> exp(1 - 9/7)
    seg = segments(["富士山の高さは?"], ["富士山の高さは何メートル?"], None, "answer")
    assert bleu4(seg) == pytest.approx(100 * 0.5 ** 0.25 * math.exp(1 - 9 / 7), abs=1e-6)  # 63.19
    # LCS = 7 (hyp is a subsequence of ref): P = 7/7, R = 7/9, F = (1 + 1.44) P R / (R + 1.44 P)
    assert rouge_l(seg) == pytest.approx(100 * rouge_f(1, 7 / 9), abs=1e-6)  # 85.57


def test_sentence_level_groups_questions_of_a_sentence_and_scores_the_first_prediction():
    refs = ["富士山の高さは何メートル?", "富士山の高さは?", "琵琶湖の面積は?"]
    sents = ["富士山は高い山だ。", "富士山は高い山だ。", "琵琶湖は広い。"]
    preds = ["富士山の高さは?", "まったく別の問い", "琵琶湖の広さは?"]
    seg = segments(preds, refs, sents, "sentence")
    assert len(seg.hypotheses) == 2 and [len(r) for r in seg.references] == [2, 1]
    # Segment A: refs {9 words, 7 words}, hyp = the FIRST prediction (7 words) = the 7-word ref: all n-grams match:
    #   correct/guess 7/7, 6/6, 5/5, 4/4; closest ref length 7.
    # Segment B: ref 琵琶湖 の 面積 は ? (5), hyp 琵琶湖 の 広 さ は ? (6): 1-grams 4/6 (琵琶湖 の は ?),
    #   2-grams 2/5 (琵琶湖 の, は ?), 3-grams 0/4, 4-grams 0/3; ref length 5.
    # Corpus: (11/13 * 8/11 * 5/9 * 4/7)^(1/4); c = 13 > r = 7 + 5 = 12: no brevity penalty.
    expected_bleu = 100 * (11 / 13 * 8 / 11 * (5 + 1e-15) / 9 * 4 / 7) ** 0.25
    assert bleu4(seg) == pytest.approx(expected_bleu, abs=1e-5)  # 66.48
    # ROUGE-L: A: LCS 7 with both refs, P max 1, R max 7/7 -> F = 1. B: LCS 4, P = 4/6, R = 4/5. Mean of the two.
    assert rouge_l(seg) == pytest.approx(100 * (1 + rouge_f(4 / 6, 4 / 5)) / 2, abs=1e-6)  # 86.97
    # The second prediction of a sentence is not scored (prediction_aggregation "first").
    other = segments([preds[0], "富士山の高さは?", preds[2]], refs, sents, "sentence")
    assert bleu4(other) == bleu4(seg)


def test_references_keep_case_while_hypotheses_are_lowercased():
    # lmqg lowercases the hypothesis only: NHK in both texts matches nothing (nhk != NHK); 4 of 5 words match.
    seg = segments(["NHKとは何?"], ["NHKとは何?"], None, "answer")
    assert seg.references[0][0].decode() == "NHK と は 何 ?"
    assert rouge_l(seg) == pytest.approx(100 * rouge_f(4 / 5, 4 / 5), abs=1e-6)  # 80.0


def test_missing_prediction_is_scored_empty_and_counted():
    scores = lmqg_scores([None, "富士山の高さは?"], ["琵琶湖の面積は?", "富士山の高さは?"], None, "answer",
                         with_meteor=False)
    assert scores["missing_predictions"] == 1
    assert scores["ROUGE_L"] == pytest.approx(50.0)  # 0 for the empty one, 1 for the exact one
    assert scores["METEOR"] is None and scores["METEOR_not_computed"] == "not asked for"


@pytest.mark.slow
@pytest.mark.skipif(meteor_jar()[0] is None, reason="METEOR 1.5 needs Java and pycocoevalcap's jar")
def test_meteor_by_hand_through_the_jar():
    # The jar's -norm splits kanji into single characters: 東京 は 首都 is 5 words (its stats line says 5.0 5.0).
    # hyp 大阪 は 首都 vs ref 東京 は 首都: 3 exact matches (は 首 都) in 1 chunk; METEOR 1.5 "en" parameters
    # alpha 0.85, beta 0.2, gamma 0.6 (no function words here, so delta does not matter):
    #   P = R = 3/5, Fmean = PR / (alpha P + (1 - alpha) R) = 0.6, penalty = gamma (chunks/matches)^beta
    #   = 0.6 (1/3)^0.2, score = Fmean (1 - penalty).
    one = Segments([["東京 は 首都".encode()]], ["大阪 は 首都".encode()], 0)
    two = Segments([["東京 は 首都".encode()], ["東京 は 首都".encode()]],
                   ["大阪 は 首都".encode(), "東京 は 首都".encode()], 0)
    # lmqg reports the jar's aggregate over all segments (summed stats; not the mean of segment scores):
    #   matches 3 + 5 of 10 words each side -> Fmean = 0.8; chunks 1 + 0, since METEOR 1.5's MeteorStats.addStats
    #   adds no chunk for a segment matched whole in one chunk -> penalty = 0.6 (1/8)^0.2.
    assert meteor(one) == pytest.approx(100 * 0.6 * (1 - 0.6 * (1 / 3) ** 0.2), abs=1e-6)  # 31.10
    assert meteor(two) == pytest.approx(100 * 0.8 * (1 - 0.6 * (1 / 8) ** 0.2), abs=1e-6)  # 48.33


def test_mover_score_by_hand():
    # ref: two unit vectors e1, e2 (weights 1/2 each); hyp: e1 (weight 1). The cheapest transport sends e1's
    # half to e1 (distance 0) and e2's half to e1 (distance sqrt 2): EMD = sqrt(2)/2, score = 1 / (1 + EMD).
    ref = (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0]))
    hyp = (np.array([[1.0, 0.0]]), np.array([1.0]))
    assert mover_score(ref, hyp) == pytest.approx(1 / (1 + math.sqrt(2) / 2), abs=1e-6)  # 0.5858
    # a zero weight (a ## piece or ASCII punctuation in lmqg) takes no part
    hyp_punct = (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 0.0]))
    assert mover_score(ref, hyp_punct) == pytest.approx(mover_score(ref, hyp), abs=1e-6)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A random 2-layer BERT with a character WordPiece vocabulary (no download)."""
    from transformers import BertConfig, BertModel, BertTokenizer
    folder = tmp_path_factory.mktemp("bert")
    chars = sorted(set("富士山の高さは何メートル?琵琶湖面積広東京大阪首都かが"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=False,
                  model_max_length=512).save_pretrained(folder)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder)
    return str(folder)


def test_bertscore_and_moverscore_with_a_local_encoder(tiny_bert):
    same = ["富士 山 の 高 さ は ?"]
    assert bertscore_precision(same, same, tiny_bert, num_layers=2) == pytest.approx(100, abs=1e-4)
    # identical texts: EMD is 0 but for lmqg's float32 distances (|a|^2 + |b|^2 - 2ab of equal unit vectors is ~1e-7,
    # whose square root ~3e-4), kept as lmqg computes them
    assert moverscore(same, same, tiny_bert) == pytest.approx(100, abs=0.01)
    differ = bertscore_precision(["琵琶湖 の 広 さ は ?"], same, tiny_bert, num_layers=2)
    assert 0 < differ < 100
    assert 0 < moverscore(["琵琶湖 の 広 さ は ?"], same, tiny_bert) < 100
    # lmqg loads MoverScore's tokenizer with do_lower_case=True, which also strips accents: が (か + dakuten)
    # becomes か, so these two score as identical; BERTScore (cased) tells them apart.
    # (one token a side: the float32 distance of the equal vectors is larger here, ~99.98 measured)
    assert moverscore(["が"], ["か"], tiny_bert) == pytest.approx(100, abs=0.05)
    assert moverscore(["が"], ["山"], tiny_bert) < 99.9  # another character is not
    assert bertscore_precision(["が"], ["か"], tiny_bert, num_layers=2) < 100


def test_score_py_lmqg_file(tmp_path, capsys, tiny_bert):
    rows = [{"question": q, "sentence": s, "paragraph": s, "answer": "x"}
            for q, s in [("富士山の高さは何メートル?", "富士山は高い山だ。"), ("富士山の高さは?", "富士山は高い山だ。"),
                         ("琵琶湖の面積は?", "琵琶湖は広い。")]]
    lmqg_file = tmp_path / "test.jsonl"
    lmqg_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    preds = tmp_path / "p.tsv"
    preds.write_text("test-1\t富士山の高さは?\ntest-2\tまったく別の問い\ntest-3\t琵琶湖の広さは?\n", encoding="utf-8")
    out = tmp_path / "m.json"
    code, stdout, err = run_main_in_process(capsys, score.main, "score.py", "--predictions", preds, "--lmqg_file",
                                            lmqg_file, "--output", out, "--no_lmqg_meteor",
                                            "--lmqg_bertscore_model", tiny_bert, "--lmqg_bertscore_layers", 2)
    assert code == 0, err
    lmqg = json.loads(out.read_text(encoding="utf-8"))["lmqg"]
    assert lmqg["Bleu_4"] == pytest.approx(100 * (11 / 13 * 8 / 11 * 5 / 9 * 4 / 7) ** 0.25, abs=1e-5)
    assert lmqg["segments"] == 2 and lmqg["questions"] == 3 and lmqg["METEOR"] is None
    assert 0 < lmqg["BERTScore"] <= 100
    assert "| Bleu_4 | ROUGE_L | METEOR | BERTScore |" in stdout

    preds.write_text("test-9\t富士山の高さは?\n", encoding="utf-8")
    code, _, err = run_main_in_process(capsys, score.main, "score.py", "--predictions", preds, "--lmqg_file",
                                       lmqg_file, "--output", out, "--no_lmqg_meteor")
    assert code == 2 and "has no line for prediction id 'test-9'" in err and "Traceback" not in err
