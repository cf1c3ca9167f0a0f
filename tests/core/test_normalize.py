import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from jaqg.core.normalize import normalize, normalize_offset

# Characters that exercise NFKC and neologdn: full/half width, katakana, long vowels, tildes, spaces, the separator.
PIECES = st.sampled_from(list("aZkＡｚ１9ｱｶﾞﾊﾟーｰ-−〜~～ 　\t\n\r。、!！?？()（）漢字かなカナ") +
                         ["[SEP]", "[sep]", "[Sep]", " [SEP] ", "ＩＢＭ", "Ⅻ", "㍻", "ｶﾞｰｰ", "ー ー"])
JAPANESEISH = st.lists(PIECES, max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(JAPANESEISH, st.text(max_size=40)))
def test_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(JAPANESEISH, st.sampled_from(["[SEP]", "<sep>", "|"]))
def test_idempotent_with_custom_sep(text, sep):
    once = normalize(text, sep=sep)
    assert normalize(once, sep=sep) == once


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("aBcXyZ ＡｂＣ漢字カナ。ｶﾅ")), max_size=30).map("".join))
def test_never_lowercases(text):
    # Every ASCII letter (after width folding) survives with its case, in order.
    letters = [c for c in unicodedata.normalize("NFKC", text) if c.isascii() and c.isalpha()]
    assert [c for c in normalize(text) if c.isascii() and c.isalpha()] == letters


def test_contract_examples():
    assert normalize("  タイトル [sep]本文です\r\n") == "タイトル [SEP] 本文です"
    assert normalize("ＡＢＣ１２３はﾊﾝｶｸ ｶﾀｶﾅ") == "ABC123はハンカクカタカナ"
    assert normalize("Hello  World\t!") == "Hello World!"
    assert normalize("タイトル [SEP] 本文", sep="<sep>") == "タイトル <sep> 本文"


def test_tilde_is_kept_not_deleted():
    # neologdn's default deletes tildes: 10〜20 would read 1020.
    assert normalize("営業は10〜20時") == "営業は10~20時"
    assert normalize("1990年～2000年") == "1990年~2000年"


def test_normalize_offset_points_at_the_same_text():
    raw = "ＡＢＣ　ｶﾀｶﾅの ある 町 [sep] 甲府市は山梨県にある。"
    start = raw.index("甲府市")
    norm = normalize(raw)
    assert norm[normalize_offset(raw, start):].startswith("甲府市")
