"""score.py end to end: files in, metrics.json + table + per-example TSV out; bad input -> one line, exit 2."""

import json

import pytest
import sacrebleu

DATA = [  # id, input, target
    ("q1", "answer: 甲府市 context: 山梨県の県庁所在地は甲府市です。", "山梨県の県庁所在地はどこですか?"),
    ("q2", "answer: 3776 context: 富士山の高さは3776メートルです。", "富士山の高さは何メートルですか?"),
    ("q3", "answer: 信濃川 context: 日本一長い川は信濃川です。", "日本一長い川は何ですか?"),
]
PREDICTIONS = {"q1": "山梨県の県庁所在地はどこですか?", "q2": "富士山は何メートル?", "q3": "日本で一番長い川は?"}


@pytest.fixture
def files(tmp_path):
    refs = tmp_path / "test.tsv"
    refs.write_text("".join(f"{i}\t{x}\t{t}\n" for i, x, t in DATA), encoding="utf-8")
    preds = tmp_path / "predictions.tsv"
    # Reversed order: ids, not positions, pair predictions with references.
    preds.write_text("".join(f"{i}\t{p}\n" for i, p in reversed(PREDICTIONS.items())), encoding="utf-8")
    return tmp_path, preds, refs


def test_score_writes_metrics_table_and_per_example(run, files):
    tmp, preds, refs = files
    out, per = tmp / "metrics.json", tmp / "scores.tsv"
    proc = run("score.py", "--predictions", preds, "--references", refs, "--output", out,
               "--per_example_output", per, "--tokenizers", "mecab", "char")
    assert proc.returncode == 0, proc.stderr
    m = json.loads(out.read_text(encoding="utf-8"))
    assert m["n"] == 3 and m["exact_match"] == pytest.approx(100 / 3)
    assert set(m["by_tokenizer"]) == {"mecab", "char"}
    ids = list(reversed(PREDICTIONS))
    expected = sacrebleu.corpus_bleu([PREDICTIONS[i] for i in ids], [[t for i in ids for d, _, t in DATA if d == i]],
                                     tokenize="ja-mecab").score
    assert m["by_tokenizer"]["mecab"]["bleu"] == pytest.approx(expected)
    assert "| mecab |" in proc.stdout and "| char |" in proc.stdout and "ROUGE-L" in proc.stdout
    rows = [line.split("\t") for line in per.read_text(encoding="utf-8").splitlines()]
    header, body = rows[0], {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert header[:3] == ["id", "exact_match", "char_f1"] and "mecab_rougeL" in header
    assert float(body["q1"]["exact_match"]) == 100.0 and float(body["q2"]["exact_match"]) == 0.0
    assert float(body["q1"]["mecab_bleu"]) == pytest.approx(100.0)


def test_allow_partial_scores_only_predicted_ids(run, files):
    tmp, _, refs = files
    preds = tmp / "two.tsv"
    preds.write_text("q1\t山梨県の県庁所在地はどこですか?\nq3\t日本一長い川は何ですか?\n", encoding="utf-8")
    out = tmp / "m.json"
    proc = run("score.py", "--predictions", preds, "--references", refs, "--output", out, "--tokenizers", "char")
    assert proc.returncode == 2 and "1 of 3 ids in" in proc.stderr and "'q2'" in proc.stderr
    proc = run("score.py", "--predictions", preds, "--references", refs, "--output", out, "--tokenizers", "char",
               "--allow_partial")
    assert proc.returncode == 0, proc.stderr
    m = json.loads(out.read_text(encoding="utf-8"))
    assert m["n"] == 2 and m["exact_match"] == 100.0 and "2 predicted of 3" in proc.stdout


def test_an_nbest_file_scores_each_ids_first_row(run, files):
    """predict.py --num_return_sequences N writes an id's rows together, best first (fewer if outputs repeat)."""
    tmp, preds, refs = files
    nbest = tmp / "nbest.tsv"
    rows = [("q1", "山梨県の県庁所在地はどこですか?"), ("q1", "甲府市はどこ?"), ("q2", "富士山は何メートル?"),
            ("q3", "日本で一番長い川は?"), ("q3", "日本一長い川は何ですか?"), ("q3", "川は?")]
    nbest.write_text("".join(f"{i}\t{p}\n" for i, p in rows), encoding="utf-8")
    for name, path in (("top1", preds), ("nbest", nbest)):
        proc = run("score.py", "--predictions", path, "--references", refs, "--output", tmp / f"{name}.json",
                   "--tokenizers", "char")
        assert proc.returncode == 0, proc.stderr
    assert "up to 3 rows per id" in proc.stdout
    assert json.loads((tmp / "nbest.json").read_text()) == json.loads((tmp / "top1.json").read_text())


def test_references_json_both_formats_give_best_of_several(run, files):
    tmp, preds, refs = files
    simple = tmp / "test_references.json"
    simple.write_text(json.dumps({"q1": ["x"], "q2": ["富士山の高さは?", "富士山は何メートル?"], "q3": "y"},
                                 ensure_ascii=False), encoding="utf-8")
    jsquad = tmp / "valid.json"
    jsquad.write_text(json.dumps({"version": "v1.3", "data": [{"title": "t", "paragraphs": [{
        "context": "c", "qas": [{"id": i, "question": "?", "is_impossible": False,
                                 "answers": [{"text": a, "answer_start": 0} for a in answers]}
                                for i, answers in [("q1", ["x"]), ("q2", ["富士山は何メートル?"]), ("q3", ["y"])]]}]}]},
        ensure_ascii=False), encoding="utf-8")
    for ref_json in (simple, jsquad):
        out = tmp / f"m_{ref_json.stem}.json"
        proc = run("score.py", "--predictions", preds, "--references_json", ref_json, "--output", out,
                   "--tokenizers", "char")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(out.read_text(encoding="utf-8"))["exact_match"] == pytest.approx(100 / 3)


def t5_model_dir(tmp_path, lines: list[str], vocab_size: int) -> str:
    """A hub-like T5 tokenizer dir (spiece.model with T5's ids + tokenizer_config.json) trained on ``lines``."""
    sentencepiece = pytest.importorskip("sentencepiece")
    corpus, model = tmp_path / "corpus.txt", tmp_path / "model"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    model.mkdir()
    sentencepiece.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(model / "spiece"),
                                             vocab_size=vocab_size, hard_vocab_limit=False, character_coverage=1.0,
                                             pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    (model / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
         "extra_ids": 0}), encoding="utf-8")
    return str(model)


def test_t5_pieces_from_a_local_tokenizer(tmp_path):
    """In-process (a subprocess would pay for importing transformers again): the model's own pieces."""
    import sentencepiece

    from jaqg.evaluation.metrics import compute_metrics
    from jaqg.tokenization.word import get_tokenizer
    model = t5_model_dir(tmp_path, [t for _, x, t in DATA for _ in range(20)] + [x for _, x, _ in DATA], 80)
    pieces = get_tokenizer("t5", model)(PREDICTIONS["q2"])
    own = sentencepiece.SentencePieceProcessor(model_file=f"{model}/spiece.model").encode(PREDICTIONS["q2"],
                                                                                          out_type=str)
    assert pieces == [q for p in own if (q := p.replace("\u2581", ""))]  # the pieces, word-start marker dropped
    assert 1 < len(pieces) <= len(PREDICTIONS["q2"])
    ids = list(PREDICTIONS)
    m = compute_metrics([PREDICTIONS[i] for i in ids], [[t] for _, _, t in DATA], tokenizers=("t5",),
                        tokenizer_name_or_path=model)
    assert 0 < m["by_tokenizer"]["t5"]["rouge1"] < 100


@pytest.mark.parametrize("content, extra, message", [
    ("", [], "empty"),
    ("q1\t山梨県の\tどこ\nq2\t富士山\nq3\t川\n", [], "may not hold a tab"),
    ("q1\ta\nq2\tb\nq4\tc\n", [], "1 of 3 ids"),
    ("q1\ta\nq2\tb\nq1\tc\nq3\td\n", [], "bad.tsv:3: id 'q1' again, apart from its earlier rows"),
    ("q1\ta\nq2\tb\nq3\tc\n", ["--tokenizers", "mecab", "juman"], "unknown tokenizer 'juman'"),
])
def test_bad_input_is_one_line_exit_2(run, files, content, extra, message):
    tmp, _, refs = files
    bad = tmp / "bad.tsv"
    bad.write_text(content, encoding="utf-8")
    out = tmp / "never.json"
    proc = run("score.py", "--predictions", bad, "--references", refs, "--output", out, *extra)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.mark.parametrize("text, message", [
    ('{"q1": [1]}', "expected JSQuAD format or {id: [answers]}"),
    ('{"q1": []}', "no usable reference"),
    ('{"data": [{"paragraphs": [{"qas": [{"id": "q1"}]}]}]}', "missing 'answers'"),
    ('{"q1": ["a"', ":1: malformed JSON"),
])
def test_bad_references_json_is_a_user_error(tmp_path, text, message):
    from jaqg.core.errors import UserError
    from jaqg.evaluation.metrics import read_reference_map
    path = tmp_path / "refs.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message.replace("{", r"\{").replace("[", r"\[")):
        read_reference_map(json_path=path)


def test_tsv_ids_must_be_in_the_references_json(tmp_path, files):
    from jaqg.core.errors import UserError
    from jaqg.evaluation.metrics import read_reference_map
    _, _, refs = files
    path = tmp_path / "refs.json"
    path.write_text('{"q1": ["a"], "q2": ["b", "c"], "zz": ["d"]}', encoding="utf-8")
    with pytest.raises(UserError, match=r"1 of 3 ids in .*test.tsv are not in .*refs.json \(e.g. 'q3'\)"):
        read_reference_map(refs, path)


# --- issue 11: JGLUE's metric, signatures, breakdowns, --compare, --report_dir, --qa_model, long inputs ---

def score_in_process(capsys, *argv):
    from conftest import run_main_in_process

    import score
    return run_main_in_process(capsys, score.main, "score.py", *argv)


def test_jglue_signatures_and_breakdowns(capsys, files):
    tmp, preds, refs = files
    out = tmp / "m.json"
    status, stdout, _ = score_in_process(capsys, "--predictions", preds, "--references", refs, "--output", out,
                                         "--tokenizers", "mecab", "sudachi_C")
    m = json.loads(out.read_text(encoding="utf-8"))
    assert status == 0 and m["jglue"] == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(m["char_f1"])}
    assert m["by_tokenizer"]["mecab"]["bleu_signature"] == \
        f"nrefs:1|case:mixed|eff:no|tok:ja-mecab-0.996-IPA|smooth:exp|version:{sacrebleu.__version__}"
    assert "|tok:sudachi-C-" in m["by_tokenizer"]["sudachi_C"]["bleu_signature"]
    assert m["by_tokenizer"]["mecab"]["rouge_signature"].startswith("compare-mt:0.2.10|tok:ja-mecab-0.996-IPA")
    # AQG rows: the reference question's type, the input's answer and context.
    assert {k: v["n"] for k, v in m["by_question_type"].items()} == {"何": 1, "どこ": 1, "いくつ": 1}
    assert m["by_question_type"]["どこ"]["exact_match"] == 100.0
    assert {k: v["n"] for k, v in m["by_answer_length"].items()} == {"1-3": 2, "4-6": 1}
    assert m["by_context_length"]["<100"]["n"] == 3
    assert "JGLUE JSQuAD EM = 33.33" in stdout and "| by_question_type |" in stdout and "tok:ja-mecab" in stdout


def test_jglue_scores_raw_gold_answers_of_prepared_qa_data(capsys, tmp_path):
    """Prepared QA data keeps the raw golds beside test.tsv; JGLUE's metric reads them (１２３ is not 123)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.tsv").write_text("a\tquestion: 高さは? context: 高さは123mだ。\t123m\n", encoding="utf-8")
    (data / "test_references_raw.json").write_text('{"a": ["１２３ｍ", "123M。"]}', encoding="utf-8")
    preds = tmp_path / "p.tsv"
    preds.write_text("a\t１２３ｍ\n", encoding="utf-8")
    out = tmp_path / "m.json"
    status, _, _ = score_in_process(capsys, "--predictions", preds, "--references", data / "test.tsv", "--output",
                                    out, "--tokenizers", "char")
    m = json.loads(out.read_text(encoding="utf-8"))
    assert status == 0 and m["exact_match"] == 100.0 and m["jglue"]["exact_match"] == 100.0
    assert m["jglue_references"].endswith("test_references_raw.json")
    assert m["by_question_type"] == {"other": pytest.approx(m["by_question_type"]["other"])}  # 高さは? has no type
    preds.write_text("a\t123m\n", encoding="utf-8")  # NFKC-equal to the first gold, JGLUE-equal to the second
    score_in_process(capsys, "--predictions", preds, "--references", data / "test.tsv", "--output", out,
                     "--tokenizers", "char")
    assert json.loads(out.read_text(encoding="utf-8"))["jglue"]["exact_match"] == 100.0
    (data / "test_references_raw.json").unlink()
    score_in_process(capsys, "--predictions", preds, "--references", data / "test.tsv", "--output", out,
                     "--tokenizers", "char")
    assert json.loads(out.read_text(encoding="utf-8"))["jglue_references"].startswith("the references (normalized")


def test_compare_writes_paired_bootstrap_and_markdown(capsys, files):
    tmp, preds, refs = files
    other = tmp / "b.tsv"
    other.write_text("q1\t山梨県の県庁はどこ?\nq2\t富士山の高さは何メートルですか?\nq3\t川は?\n", encoding="utf-8")
    out = tmp / "cmp.json"
    status, stdout, stderr = score_in_process(capsys, "--predictions", preds, "--compare", other, "--references",
                                              refs, "--output", out, "--tokenizers", "mecab", "--bootstrap_samples",
                                              "200")
    m = json.loads(out.read_text(encoding="utf-8"))
    # three examples: the table and stderr say the p-values are a rough sign, and the smallest p 200 samples give
    assert "over 3 examples, 200 samples" in stdout and "(smallest p: 0.0050)" in stdout
    assert "3 examples are too few for the bootstrap" in stdout and "too few" in stderr
    assert status == 0
    assert set(m["comparison"]) == {"exact_match", "char_f1", "jglue_exact_match", "jglue_f1", "mecab_bleu",
                                    "mecab_rouge1", "mecab_rouge2", "mecab_rougeL"}
    c = m["comparison"]["mecab_bleu"]
    assert c["a"] == pytest.approx(m["by_tokenizer"]["mecab"]["bleu"])
    b_bleu = sacrebleu.corpus_bleu(["山梨県の県庁はどこ?", "富士山の高さは何メートルですか?", "川は?"],
                                   [[t for _, _, t in DATA]], tokenize="ja-mecab").score
    assert c["b"] == pytest.approx(b_bleu) and c["difference"] == pytest.approx(c["a"] - c["b"])
    assert c["ci95"][0] <= c["ci95"][1] and 0 < c["p_value"] <= 1
    assert m["comparison_setup"]["samples"] == 200 and m["comparison_setup"]["n"] == 3
    assert "| mecab_bleu |" in stdout and "p-value" in stdout


@pytest.mark.parametrize("extra, message", [
    (["--compare", "OTHER_IDS"], "1 of 3 ids in"),
    (["--compare", "SAME", "--compare_metrics", "meteor"], "--compare_metrics: unknown metric 'meteor'"),
    (["--report_dir", "REPORT"], "need --compare"),
    (["--qa_model", "AQG_MODEL"], "trained for task 'aqg'"),
    (["--qa_model", "BERT"], "BertForQuestionAnswering cannot generate answers"),
])
def test_bad_comparison_and_qa_input_is_one_line_and_writes_nothing(capsys, files, models, extra, message):
    tmp, preds, refs = files
    (tmp / "other.tsv").write_text("q1\ta\nq2\tb\nq9\tc\n", encoding="utf-8")
    (tmp / "bert").mkdir(exist_ok=True)
    (tmp / "bert" / "config.json").write_text('{"model_type": "bert", "architectures": ["BertForQuestionAnswering"]}')
    paths = {"OTHER_IDS": tmp / "other.tsv", "SAME": preds, "REPORT": tmp / "rep", "AQG_MODEL": models["aqg"],
             "BERT": tmp / "bert"}
    out = tmp / "never.json"
    status, stdout, err = score_in_process(capsys, "--predictions", preds, "--references", refs, "--output", out,
                                           "--tokenizers", "char", *[paths.get(x, x) for x in extra])
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not (tmp / "rep").exists() and stdout == ""


def test_qa_model_scores_generated_and_reference_questions(capsys, models, tmp_path):
    from trained_models import FACT, OTHER_QUESTION
    context = FACT[1]
    data = tmp_path / "test.tsv"  # AQG rows: the input holds answer and context, the target is the question
    data.write_text(f"x1\tanswer: {FACT[0]} context: {context}\t{FACT[2]}\n"
                    f"x2\tanswer: 山梨県 context: {context}\t{OTHER_QUESTION}\n", encoding="utf-8")
    preds = tmp_path / "p.tsv"  # x1's generated question asks for the wrong thing (the QA model says 山梨県)
    preds.write_text(f"x1\t{OTHER_QUESTION}\nx2\t{OTHER_QUESTION}\n", encoding="utf-8")
    out = tmp_path / "m.json"
    status, stdout, _ = score_in_process(capsys, "--predictions", preds, "--references", data, "--output", out,
                                         "--tokenizers", "char", "--qa_model", models["qa"], "--device", "cpu")
    m = json.loads(out.read_text(encoding="utf-8"))
    assert status == 0
    assert m["qa_based"] == {"exact_match": 50.0, "char_f1": pytest.approx(m["qa_based"]["char_f1"]), "n": 2}
    assert m["qa_based"]["char_f1"] < 100 and m["qa_based_reference"] == {"exact_match": 100.0, "char_f1": 100.0,
                                                                           "n": 2}
    rows = [r.split("\t") for r in (tmp_path / "m_per_question.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0][:4] == ["id", "answer", "question", "qa_answer"]
    assert rows[1][:5] == ["x1", FACT[0], OTHER_QUESTION, "山梨県", "0.00"] and rows[1][7:9] == [FACT[0], "100.00"]
    assert "| reference (ceiling) | 100.00 |" in stdout


def test_compare_with_qa_model_tests_round_trip_and_hallucination(capsys, models, tmp_path):
    """--compare with --qa_model: the round trip (qa_char_f1, qa_exact_match) and the hallucinated share of both
    systems' questions get paired bootstrap p-values; the report shows the pairs side by side."""
    from trained_models import FACT, OTHER_QUESTION
    rows = [(f"answer: {FACT[0]} context: {FACT[1]}", FACT[2], FACT[2], OTHER_QUESTION),  # B asks the wrong thing
            (f"answer: 山梨県 context: {FACT[1]}", OTHER_QUESTION, OTHER_QUESTION, "東京の南にある村はどこか。"),
            (f"answer: {FACT[0]} context: {FACT[1]}", "山梨県北部の市の名は何か。", FACT[2], FACT[2])] * 2
    data, a, b = tmp_path / "test.tsv", tmp_path / "a.tsv", tmp_path / "b.tsv"  # compare-mt's report needs ~6 rows
    data.write_text("".join(f"x{i}\t{x}\t{r}\n" for i, (x, r, _, _) in enumerate(rows)), encoding="utf-8")
    a.write_text("".join(f"x{i}\t{q}\n" for i, (_, _, q, _) in enumerate(rows)), encoding="utf-8")
    b.write_text("".join(f"x{i}\t{q}\n" for i, (_, _, _, q) in enumerate(rows)), encoding="utf-8")
    out = tmp_path / "m.json"
    status, stdout, _ = score_in_process(capsys, "--predictions", a, "--compare", b, "--references", data,
                                         "--output", out, "--tokenizers", "char", "--qa_model", models["qa"],
                                         "--device", "cpu", "--bootstrap_samples", "100",
                                         "--report_dir", tmp_path / "rep")
    assert status == 0
    c = json.loads(out.read_text(encoding="utf-8"))["comparison"]
    assert c["qa_exact_match"]["a"] == 100.0 and c["qa_exact_match"]["b"] < 100.0
    assert c["qa_char_f1"]["difference"] > 0 and 0 < c["qa_char_f1"]["p_value"] <= 1
    assert c["hallucinated"]["a"] == 0.0 and c["hallucinated"]["b"] == pytest.approx(100 / 3)
    assert "| qa_char_f1 |" in stdout and "| hallucinated |" in stdout
    page = (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")
    ascii_page = lambda text: text.encode("ascii", "xmlcharrefreplace").decode()  # noqa: E731  (compare-mt's)
    assert "Example pairs" in page and ascii_page("東京の南にある村はどこか。") in page
    assert ascii_page(f"answer: {FACT[0]}") in page


def test_qa_model_needs_aqg_data(capsys, models, files, tmp_path):
    tmp, preds, _ = files
    qa_data = tmp_path / "qa.tsv"
    qa_data.write_text("q1\tquestion: どこ? context: 甲府\t甲府\nq2\tquestion: a context: b\tc\nq3\tquestion: a "
                       "context: b\tc\n", encoding="utf-8")
    status, _, err = score_in_process(capsys, "--predictions", preds, "--references", qa_data, "--output",
                                      tmp_path / "m.json", "--qa_model", models["qa"], "--tokenizers", "char")
    assert status == 2 and "must be AQG / AQG-HL data" in err


def test_prediction_over_sudachis_byte_limit_is_scored(capsys, files):
    """A degenerate generation of 49,182 bytes used to stop score.py with SudachiError: Input is too long."""
    tmp, _, refs = files
    preds = tmp / "long.tsv"
    preds.write_text("".join(f"{i}\t{'あ' * 16384}。東京は首都である。\n" for i, _, _ in DATA), encoding="utf-8")
    status, _, err = score_in_process(capsys, "--predictions", preds, "--references", refs, "--output",
                                      tmp / "m.json", "--tokenizers", "sudachi_A")
    assert status == 0, err


# --- after the tester's pass (notes/tester-10-11.md) ---

def test_empty_generation_is_scored_as_empty_text(capsys, tmp_path):
    """<empty> (an empty generation) is read back as "": every metric 0 for A and --compare's B (the literal
    placeholder got char F1 68.94 and JGLUE F1 78.03 against golds spelled like it)."""
    refs, empty, other = tmp_path / "test.tsv", tmp_path / "empty.tsv", tmp_path / "other.tsv"
    refs.write_text("e1\tquestion: 何? context: x\tempty\ne2\tquestion: 何? context: x\tType\n", encoding="utf-8")
    empty.write_text("e1\t<empty>\ne2\t<empty>\n", encoding="utf-8")
    other.write_text("e1\tempty\ne2\t<empty>\n", encoding="utf-8")
    out, per = tmp_path / "m.json", tmp_path / "per.tsv"
    status, _, err = score_in_process(capsys, "--predictions", empty, "--compare", other, "--references", refs,
                                      "--output", out, "--tokenizers", "char", "mecab",
                                      "--per_example_output", per, "--bootstrap_samples", "50")
    m = json.loads(out.read_text(encoding="utf-8"))
    assert status == 0, err
    assert m["exact_match"] == m["char_f1"] == 0.0 and m["jglue"] == {"exact_match": 0.0, "f1": 0.0}
    assert all(s[k] == 0.0 for s in m["by_tokenizer"].values() for k in ("bleu", "rouge1", "rougeL"))
    assert m["comparison"]["char_f1"]["a"] == 0.0 and m["comparison"]["char_f1"]["b"] == 50.0
    assert m["comparison"]["jglue_f1"]["b"] == 50.0
    rows = per.read_text(encoding="utf-8").splitlines()
    assert all(r.split("\t")[-2] == "<empty>" for r in rows[1:])  # written back as the placeholder


def test_t5_tokenizer_gives_wrong_answers_no_free_word(tmp_path):
    """A bare '▁' piece (SentencePiece's word start before a character it does not merge) is no word of its own:
    completely wrong one-word answers get BLEU and ROUGE 0 (they got ROUGE-1 36.67 from the shared '▁')."""
    from jaqg.evaluation.metrics import compute_metrics
    from jaqg.tokenization.word import get_tokenizer
    model = t5_model_dir(tmp_path, ["この猫は十二基の展示館にいる犬を見た。",
                                    "犬と猫が展示館の十二基の前で遊ぶ。"] * 20, 40)
    tokenize = get_tokenizer("t5", model)
    assert "\u2581" not in "".join(tokenize("猫") + tokenize("十二基"))
    assert "".join(tokenize("猫と犬")) == "猫と犬"
    m = compute_metrics(["猫", "犬"], [["十二基"], ["展示館"]], tokenizers=("t5",), tokenizer_name_or_path=model)
    assert m["by_tokenizer"]["t5"]["rouge1"] == 0.0 and m["by_tokenizer"]["t5"]["bleu"] == 0.0


def test_qa_model_answers_are_cleaned_before_scoring_and_writing(capsys, models, tmp_path, monkeypatch):
    """A QA model may answer with newlines and tabs (a byte-level causal LM does): the answer is one line (a
    causal model's cut at its first newline), scored and written; no traceback, metrics.json written."""
    from trained_models import FACT

    import jaqg.evaluation.roundtrip  # generates through the names it imported
    replies = iter([[["\n" + FACT[0] + "\n天気\tは"]], [[" 山梨\t県 "]]])
    monkeypatch.setattr(jaqg.evaluation.roundtrip, "generate", lambda *a, **k: next(replies))
    monkeypatch.setattr(jaqg.evaluation.roundtrip, "is_causal", lambda model: True)
    data = tmp_path / "test.tsv"
    data.write_text(f"x1\tanswer: {FACT[0]} context: {FACT[1]}\t{FACT[2]}\n", encoding="utf-8")
    preds = tmp_path / "p.tsv"
    preds.write_text(f"x1\t{FACT[2]}\n", encoding="utf-8")
    out = tmp_path / "m.json"
    status, _, err = score_in_process(capsys, "--predictions", preds, "--references", data, "--output", out,
                                      "--tokenizers", "char", "--qa_model", models["qa"], "--device", "cpu")
    assert status == 0, err
    m = json.loads(out.read_text(encoding="utf-8"))
    assert m["qa_based"]["exact_match"] == 100.0 and m["qa_based_reference"]["exact_match"] == 0.0
    row = (tmp_path / "m_per_question.tsv").read_text(encoding="utf-8").splitlines()[1].split("\t")
    assert row[3] == FACT[0] and row[7] == "山梨 県"


@pytest.mark.parametrize("qa_model", ["RUNS/missing_qa", "./missing_qa", "no_such_dir"])
def test_missing_local_qa_model_fails_at_once_naming_the_flag(capsys, files, qa_model, monkeypatch):
    """A local-looking --qa_model path that is not here: one line naming --qa_model, at once (no hub retries:
    HF would be asked for 'runs/missing_qa' as owner/name), nothing written."""
    import time
    tmp, preds, refs = files
    (tmp / "runs").mkdir()
    monkeypatch.chdir(tmp)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = tmp / "never.json"
    start = time.perf_counter()
    status, stdout, err = score_in_process(capsys, "--predictions", preds, "--references", refs, "--output", out,
                                           "--tokenizers", "char", "--qa_model", qa_model.replace("RUNS", "runs"))
    assert status == 2 and len(err.strip().splitlines()) == 1 and err.startswith("score.py: error: --qa_model ")
    assert "no such model dir" in err and not out.exists() and stdout == ""
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("case, message", [
    ("report_dir_is_a_file", "--report_dir"),
    ("jsquad_answers_for_questions", "JSQuAD answers, but"),
])
def test_wrong_paths_and_reference_kinds_are_one_line_and_write_nothing(capsys, files, case, message):
    """A --report_dir that is a file used to fail with a traceback after the bootstrap; JSQuAD's answers given as
    the references of question-generation data were silently scored against the generated questions."""
    tmp, preds, refs = files
    a_file = tmp / "a_file"
    a_file.write_text("keep me", encoding="utf-8")
    jsquad = tmp / "valid.json"
    jsquad.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "甲府市です。", "qas": [
        {"id": i, "question": "どこ?", "answers": [{"text": "甲府市", "answer_start": 0}]} for i in PREDICTIONS]}]}]},
        ensure_ascii=False), encoding="utf-8")
    extra = {"report_dir_is_a_file": ["--compare", preds, "--report_dir", a_file],
             "jsquad_answers_for_questions": ["--references_json", jsquad]}[case]
    out = tmp / "never.json"
    status, stdout, err = score_in_process(capsys, "--predictions", preds, "--references", refs, "--output", out,
                                           "--tokenizers", "char", *extra)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and a_file.read_text(encoding="utf-8") == "keep me"
