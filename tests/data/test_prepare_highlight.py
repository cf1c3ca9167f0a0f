import pytest

from jaqg.data.formats import DEFAULT_TEMPLATES, HL_TOKEN, check_template, format_gpt_line, format_input
from jaqg.data.highlight import choose_occurrence, highlight_answer

# Crafted paragraphs (our own prose): the answer in the title and twice in the body.
KOFU = ("甲府市 [SEP] 甲府市は山梨県の県庁所在地である。盆地の底にあり、夏は暑く冬は冷え込む。"
        "ぶどうの産地に近く、甲府市の駅前には毎年秋に大きな市が立つ。")


def the_highlighted(text: str) -> str:
    assert text.count(HL_TOKEN) == 2, text
    return text.split(HL_TOKEN)[1]


def test_one_occurrence_and_answer_text():
    out = highlight_answer(KOFU, "甲府市", "山梨県の県庁所在地はどこか。", answer_start=0)
    assert the_highlighted(out) == "甲府市"
    assert out.replace(HL_TOKEN, "") == KOFU


def test_body_preferred_over_title_and_related_sentence_wins():
    first_body = KOFU.index("甲府市は")
    second_body = KOFU.index("甲府市の駅前")
    assert choose_occurrence(KOFU, "甲府市", "山梨県の県庁所在地はどこか。", answer_start=0) == first_body
    assert choose_occurrence(KOFU, "甲府市", "秋に駅前で大きな市が立つのはどこか。", answer_start=0) == second_body


def test_annotated_is_plain_answer_start():
    assert choose_occurrence(KOFU, "甲府市", "秋に駅前で市が立つのは?", answer_start=0, strategy="annotated") == 0
    # A start shifted by normalization snaps to the nearest occurrence.
    assert choose_occurrence(KOFU, "甲府市", None, answer_start=9, strategy="annotated") == KOFU.index("甲府市は")


def test_title_only_answer_falls_back_to_answer_start():
    context = "桜川 [SEP] この川は北の山に発し、町の中央を流れる。"
    assert highlight_answer(context, "桜川", "町の中央を流れる川は?", answer_start=0).startswith("<hl>桜川<hl>")


def test_tie_keeps_annotated_occurrence_else_first():
    context = "丸山 [SEP] 丸山は低い。丸山は緑だ。"
    second = context.index("丸山は緑")
    assert choose_occurrence(context, "丸山", "何?", answer_start=second) == second
    assert choose_occurrence(context, "丸山", "何?") == context.index("丸山は低")


def test_no_separator_means_all_body():
    assert highlight_answer("山梨県の県庁所在地は甲府市です。", "甲府市") == "山梨県の県庁所在地は<hl>甲府市<hl>です。"


def test_missing_answer_raises():
    with pytest.raises(ValueError, match="does not occur"):
        highlight_answer(KOFU, "長野市", "?")
    with pytest.raises(ValueError, match="strategy"):
        highlight_answer(KOFU, "甲府市", strategy="all")


def test_format_input_defaults_and_template():
    assert format_input("qa", question="Q?", context="C") == "question: Q? context: C"
    assert format_input("aqg", answer="A", context="C") == "answer: A context: C"
    assert format_input("aqg_hl", context="x<hl>A<hl>y") == "x<hl>A<hl>y"
    assert format_input("aqg", answer="A", context="C", template="{answer} | {context}") == "A | C"
    assert format_input("qa", question="{context}", context="C") == "question: {context} context: C"
    assert format_gpt_line("x<hl>A<hl>", "Q?") == "x<hl>A<hl><sep>Q?</s>"
    assert set(DEFAULT_TEMPLATES) == {"qa", "aqg", "aqg_hl", "ae"}


@pytest.mark.parametrize("task, template, message", [
    ("qa", "{question} {answer} {context}", "target"),
    ("aqg", "{context}", "lacks"),
    ("aqg", "{answer} {ctx}", "unknown field"),
    ("aqg", "{answer {context}", "malformed"),
    ("summarize", "{context}", "unknown task"),
    ("aqg", "{answer}\t{context}", "tab or newline"),
])
def test_bad_templates(task, template, message):
    with pytest.raises(ValueError, match=message):
        check_template(task, template)


def test_answer_start_is_carried_through_normalization():
    from collections import Counter

    from jaqg.core.normalize import normalize
    from jaqg.data.prepare import Record, build_example

    # Full-width letters/digits and half-width katakana before the annotated (third) occurrence shrink or
    # grow the text in front of it; the annotated strategy must still land on the third one.
    raw = "ＡＢＣ町 [SEP] ＡＢＣ町はｶﾞｯｺｳの町。人口は１２３４５人で、ＡＢＣ町の駅はﾊﾟﾝ屋の隣にある。"
    raw_start = [i for i in range(len(raw)) if raw.startswith("ＡＢＣ町", i)][2]
    record = Record("q1", "駅はどこ?", ["ABC町"], normalize(raw), "g", raw, raw_start)
    assert record.context[record.answer_start("[SEP]"):].startswith("ABC町の駅")
    stats = Counter()
    example = build_example(record, "aqg_hl", "{context}", "annotated", "[SEP]", stats)
    assert "12345人で、<hl>ABC町<hl>の駅はパン屋" in example.input
    assert stats == {"in body": 1, "not the first occurrence": 1}
