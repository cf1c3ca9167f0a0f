"""jaqg.tokenization.word: every analyser call stays under Sudachi's byte limit and gives the short-input words."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaqg.tokenization.word import MAX_ANALYSER_BYTES, analyser_pieces, get_tokenizer

LONG = "あ" * 16384 + "。東京は首都である。"  # 49,182 bytes: SudachiError "Input is too long" in one call


@pytest.mark.parametrize("name", ["sudachi_A", "sudachi_C", "mecab"])
def test_long_input_gives_the_words_of_its_sentences(name):
    tokenize = get_tokenizer(name)
    words = tokenize(LONG)
    assert words[-6:] == tokenize("東京は首都である。")
    many = "東京は日本の首都である。" * 2000  # 72,000 bytes of short sentences: pieces cut between sentences
    assert tokenize(many) == tokenize("東京は日本の首都である。") * 2000


def test_short_input_is_one_piece_and_long_input_is_cut_between_sentences():
    assert analyser_pieces("東京は首都である。京都は古都である。") == ["東京は首都である。京都は古都である。"]
    pieces = analyser_pieces("東京。" * 20000)
    assert "".join(pieces) == "東京。" * 20000
    assert all(p.endswith("。") and len(p.encode("utf-8")) <= MAX_ANALYSER_BYTES for p in pieces)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="あ漢a。!😀 ", max_size=80), st.integers(min_value=4, max_value=20))
def test_pieces_join_back_and_fit(text, max_bytes):
    pieces = analyser_pieces(text, max_bytes)
    assert "".join(pieces) == text
    assert all(len(p.encode("utf-8")) <= max_bytes for p in pieces) or len(text.encode("utf-8")) <= max_bytes


def test_ginza_pieces_keep_character_offsets():
    from jaqg.tokenization.word import ginza_tokenizer_only, pipe_in_pieces
    text = "あ" * 16384 + "。東京は首都である。"
    (pieces,) = pipe_in_pieces(ginza_tokenizer_only(), [text])
    assert len(pieces) == 2
    starts = [offset + t.idx for offset, doc in pieces for t in doc]
    words = [t.text for _, doc in pieces for t in doc]
    assert all(text[s:s + len(w)] == w for s, w in zip(starts, words)) and words[-6:-1] == ["東京", "は", "首都",
                                                                                               "で", "ある"]


@pytest.mark.parametrize("name", ["sudachi_C", "mecab"])
@pytest.mark.parametrize("run", [16382, 16381])
def test_byte_cut_without_sentence_end_does_not_split_a_word(name, run):
    """The tester's case: a byte cut inside 東京都庁 gave ['東', '京都', '庁']; the cut goes back to where the
    script changes (あ|東), so the word comes out as on short input."""
    tokenize = get_tokenizer(name)
    text = "あ" * run + "東京都庁"
    assert len(text.encode("utf-8")) > MAX_ANALYSER_BYTES
    assert analyser_pieces(text)[-1] == "東京都庁"
    assert tokenize(text)[-len(tokenize("東京都庁")):] == tokenize("東京都庁")


def test_byte_cut_prefers_spaces_and_punctuation():
    assert analyser_pieces("ab cd、efgh", 8) == ["ab cd、", "efgh"]
    assert analyser_pieces("ああカタカナ", 12) == ["ああ", "カタカナ"]  # hiragana | katakana
    assert analyser_pieces("あ" * 10, 9) == ["あああ"] * 3 + ["あ"]  # no boundary: cut where the bytes end
