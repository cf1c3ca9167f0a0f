"""Hallucination check: the seed's four examples, content words, the verbatim rule, and the CLI."""

import json

import pytest

from jaqg.evaluation.hallucination import check_hallucination, find_hallucinations, source_text, template_markers
from jaqg.tokenization.word import ginza_tokenizer_only

SEED = [  # (candidate, reference, expected), from seed.md
    ("今日はわるい天気だ", "今日はわるい天気だ", set()),
    ("今日は天気だ", "今日はわるい天気だ", set()),
    ("今日はわるい天気だ", "今日は天気だ", {"わるい"}),
    ("今日はわるい天気だ", "今日はよい天気だ", {"わるい"}),
]


@pytest.mark.parametrize("tokenizer", ["ginza", "mecab", "sudachi"])
@pytest.mark.parametrize("all_words", [False, True])
def test_seed_examples(tokenizer, all_words):
    for candidate, reference, expected in SEED:
        assert check_hallucination(candidate, reference, tokenizer=tokenizer, all_words=all_words) == expected


@pytest.mark.parametrize("tokenizer", ["ginza", "mecab", "sudachi"])
def test_content_words_only_by_default(tokenizer):
    candidate, source = "東京で3冊の本を静かに読んでいたのは誰ですか?", "大阪の図書館"
    content = check_hallucination(candidate, source, tokenizer=tokenizer)
    assert {"東京", "3", "本", "静か"} <= content
    assert not content & {"で", "の", "を", "は", "か", "?", "誰", "です"}  # particles, auxiliaries, symbols, pronouns
    every = check_hallucination(candidate, source, tokenizer=tokenizer, all_words=True)
    assert content < every and {"で", "を", "?"} <= every


@pytest.mark.parametrize("tokenizer", ["ginza", "mecab", "sudachi"])
def test_question_words_are_not_content(tokenizer):
    source = "青葉村の風車は1921年に建てられた。"
    for q in ["青葉村の風車は何年に建てられたか?", "いくつ建てられたか", "風車はなぜ建てられたか",
              "誰がどこで建てたか"]:
        assert check_hallucination(q, source, tokenizer=tokenizer) == set(), q
    assert {"何", "誰"} <= check_hallucination("何を誰が建てたか", source, tokenizer=tokenizer, all_words=True)
    assert check_hallucination("何人が建てたか", source, tokenizer=tokenizer) <= {"人"}  # mecab: 何 / 人
    assert "いつも" in check_hallucination("風車はいつも回る", source, tokenizer=tokenizer)


def test_verbatim_substring_is_never_a_hallucination():
    source = "東京都庁舎は新宿にある。"
    # GiNZA segments the source so that 東京都 is not one of its words, yet it occurs verbatim.
    assert "東京都" not in [t.text for t in ginza_tokenizer_only()(source)]
    assert check_hallucination("東京都はどこにある?", source) == set()
    # A paraphrase or spelling variant is a hallucination (the seed's definition).
    assert check_hallucination("悪い天気だ", "わるい天気だ") == {"悪い"}
    # Normalization (NFKC) applies to both sides: full-width digits are the same number.
    assert check_hallucination("１９５６年に建った", "1956年に建った") == set()


def test_stop_words_and_batch_order():
    found = find_hallucinations(["赤い花と青い空", "白い雲"], ["花", "空"], stop_words=["青い"])
    assert found == [["赤い", "空"], ["白い", "雲"]]  # 空 is not in the source 花; 青い is a stop word


@pytest.mark.parametrize("tokenizer", ["ginza", "mecab", "sudachi"])
def test_light_verbs_are_not_content_words(tokenizer):
    """する, なる, いる (Sudachi's 非自立可能) say nothing the source could lack; the verb beside them does."""
    source = "創業者は東京で会社を作った。"
    assert check_hallucination("創業者は何をしたか?", source, tokenizer=tokenizer) == set()
    assert check_hallucination("創業者は誰になったか?", source, tokenizer=tokenizer) == set()
    assert check_hallucination("創業者は東京で何を売っているか?", source, tokenizer=tokenizer) == {"売っ"}


@pytest.mark.parametrize("tokenizer", ["ginza", "mecab", "sudachi"])
@pytest.mark.parametrize("candidate, source, expected", [
    # Main verbs Sudachi tags 非自立可能 are content words when nothing auxiliary precedes them ...
    ("彼は京都へ行った。", "彼は東京に住んでいる。", ["京都", "行っ"]),
    ("映画を見て、手紙を出した。", "本を読んだ。", ["映画", "見", "手紙", "出し"]),
    ("傘を忘れた", "本を読んだ。", ["傘", "忘れ"]),
    ("友達が家に来た。", "友達が家にいた。", ["来"]),
    # ... and function words in their auxiliary uses (after a verb, or after て/で) or from the closed list.
    ("雨が降り始めた。", "雨が降りそうだ。", []),
    ("本を読んでいる。", "本を読んだ。", []),
    ("宿題をしてしまう。", "宿題が多い。", []),
    ("荷物を持って来た。", "荷物を持った。", []),
    ("その仕事をすることになった。", "その仕事", []),
])
def test_non_independent_verbs_are_decided_from_context(tokenizer, candidate, source, expected):
    assert find_hallucinations([candidate], [source], tokenizer=tokenizer) == [expected]


@pytest.mark.parametrize("tokenizer", ["ginza", "mecab", "sudachi"])
@pytest.mark.parametrize("candidate, source, expected", [
    # The tester's cases: another inflection of a source verb (or adjective) is no hallucination ...
    ("彼はどこへ行ったか。", "彼は毎年京都へ行く。", []),
    ("何を読んだか。", "彼は本を読む。", []),
    ("何を読むか。", "彼は本を読んだ。", []),
    ("手紙を出してもらう", "手紙を出す", []),
    ("彼は何を見たか。", "彼は映画を見る。", []),
    ("何が寒かったか。", "その冬はとても寒い。", []),
    # ... while a verb whose lemma is no source word's still is.
    ("彼はどこへ行ったか。", "彼は毎年京都に住む。", ["行っ"]),
])
def test_verbs_and_adjectives_match_source_words_by_lemma(tokenizer, candidate, source, expected):
    assert find_hallucinations([candidate], [source], tokenizer=tokenizer) == [expected]
    # Batched with a candidate that needs no source analysis, in order.
    assert find_hallucinations(["京都", candidate], ["京都", source], tokenizer=tokenizer) == [[], expected]


@pytest.mark.parametrize("candidate, source, expected", [
    ("宿題をした", "本を読んだ", ["宿題"]),
    ("東京になった", "東京", []),
    ("そうしたものがある", "東京", []),
    ("宿題をしてしまう。", "宿題をする。", []),
])
def test_mecab_applies_the_light_word_list(candidate, source, expected):
    """The closed list (する, なる, ある...) holds for MeCab too (it reported し, なっ, ある)."""
    assert find_hallucinations([candidate], [source], tokenizer="mecab") == [expected]


def test_mecab_does_not_count_suffixes():
    """ipadic's 接尾 (the passive れ of された, the 者 of 創業者) is bound to a word checked on its own: on the demo's
    synthetic data the passive れ alone flagged 80 of 300 reference questions."""
    source = "青葉書房は1901年に森田花子が上川町で創業した出版社である。"
    assert find_hallucinations(["青葉書房が創業されたのは何年か。", "青葉書房の創業者は誰か。",
                                "青葉書房が移転させられた町はどこか。"], [source] * 3, tokenizer="mecab") == [
        [], [], ["移転"]]


@pytest.mark.parametrize("tokenizer", ["ginza", "mecab", "sudachi"])
def test_input_over_sudachis_byte_limit_is_analysed_in_pieces(tokenizer):
    """A degenerate generation over 49,149 UTF-8 bytes (Sudachi refuses it in one call) is checked whole."""
    long = "あ" * 16384 + "。東京は首都である。"
    assert len(long.encode("utf-8")) > 49149
    found = find_hallucinations([long, "京都は古都である。"], ["東京", "古都"], tokenizer=tokenizer)
    assert found[0][-1] == "首都" and "東京" not in found[0] and found[1] == ["京都"]


def test_source_text_drops_template_markers():
    markers = template_markers()
    assert {"question:", "context:", "answer:", "<hl>", "[SEP]"} <= set(markers)
    src = source_text("answer: 甲府市 context: 山梨 [SEP] 県庁所在地は<hl>甲府市<hl>です", markers)
    assert src == "甲府市 山梨 県庁所在地は 甲府市 です"
    assert check_hallucination("contextの甲府市", src) == {"context"}
    assert {"問い:", "文脈:"} <= set(template_markers("問い: {question} 文脈: {context}")) - set(markers)


@pytest.fixture
def data(tmp_path):
    sources = tmp_path / "test.tsv"
    sources.write_text("a1\tanswer: 甲府市 context: 山梨県の県庁所在地は甲府市です。\t山梨県の県庁所在地は?\n"
                       "a2\tanswer: 信濃川 context: 日本で一番長い川は信濃川である。\t日本一長い川は?\n"
                       "a3\tanswer: 富士山 context: 静岡県と山梨県にまたがる山は富士山だ。\t二つの県にまたがる山は?\n",
                       encoding="utf-8")
    preds = tmp_path / "predictions.tsv"
    preds.write_text("a1\t山梨県の県庁所在地はどこですか?\na2\t世界で一番長い川は何ですか?\n"
                     "a3\t静岡県にある有名な山は?\n", encoding="utf-8")
    return tmp_path, preds, sources


def run_report(run, preds, sources, out, *extra):
    """hallucination.py as a user runs it: (the process, the report it wrote)."""
    proc = run("hallucination.py", "--predictions", preds, "--sources", sources, "--output", out, *extra)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text(encoding="utf-8"))


def test_cli_report_and_per_example(run, data):
    tmp, preds, sources = data
    stop = tmp / "stop.txt"
    stop.write_text("有名\n", encoding="utf-8")
    out = tmp / "report.json"
    proc, report = run_report(run, preds, sources, out)
    assert report["n"] == 3 and report["hallucination_rate"] == pytest.approx(2 / 3)
    assert report["mean_hallucinated_words"] == pytest.approx((0 + 1 + 1) / 3)
    # GiNZA (Sudachi's POS) counts ある as a light verb; ipadic (mecab, below) as a content verb.
    assert dict(map(tuple, report["top_words"])) == {"世界": 1, "有名": 1}
    rows = [r.split("\t") for r in out.with_suffix(".tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["id", "n_hallucinated", "words", "prediction"] and rows[1][:3] == ["a1", "0", ""]
    assert "世界" in rows[2][2].split() and "| hallucination rate |" in proc.stdout
    _, report = run_report(run, preds, sources, out, "--stop_words", stop, "--tokenizer", "mecab",
                           "--per_example_output", tmp / "words.tsv")
    assert dict(map(tuple, report["top_words"])) == {"世界": 1} and report["tokenizer"] == "mecab"
    assert (tmp / "words.tsv").is_file()


@pytest.mark.parametrize("content, extra, message", [
    ("", [], "empty"),
    ("a1\tx\na9\tz\n", [], "1 of 2 ids in"),
    ("a1\tx\na2\ty\na3\tz\n", ["--tokenizer", "juman"], "unknown tokenizer 'juman'"),
    ("a1\tx\na2\ty\na3\tz\n", ["--stop_words", "/nonexistent/stop.txt"], "no such file"),
])
def test_cli_bad_input_one_line_exit_2(run, data, content, extra, message):
    tmp, _, sources = data
    bad = tmp / "bad.tsv"
    bad.write_text(content, encoding="utf-8")
    out = tmp / "never.json"
    proc = run("hallucination.py", "--predictions", bad, "--sources", sources, "--output", out, *extra)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()


def test_markers_follow_the_data_dirs_template(tmp_path):
    from jaqg.cli import hallucination  # the command: reads prepare_report.json beside the sources
    (tmp_path / "prepare_report.json").write_text(json.dumps(
        {"task": "qa", "template": "問い: {question} 文脈: {context}", "sep": "[SEP]"}, ensure_ascii=False),
        encoding="utf-8")
    markers = hallucination.markers_for(str(tmp_path / "test.tsv"))
    assert {"問い:", "文脈:", "<hl>", "[SEP]"} <= set(markers) and "question:" not in markers
    assert "question:" in hallucination.markers_for(str(tmp_path / "elsewhere" / "test.tsv"))


def test_default_path_checks_over_100_examples_per_second():
    import time
    ginza_tokenizer_only()  # loading is paid once per process, not per example
    candidates = [f"第{i}回の祭りで有名な風車を建てたのは誰ですか?" for i in range(500)]
    sources = [f"青葉村では第{i}回の祭りが開かれた。村の風車は古い。" * 4 for i in range(500)]
    start = time.perf_counter()
    found = find_hallucinations(candidates, sources)
    rate = len(candidates) / (time.perf_counter() - start)
    assert found[0] == ["有名", "建て"] and rate >= 100, rate  # bench/hallucination_speed.py: thousands/s here


def test_empty_generation_has_no_hallucinated_words(run, data):
    tmp, _, sources = data
    preds = tmp / "empty_preds.tsv"
    preds.write_text("a1\t<empty>\na2\t世界で一番長い川は何ですか?\n", encoding="utf-8")
    _, report = run_report(run, preds, sources, tmp / "report_empty.json")
    assert report["n"] == 2 and report["hallucination_rate"] == pytest.approx(1 / 2)
    assert "empty" not in dict(map(tuple, report["top_words"]))
