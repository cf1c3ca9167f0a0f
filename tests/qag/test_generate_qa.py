"""generate_qa.py and score_qag.py: passages that fit and lose no text, bad input, QA-aligned scores.
(That a trained multitask model yields good pairs is the learning test's job: tests/test_learning_qag.py.)"""

import json
import shutil

import pytest
from conftest import ROOT, run_main_in_process
from hypothesis import given, settings
from hypothesis import strategies as st
from trained_models import make_multitask

import generate_qa
import score_qag
from jaqg.data.formats import DEFAULT_TASK_PREFIXES, DEFAULT_TEMPLATES, HL_TOKEN
from jaqg.evaluation.qag_metrics import qa_aligned_f1, score_paragraphs
from jaqg.qag.pipeline import HL_SLACK, REASONS, Document, document_sentences, fit_passages, read_documents

JSQUAD_VALID = ROOT.parent / "shared" / "jsquad" / "valid-v1.3.json"
EXAMPLES_VALID = ROOT / "examples" / "jsquad" / "valid-v1.3.json"
DOC = ("青葉町は山形県の南部に位置する町である。人口は約8200人で、古くから和紙の産地として知られる。\n"
       "町の中心部を白川が流れ、下流で星野湖に注いでいる。「また来る。」と彼は言った!本当か?\n見出しだけの行\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="あいう。!」 ", min_size=1, max_size=30), max_size=12), st.integers(1, 40))
def test_passages_partition_the_sentences_and_fit(sentences, limit):
    fits = lambda text: len(text) <= limit  # noqa: E731
    passages, cut = fit_passages(sentences, fits)
    assert "".join("".join(p) for p in passages) == "".join(sentences)  # nothing lost, order kept
    assert all(fits("".join(p)) for p in passages)
    assert cut == sum(len(s) > limit for s in sentences)
    assert_every_sentence_in_a_passage(sentences, passages, cut)


def test_documents_keep_every_line_and_sentence(tmp_path):
    (tmp_path / "doc.txt").write_text(DOC, encoding="utf-8")
    (docs,) = read_documents(tmp_path / "doc.txt")
    assert docs.id == "doc" and docs.sentences[-1] == "見出しだけの行"  # a line break ends a sentence
    assert docs.sentences[3:5] == ["「また来る。」", "と彼は言った!"]
    assert docs.text == "".join(line for line in DOC.splitlines())
    (tmp_path / "d.jsonl").write_text('{"id": "x", "text": "一文。二文。"}\n\n{"id": 7, "text": "三"}\n', "utf-8")
    assert read_documents(tmp_path / "d.jsonl") == [Document("x", ["一文。", "二文。"]), Document("7", ["三"])]
    paragraphs = read_documents(EXAMPLES_VALID)
    assert paragraphs[0].id == "ex-valid00" and paragraphs[0].title == "風車の丘" and "[SEP]" not in paragraphs[0].text


@pytest.fixture(scope="module")
def multitask_dir(tiny_t5_dir, tmp_path_factory):
    """The session's random tiny T5 with the run_config train.py writes for a --task multi data dir."""
    return make_multitask(tiny_t5_dir, tmp_path_factory.mktemp("multi") / "model")


def _tokens(model_dir):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)
    return lambda text: len(tok(text)["input_ids"])


def assert_every_sentence_in_a_passage(sentences, passages, cut):
    """Each sentence is a piece of one passage, or (when cut) the next few pieces, in order."""
    pieces, i, n_cut = [piece for p in passages for piece in p], 0, 0
    for sentence in sentences:
        joined = pieces[i]
        i += 1
        while joined != sentence:
            assert sentence.startswith(joined) and i < len(pieces), sentence
            joined += pieces[i]
            i += 1
        n_cut += pieces[i - 1] != sentence
    assert i == len(pieces) and n_cut == cut


@pytest.mark.skipif(not JSQUAD_VALID.is_file(), reason="../shared/jsquad/valid-v1.3.json is not here")
def test_a_long_real_document_fits_in_passages_that_cover_every_sentence(multitask_dir):
    """Several real JSQuAD article bodies joined (> 10,000 characters), split for a 96-token model."""
    from transformers import AutoTokenizer

    from jaqg.data.jsquad import load_paragraphs
    from jaqg.qag.pipeline import TaskModel, worst_input_tokens
    text, paragraphs = "", iter(load_paragraphs(JSQUAD_VALID))
    while len(text) < 10_000:
        text += next(paragraphs).body + "\n"
    sentences = document_sentences(text)
    tokenizer = AutoTokenizer.from_pretrained(multitask_dir)
    models = {t: TaskModel(None, tokenizer, DEFAULT_TASK_PREFIXES[t] + DEFAULT_TEMPLATES[t], 12)
              for t in DEFAULT_TASK_PREFIXES}
    worst = worst_input_tokens(models["aqg_hl"], models["qa"], models["ae"])
    passages, cut = fit_passages(sentences, lambda text: worst(text) <= 96)
    assert_every_sentence_in_a_passage(sentences, passages, cut)
    assert cut > 0  # real sentences longer than 96 characters exist, and were cut rather than dropped
    n = models["qa"].input_length
    for p in ("".join(p) for p in passages):  # the worst inputs: whole passage highlighted, QA with 12 tokens
        assert n(DEFAULT_TASK_PREFIXES["ae"] + HL_TOKEN + p + HL_TOKEN) + HL_SLACK <= 96
        assert n(DEFAULT_TASK_PREFIXES["aqg_hl"] + HL_TOKEN + p + HL_TOKEN) + HL_SLACK <= 96
        assert n(f"{DEFAULT_TASK_PREFIXES['qa']}question:  context: {p}") + 12 <= 96


def test_generate_qa_writes_one_record_per_candidate(multitask_dir, tmp_path, capsys):
    docs = [{"id": "doc", "text": DOC}, {"id": "t", "title": "白川", "text": "白川は星野湖に注ぐ。長さは12kmである。"}]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")
    out = tmp_path / "qa.jsonl"
    code, _, err = run_main_in_process(capsys, generate_qa.main, "generate_qa.py", "--model_name_or_path",
                                       multitask_dir, "--input_file", tmp_path / "docs.jsonl", "--output_file", out,
                                       "--answers", "ner", "--threads", "1", "--passages_output",
                                       tmp_path / "passages.jsonl")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    summary = json.loads((tmp_path / "qa.summary.json").read_text(encoding="utf-8"))
    sentences = {d.id: d.sentences for d in read_documents(tmp_path / "docs.jsonl")}
    where = {(r["id"], r["answer"]): r["sentence"] for r in records}
    assert where["doc", "約8200人"] == 1 and where["doc", "星野湖"] == 2 and where["t", "12km"] == 1
    assert records and summary["candidates"] == len(records) and summary["documents"] == 2
    assert summary["sentences"] == 7 + 2 and summary["sentences_cut"] == 0
    assert summary["kept"] + sum(summary["dropped"].values()) == len(records)
    assert summary["inputs_over_limit"] == 0 and summary["max_input_tokens"] <= summary["max_input_length"] == 96
    assert {"約8200人", "白川", "星野湖", "12km"} <= {r["answer"] for r in records}
    for r in records:
        assert set(r) == {"id", "passage", "sentence", "answer", "question", "roundtrip_answer", "roundtrip_f1",
                          "hallucinated_words", "kept", "reason"}
        assert r["answer"] in r["passage"] and r["answer"] in sentences[r["id"]][r["sentence"]]
        assert r["kept"] == (r["reason"] is None) and r["reason"] in (None, *REASONS)
        if r["reason"] == "roundtrip mismatch":
            assert r["roundtrip_f1"] < 0.8
    titled = [r for r in records if r["id"] == "t"]
    assert titled and all(r["passage"].startswith("白川 [SEP] 白川は") for r in titled)  # JSQuAD's layout
    passages = [json.loads(line) for line in (tmp_path / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert "".join(p["passage"] for p in passages if p["id"] == "doc") == "".join(DOC.splitlines())
    assert {r["passage"] for r in records} <= {p["passage"] for p in passages}
    assert len(passages) == summary["passages"] and all(p["worst_input_tokens"] <= 96 for p in passages)


@pytest.mark.parametrize("content, flags, message", [
    ("", [], "no text in it"),
    ('{"id": 1, "text": "ある文。"}\n{"id": 2}\n', [], 'qa.jsonl:2: needs a non-empty string field "text" ("id" and '
                                                   '"title" are optional'),
    ("文。", ["--ae_model", "MISSING"], "--ae_model applies only"),
    ("文。", ["--qa_model", "runs_missing/model_qa"], "--qa_model runs_missing/model_qa: no such model dir"),
])
def test_bad_input_is_one_line_and_writes_nothing(multitask_dir, tmp_path, capsys, content, flags, message):
    source = tmp_path / ("qa.jsonl" if "{" in content else "doc.txt")
    source.write_text(content, encoding="utf-8")
    out = tmp_path / "out" / "qa.jsonl"
    code, _, err = run_main_in_process(capsys, generate_qa.main, "generate_qa.py", "--model_name_or_path",
                                       multitask_dir, "--input_file", source, "--output_file", out, "--answers",
                                       "ner", *flags)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.parent.exists()


def test_a_model_without_a_needed_task_is_refused(multitask_dir, tmp_path, capsys):
    aqg_hl = tmp_path / "aqg_hl"
    shutil.copytree(multitask_dir, aqg_hl)
    (aqg_hl / "run_config.json").write_text(json.dumps({"data": {"task": "aqg_hl", "template": None}}), "utf-8")
    (tmp_path / "doc.txt").write_text("文。", encoding="utf-8")
    for flags, message in ((["--answers", "ner"], "lacks question answering; pass a QA model with --qa_model"),
                           (["--qa_model", multitask_dir], "lacks answer extraction; pass an answer-extraction "
                                                           "model with --ae_model, or --answers ner")):
        code, _, err = run_main_in_process(capsys, generate_qa.main, "generate_qa.py", "--model_name_or_path",
                                           aqg_hl, "--input_file", tmp_path / "doc.txt", "--output_file",
                                           tmp_path / "qa.jsonl", *flags)
        assert code == 2 and message in err, err
        assert not (tmp_path / "qa.jsonl").exists()


def test_a_model_without_run_config_serves_one_task_unless_assumed_multitask(tiny_t5_dir, multitask_dir, tmp_path,
                                                                              capsys):
    """A hub or bare model dir says nothing of its tasks: it is not used for QG, QA and AE at once silently."""
    (tmp_path / "doc.txt").write_text("白川は星野湖に注ぐ。", encoding="utf-8")
    out = tmp_path / "qa.jsonl"
    base = ["generate_qa.py", "--model_name_or_path", tiny_t5_dir, "--input_file", tmp_path / "doc.txt",
            "--output_file", out, "--threads", "1"]
    for flags, fix in (([], "pass --qa_model and --ae_model (or --answers ner), or --assume_multitask"),
                       (["--answers", "ner"], "pass --qa_model, or --assume_multitask")):
        code, _, err = run_main_in_process(capsys, generate_qa.main, *base, *flags)
        assert code == 2 and "no run_config.json says which tasks" in err and fix in err, err
        assert len(err.strip().splitlines()) == 1 and not out.exists()
    # the missing part given: the bare model serves QG alone, with the default template, and says so
    code, _, err = run_main_in_process(capsys, generate_qa.main, *base, "--answers", "ner", "--qa_model",
                                       multitask_dir)
    assert code == 0 and "used for question generation (AQG-HL) with the default template" in err, err
    # opted in: the default task prefixes for every task (the worst input, QA's here, includes its prefix)
    code, _, err = run_main_in_process(capsys, generate_qa.main, *base, "--answers", "ner", "--assume_multitask",
                                       "--passages_output", tmp_path / "p.jsonl")
    assert code == 0, err
    (passage,) = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()]
    n = _tokens(tiny_t5_dir)
    assert passage["worst_input_tokens"] == n(f"{DEFAULT_TASK_PREFIXES['qa']}question:  context: "
                                              f"{passage['passage']}") + 64  # no run_config: 64 new tokens


def test_qa_aligned_f1_follows_lmqg():
    gold = [("甲府市は何県にあるか", "山梨県"), ("人口は何人か", "8000人")]
    assert qa_aligned_f1(gold, gold) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    half = qa_aligned_f1([gold[0], gold[0]], gold)  # duplicates removed; one of two gold pairs found
    assert half["precision"] == 1.0 and half["f1"] == pytest.approx(2 * half["recall"] / (1 + half["recall"]))
    assert 0.5 < half["recall"] < 0.75  # the other gold pair's best match is weak, not zero (shared 何, か)
    assert qa_aligned_f1([], gold)["f1"] == 0.0
    corpus, per = score_paragraphs({"p1": gold}, {"p1": [(q, [a]) for q, a in gold], "p2": [("何か", ["x"])]})
    assert corpus["qa_aligned_f1"] == pytest.approx(50.0) and corpus["answer_recall"] == pytest.approx(50.0)
    assert per["p2"]["n_generated"] == 0


def test_score_qag_on_jsquad_paragraphs(tmp_path, capsys):
    from jaqg.data.jsquad import load_paragraphs
    first, second = load_paragraphs(EXAMPLES_VALID)[:2]
    rows = [{"id": first.id, "question": q, "answer": answers[0], "kept": True} for q, answers in first.qas]
    rows += [{"id": second.id, "question": "何か。", "answer": "x", "kept": False}]
    preds = tmp_path / "qa.jsonl"
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "m.json"
    code, stdout, err = run_main_in_process(capsys, score_qag.main, "score_qag.py", "--predictions", preds,
                                            "--references_json", EXAMPLES_VALID, "--output", out, "--allow_partial")
    assert code == 0, err
    metrics = json.loads(out.read_text(encoding="utf-8"))
    assert metrics["n_paragraphs"] == 2 and metrics["n_generated"] == len(first.qas)
    assert metrics["by_paragraph"][first.id]["f1"] == 1.0 and metrics["by_paragraph"][second.id]["f1"] == 0.0
    assert metrics["qa_aligned_f1"] == pytest.approx(50.0) and "qa_aligned_f1: 50.00" in stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "nope", "question": "q", "answer": "a", "kept": true}\n', encoding="utf-8")
    code, _, err = run_main_in_process(capsys, score_qag.main, "score_qag.py", "--predictions", bad,
                                       "--references_json", EXAMPLES_VALID, "--output", tmp_path / "n.json")
    assert code == 2 and "name no paragraph" in err and not (tmp_path / "n.json").exists()


def test_generate_py_builds_the_question_generation_input_of_a_multitask_model():
    from jaqg.generation.inputs import question_input
    templates = {t: DEFAULT_TASK_PREFIXES[t] + DEFAULT_TEMPLATES[t] for t in DEFAULT_TASK_PREFIXES}
    info = {"task": "multi", "task_prefixes": DEFAULT_TASK_PREFIXES, "templates": templates}
    assert question_input("山梨県", "甲府市は山梨県にある。", info) == \
        "question generation: 甲府市は<hl>山梨県<hl>にある。"
    with pytest.raises(ValueError, match="trained for ae"):
        question_input("山梨県", "甲府市は山梨県にある。", {"task": "ae"})


def test_score_qag_with_bertscore_of_a_local_encoder(tmp_path, capsys, tiny_t5_dir):
    """lmqg's similarity (BERTScore F1) through the bert-score package, on a random tiny BERT: identical pairs
    score 1 whatever the weights, so a paragraph generated exactly scores 100."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from jaqg.data.jsquad import load_paragraphs
    encoder = tmp_path / "bert"
    tokenizer = AutoTokenizer.from_pretrained(tiny_t5_dir)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, pad_token_id=tokenizer.pad_token_id)).save_pretrained(encoder)
    tokenizer.save_pretrained(encoder)
    first, second = load_paragraphs(EXAMPLES_VALID)[:2]
    rows = [{"id": first.id, "question": q, "answer": answers[0], "kept": True} for q, answers in first.qas]
    rows += [{"id": second.id, "question": "何か。", "answer": "x", "kept": True}]
    preds = tmp_path / "qa.jsonl"
    preds.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    code, _, err = run_main_in_process(capsys, score_qag.main, "score_qag.py", "--predictions", preds,
                                       "--references_json", EXAMPLES_VALID, "--output", tmp_path / "m.json",
                                       "--allow_partial", "--bertscore_model", encoder)
    assert code == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert metrics["similarity"].startswith("bertscore:")
    assert metrics["by_paragraph"][first.id]["f1"] == pytest.approx(1.0, abs=1e-5)
    assert 0 < metrics["by_paragraph"][second.id]["f1"] < 1  # unlike char F1 (0 here), embeddings always overlap


def test_shards_merge_in_input_order():
    from jaqg.qag.pipeline import QagResult
    from jaqg.qag.sharding import merge_results, shard
    assert [list(shard(7, r, 3)) for r in range(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [list(shard(1, r, 2)) for r in range(2)] == [[0], []]
    part = lambda i, n: QagResult([{"id": f"d{i}"}] * n, {"documents": 1, "passages": n, "sentences": n,  # noqa
                                  "sentences_cut": 0, "inputs_over_limit": 0, "candidates": n, "kept": 1,
                                  "kept_hallucinated": 0, "max_input_tokens": 10 * i, "max_input_length": 96,
                                  "answers": "ner", "dropped": {"empty question": n - 1},
                                  "generation": {"inputs": n, "inputs_cut": i}},
                                  [{"id": f"d{i}", "index": k} for k in range(n)])
    merged = merge_results([part(1, 2), part(2, 3)])
    assert [r["id"] for r in merged.records] == ["d1"] * 2 + ["d2"] * 3
    assert [p["index"] for p in merged.passages] == [0, 1, 2, 3, 4]
    assert merged.summary["candidates"] == 5 and merged.summary["max_input_tokens"] == 20
    assert merged.summary["dropped"] == {"empty question": 3} and merged.summary["generation"] == {"inputs": 5,
                                                                                                   "inputs_cut": 3}


@pytest.mark.slow  # several training processes compared: ~15-30 s on 2 cores
def test_generate_qa_on_two_processes_equals_one(multitask_dir, tmp_path):
    """torchrun --nproc_per_node 2 (gloo on the CPU): each rank a shard of the documents, rank 0 writes the merged
    records and summary, identical to one process."""
    import os
    import subprocess
    import sys
    docs = tmp_path / "docs.jsonl"
    paragraphs = read_documents(EXAMPLES_VALID)[:5]
    docs.write_text("".join(json.dumps({"id": d.id, "text": d.text}, ensure_ascii=False) + "\n"
                            for d in paragraphs), encoding="utf-8")
    common = ["--model_name_or_path", str(multitask_dir), "--input_file", str(docs), "--answers", "ner",
              "--device", "cpu", "--hallucination_tokenizer", "mecab"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, str(ROOT / "generate_qa.py"), *common, "--output_file",
                          str(tmp_path / "one.jsonl")], capture_output=True, text=True, timeout=600, env=env)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29517", str(ROOT / "generate_qa.py"), *common, "--output_file",
                          str(tmp_path / "two.jsonl")], capture_output=True, text=True, timeout=600, env=env)
    assert two.returncode == 0, two.stderr
    for name in ("{}.jsonl", "{}.summary.json"):
        a = (tmp_path / name.format("one")).read_text(encoding="utf-8")
        b = (tmp_path / name.format("two")).read_text(encoding="utf-8")
        assert a == b and a.strip()
    assert json.loads((tmp_path / "two.summary.json").read_text())["documents"] == 5
