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


def test_t5_pieces_from_a_local_tokenizer(tmp_path):
    """In-process (a subprocess would pay for importing transformers again): the model's own pieces."""
    sentencepiece = pytest.importorskip("sentencepiece")
    from transformers import AutoTokenizer, T5Tokenizer

    from jaqg.metrics import compute_metrics
    from jaqg.word_tokenizers import get_tokenizer
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(t for _, x, t in DATA for _ in range(20)) + "\n" +
                      "\n".join(x for _, x, _ in DATA), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "sp"), vocab_size=80,
                                             hard_vocab_limit=False, character_coverage=1.0, minloglevel=2)
    T5Tokenizer(vocab_file=str(tmp_path / "sp.model"), extra_ids=0).save_pretrained(tmp_path / "model")
    pieces = get_tokenizer("t5", str(tmp_path / "model"))(PREDICTIONS["q1"])
    assert pieces == AutoTokenizer.from_pretrained(tmp_path / "model").tokenize(PREDICTIONS["q1"])
    assert 1 < len(pieces) < len(PREDICTIONS["q1"])
    ids = list(PREDICTIONS)
    m = compute_metrics([PREDICTIONS[i] for i in ids], [[t] for _, _, t in DATA], tokenizers=("t5",),
                        tokenizer_name_or_path=str(tmp_path / "model"))
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
    from jaqg.errors import UserError
    from jaqg.metrics import read_reference_map
    path = tmp_path / "refs.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message.replace("{", r"\{").replace("[", r"\[")):
        read_reference_map(json_path=path)


def test_tsv_ids_must_be_in_the_references_json(tmp_path, files):
    from jaqg.errors import UserError
    from jaqg.metrics import read_reference_map
    _, _, refs = files
    path = tmp_path / "refs.json"
    path.write_text('{"q1": ["a"], "q2": ["b", "c"], "zz": ["d"]}', encoding="utf-8")
    with pytest.raises(UserError, match=r"1 of 3 ids in .*test.tsv are not in .*refs.json \(e.g. 'q3'\)"):
        read_reference_map(refs, path)
