"""jaqg.evaluation.jglue_metric: JGLUE's JSQuAD EM / F1 (its patch of transformers' squad_metrics.py), on hand cases."""

import pytest

from jaqg.evaluation.jglue_metric import jglue_scores, jglue_squad_metric, normalize_answer
from jaqg.evaluation.metrics import char_f1, exact_match


@pytest.mark.parametrize("prediction, golds, em, f1", [
    ("東京。", ["東京"], 100, 100),  # a trailing 。 is stripped ...
    ("東京。。", ["東京"], 100, 100),  # ... every one of them
    ("東京。 ", ["東京"], 0, 80),  # ... but before whitespace is squeezed: 。 before a space stays (P 2/3, R 1)
    ("ABC", ["abc"], 100, 100),  # lower-cased
    ("ＡＢＣ", ["abc"], 0, 0),  # no NFKC: full-width letters stay full-width (lower-cased: ａｂｃ)
    ("１２３", ["123"], 0, 0),  # full-width digits are other characters
    ("東京  タワー", ["東京 タワー"], 100, 100),  # whitespace runs become one space
    ("東京タワー", ["東京 タワー"], 0, 100 * 10 / 11),  # spaces are characters: P 5/5, R 5/6
    ("東京都", ["東京", "東京都", "京都"], 100, 100),  # the max over gold answers
    ("東京都庁", ["東京", "京都"], 0, 100 * 2 * (2 / 4) * 1 / (2 / 4 + 1)),  # F1 max: 東京 (P 2/4, R 2/2)
    ("", ["東京"], 0, 0),  # an empty prediction
    ("", ["。", " "], 100, 100),  # golds empty once normalized are dropped; none left: [""]
])
def test_hand_cases(prediction, golds, em, f1):
    got_em, got_f1 = jglue_scores(prediction, golds)
    assert got_em == em and got_f1 == pytest.approx(f1)


def test_normalize_answer_changes_nothing_else():
    assert normalize_answer("  Ｔｏｋｙｏ、「東京」!  ") == "ｔｏｋｙｏ、「東京」!"  # punctuation and width kept
    assert normalize_answer("A\u3000B\tC") == "a b c"  # str.split() splits on ideographic spaces too


def test_corpus_average_and_how_it_differs_from_ours():
    predictions, golds = ["１２３", "東京。", "京都"], [["123"], ["東京"], ["大阪", "京都"]]
    assert jglue_squad_metric(predictions, golds) == {"exact_match": pytest.approx(200 / 3),
                                                       "f1": pytest.approx(200 / 3)}
    # jaqg.evaluation.metrics normalizes (NFKC + neologdn): there １２３ is 123.
    assert exact_match("１２３", "123") == 1.0 and char_f1("１２３", "123") == 1.0
    with pytest.raises(ValueError):
        jglue_squad_metric(["a"], [])


def test_raw_golds_follow_the_references_scored(tmp_path):
    import json

    from jaqg.evaluation.metrics import read_raw_reference_map
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.tsv").write_text("a\tquestion: q context: c\t123\n", encoding="utf-8")
    (data / "test_references.json").write_text('{"a": ["123"]}', encoding="utf-8")
    (data / "test_references_raw.json").write_text('{"a": ["１２３"]}', encoding="utf-8")
    mine = tmp_path / "mine.json"
    mine.write_text('{"a": ["ＡＢＣ"]}', encoding="utf-8")
    jsquad = tmp_path / "valid.json"
    jsquad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [
        {"id": "a", "question": "q", "answers": [{"text": "１２３。", "answer_start": 0}]}]}]}]}), encoding="utf-8")
    assert read_raw_reference_map(["a"], data / "test.tsv")[0] == {"a": ["１２３"]}
    assert read_raw_reference_map(["a"], data / "test.tsv", data / "test_references.json")[0] == {"a": ["１２３"]}
    assert read_raw_reference_map(["a"], data / "test.tsv", mine) == ({"a": ["ＡＢＣ"]}, str(mine))  # as given
    assert read_raw_reference_map(["a"], data / "test.tsv", jsquad) == ({"a": ["１２３。"]}, str(jsquad))
    assert read_raw_reference_map(["b"], data / "test.tsv")[0] is None  # the raw file lacks b: not used
