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


# Invisible format characters (category Cf) next to the pieces above, and emoji around a zero-width joiner.
INVISIBLE = st.sampled_from(["\u200b", "\ufeff", "\u2060", "\u00ad", "\u200e", "\u200f", "\u202a", "\u200d",
                             "\u200c", "\U000e0041", "👨", "💻", "\ufe0f", "🏽"])
WITH_INVISIBLE = st.lists(st.one_of(PIECES, INVISIBLE), max_size=30).map("".join)


def test_invisible_format_characters_are_removed():
    assert normalize("甲府\u200b市") == "甲府市"
    for ch in "\ufeff\u2060\u00ad\u200e\u200f\u202a\u202c\u2066\u2069\u200c\u200d":
        assert normalize(f"甲府{ch}市") == "甲府市", f"U+{ord(ch):04X}"
    assert normalize("\ufeff山梨県") == "山梨県"
    assert not any(unicodedata.category(c) == "Cf" for c in normalize("a\u200bb\u00adc [SEP] d\u2060e"))


def test_zero_width_joiner_stays_inside_emoji_sequences():
    family = "👨\u200d💻"
    assert normalize(f"職業は{family}です") == f"職業は{family}です"
    assert normalize("👍🏽\u200d💻") == "👍🏽\u200d💻"


@settings(max_examples=400, deadline=None)
@given(WITH_INVISIBLE)
def test_idempotent_with_invisible_characters(text):
    once = normalize(text)
    assert normalize(once) == once
    assert not any(unicodedata.category(c) == "Cf" and c != "\u200d" for c in once)


@settings(max_examples=200, deadline=None)
@given(WITH_INVISIBLE, WITH_INVISIBLE)
def test_normalize_offset_consistent_with_invisible_characters(before, after):
    raw = f"{before}甲府市{after}"
    norm = normalize(raw)
    at = normalize_offset(raw, len(before))
    assert 0 <= at <= len(norm)
    assert "甲府市" in norm[max(0, at - 2):]


def test_offset_skips_an_invisible_character_before_the_answer():
    raw = "山梨県の\u200b県庁所在地は\ufeff甲府\u200b市です。"
    start = raw.index("甲府")
    assert normalize(raw)[normalize_offset(raw, start):].startswith("甲府市")
