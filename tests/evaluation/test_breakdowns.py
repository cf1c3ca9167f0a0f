"""jaqg.evaluation.breakdowns.question_type: decided by the question word as a word of its own (SudachiPy), not
substrings."""

import pytest

from jaqg.evaluation.breakdowns import question_type


@pytest.mark.parametrize("question, expected", [
    # The tester's cases: ordinary words that hold a question word's letters, durations, amounts, kanji spellings.
    ("ぶどうの産地は何県か。", "何"),
    ("どうぶつ園がある町は何市か。", "何"),
    ("いつもの店の名前は何か。", "何"),
    ("何日間続いたか。", "いくつ"),
    ("どれくらいの高さか。", "いくつ"),
    ("どのくらいかかるか。", "いくつ"),
    ("どれほどか。", "いくつ"),
    ("何処にあるか。", "どこ"),
    # Each type still found.
    ("なぜ閉店したか。", "なぜ"), ("どうして閉店したか。", "なぜ"),
    ("いつ建てたか。", "いつ"), ("何年に建てたか。", "いつ"), ("何曜日に開くか。", "いつ"),
    ("誰が建てたか。", "誰"), ("山梨県の県庁所在地はどこですか?", "どこ"),
    ("何人いるか。", "いくつ"), ("富士山の高さは何メートルですか?", "いくつ"), ("いくらか。", "いくつ"),
    ("どのように作るか。", "どう"), ("どんな店か。", "どう"),
    ("どちらが高いか。", "どの"), ("どの県にあるか。", "どの"),
    ("日本一長い川は何ですか?", "何"), ("何の店か。", "何"),
    ("高さは?", "other"),
])
def test_question_type_by_words(question, expected):
    assert question_type(question) == expected
