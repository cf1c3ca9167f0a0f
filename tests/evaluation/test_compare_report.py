"""jaqg.evaluation.compare_report: compare-mt's HTML report of two systems (MeCab words), and that it renders."""

from pathlib import Path

import pytest

from jaqg.evaluation.compare_report import CHROMIUM, screenshot, write_report

REFS = ["山梨県の県庁所在地はどこですか?", "富士山の高さは何メートルですか?", "日本一長い川は何ですか?"]
A = ["山梨県の県庁所在地はどこですか?", "富士山は何メートル?", "日本で一番長い川は?"]
B = ["山梨県の県庁はどこ?", "富士山の高さは何メートルですか?", "川は?"]
COMPARISON = {"mecab_bleu": {"a": 50.8, "b": 54.2, "difference": -3.4, "ci95": [-87.4, 66.9], "p_value": 0.31}}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return write_report(tmp_path_factory.mktemp("report") / "rep", REFS, A, B, names=("beam1", "beam4"),
                        comparison=COMPARISON)


def test_report_holds_compare_mts_analyses_of_mecab_words(report):
    page = report.read_text(encoding="utf-8")
    for section in ("Paired bootstrap (jaqg)", "Aggregate Scores", "Word Accuracies", "Sentence Buckets",
                    "Characteristic N-grams", "Sentence Examples", "beam1", "beam4", "mecab_bleu", "0.3100"):
        assert section in page, section
    assert "jaqg's scores, as in metrics.json" in page and "compare-mt's own BLEU" in page  # the two BLEUs labelled
    # compare-mt writes non-ASCII as character references; the words are MeCab's, space separated.
    words = " ".join("山梨 県 の 県庁".split())
    assert "".join(f"&#{ord(c)};" if c != " " else " " for c in words) in page
    assert (report.parent / "compare_mt.css").is_file() and list(report.parent.glob("*.png"))


def test_a_failed_report_leaves_nothing(tmp_path):
    with pytest.raises(Exception):
        write_report(tmp_path / "rep", REFS, A, B[:2])  # compare-mt needs as many outputs as references
    assert not (tmp_path / "rep").exists()


@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} missing: `make check-report` installs "
                    "Debian's chromium and runs this render check")
def test_report_renders_in_headless_chromium(report, tmp_path):
    import numpy as np
    from PIL import Image
    png = screenshot(report, tmp_path / "report.png", width=1000, height=1400)
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert pixels.shape == (1400, 1000, 3)
    ink = (pixels.sum(axis=2) < 600).mean()
    assert 0.01 < ink < 0.6, ink  # text, tables and charts drawn; not a blank or an all-dark page
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # chart colours, anti-aliased text: no error page


def test_pick_examples_takes_the_largest_differences_both_ways_then_a_seeded_sample():
    from jaqg.evaluation.compare_report import pick_examples
    a = [50, 90, 10, 70, 70, 20, 70]
    b = [50, 10, 80, 70, 60, 70, 70]  # A - B: 0, +80, -70, 0, +10, -50, 0
    assert pick_examples(a, b, k=2) == [1, 2]  # the largest each way
    assert pick_examples(a, b, k=4) == [1, 2, 4, 5]
    filled = pick_examples(a, b, k=6)
    assert len(filled) == 6 and {1, 2, 4, 5} <= set(filled) and filled == pick_examples(a, b, k=6)  # deterministic
    assert pick_examples(a, b, k=6, seed=1) != filled or pick_examples(a, b, k=6, seed=2) != filled
    assert pick_examples(a, b, k=20) == list(range(7))  # fewer examples than pairs: all of them


def test_example_pairs_show_input_reference_and_both_outputs_escaped(tmp_path):
    from jaqg.evaluation.compare_report import Examples
    refs = REFS + ["<b>太字</b>はタグか?"]
    a, b = A + ["<script>alert(1)</script>"], B + ["普通の質問か?"]
    examples = Examples(["i1", "i2", "i3", "i4"], [f"answer: 甲 context: 文{i} & <hl>" for i in range(4)],
                        [100.0, 40.0, 50.0, 0.0], [30.0, 100.0, 10.0, 60.0])
    page = write_report(tmp_path / "rep", refs, a, b, names=("sup", "rl"), examples=examples).read_text("utf-8")
    section = page[page.index("Example pairs"):]
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    ref = lambda text: text.encode("ascii", "xmlcharrefreplace").decode()  # noqa: E731  (compare-mt's page is ASCII)
    assert ref("&lt;b&gt;太字&lt;/b&gt;") in section and ref("文0 &amp; &lt;hl&gt;") in section
    assert section.count("<tr><td>") == 4  # every example (fewer than 20), in input order
    assert section.index(">i1<") < section.index(">i2<") < section.index(">i4<")
    assert "sup char_f1" in section and "rl char_f1" in section
