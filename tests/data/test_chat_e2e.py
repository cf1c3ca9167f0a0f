"""Chat data (--format chat) for every task, end-to-end QAG data (--task e2e) and its parser, on the samples."""

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_main_in_process

from jaqg.core.io import read_examples
from jaqg.core.normalize import normalize
from jaqg.data.e2e import format_e2e_target, parse_e2e_pairs
from jaqg.data.formats import DEFAULT_INSTRUCTIONS, DEFAULT_SYSTEM_PROMPT, HL_TOKEN
from jaqg.data.prepare import default_output_dir

JSQUAD = ROOT / "examples" / "jsquad"
SPLITS = ("train", "dev", "test")


def run_prepare(capsys, out: Path, *args, script="prepare_jsquad_aqg", source=JSQUAD) -> tuple[int, str]:
    import prepare_jsquad
    import prepare_jsquad_aqg
    main = {"prepare_jsquad": prepare_jsquad.main, "prepare_jsquad_aqg": prepare_jsquad_aqg.main}[script]
    status, _, err = run_main_in_process(capsys, main, f"{script}.py", f"--jsquad_dir={source}",
                                         f"--output_dir={out}", *args)
    return status, err


def read_chat(out: Path) -> dict[str, list[dict]]:
    return {s: [json.loads(line) for line in (out / f"{s}.jsonl").read_text(encoding="utf-8").splitlines()]
            for s in SPLITS}


def report(out: Path) -> dict:
    return json.loads((out / "prepare_report.json").read_text(encoding="utf-8"))


def paragraphs(path: Path) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """first question id -> (raw context, [(raw question, raw first answer)]) of a JSQuAD file."""
    out = {}
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for p in article["paragraphs"]:
            out[p["qas"][0]["id"]] = (p["context"], [(q["question"], q["answers"][0]["text"]) for q in p["qas"]])
    return out


CASES = {  # name: (script, flags, task)
    "qa": ("prepare_jsquad", [], "qa"),
    "aqg": ("prepare_jsquad_aqg", [], "aqg"),
    "aqg_hl": ("prepare_jsquad_aqg", ["--highlight"], "aqg_hl"),
    "ae": ("prepare_jsquad_aqg", ["--task=ae"], "ae"),
    "multi": ("prepare_jsquad_aqg", ["--task=multi"], "multi"),
    "e2e": ("prepare_jsquad_aqg", ["--task=e2e"], "e2e"),
}


@pytest.mark.parametrize("case", CASES)
def test_chat_data_of_every_task_is_the_tsv_data_in_conversations(capsys, tmp_path, case):
    """Same ids, counts and targets as the TSV data (e2e: the same pairs); the user turn is the task's Japanese
    instruction holding the TSV input's context (highlighted where the task highlights); system turn the default."""
    script, flags, task = CASES[case]
    assert run_prepare(capsys, tmp_path / "tsv", *flags, script=script)[0] == 0
    status, err = run_prepare(capsys, tmp_path / "chat", *flags, "--format=chat", script=script)
    assert status == 0, err
    chat, tsv, rep = read_chat(tmp_path / "chat"), {}, report(tmp_path / "chat")
    assert rep["format"] == "chat" and rep["system_prompt"] == DEFAULT_SYSTEM_PROMPT
    if task == "multi":
        assert rep["instructions"] == {t: DEFAULT_INSTRUCTIONS[t] for t in ("qa", "aqg_hl", "ae")}
    else:
        assert rep["instruction_template"] == rep["template"] == DEFAULT_INSTRUCTIONS[task]
    for split in SPLITS:
        tsv = {e.id: e for e in read_examples(tmp_path / "tsv" / f"{split}.tsv")}
        assert [r["id"] for r in chat[split]] == list(tsv) and rep["counts"][split] == len(tsv)
        for record in chat[split]:
            assert set(record) == {"id", "messages"}
            roles = [m["role"] for m in record["messages"]]
            assert roles == ["system", "user", "assistant"] and all(m["content"] for m in record["messages"])
            _, user, assistant = (m["content"] for m in record["messages"])
            example = tsv[record["id"]]
            if task == "e2e":
                assert [(p["question"], p["answer"]) for p in json.loads(assistant)] == \
                    parse_e2e_pairs(example.target)[0]
            else:
                assert assistant == example.target
            this_task = record["id"].rsplit(":", 1)[1] if task == "multi" else task
            assert user.startswith(DEFAULT_INSTRUCTIONS[this_task].split("{")[0])
            context = user.rsplit("文章: ", 1)[1].split("\n\n")[0]
            assert context in example.input and normalize(context) == context
            assert (HL_TOKEN in context) == (this_task in ("aqg_hl", "ae"))
    if task == "qa":  # the references stay beside the QA test set
        refs = json.loads((tmp_path / "chat" / "test_references.json").read_text(encoding="utf-8"))
        assert set(refs) == {r["id"] for r in chat["test"]}


def test_chat_wording_flags_and_defaults(capsys, tmp_path):
    out = tmp_path / "custom"
    status, err = run_prepare(capsys, out, "--format=chat", "--system_prompt=", "--instruction_template",
                              "文脈: {context}\n質問: {question}\n答えだけを書いて。", script="prepare_jsquad")
    assert status == 0, err
    first = read_chat(out)["test"][0]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]  # empty system prompt: no system turn
    assert first["messages"][0]["content"].startswith("文脈: ") and "\n質問: " in first["messages"][0]["content"]
    assert report(out)["system_prompt"] is None
    assert report(out)["instruction_template"] == "文脈: {context}\n質問: {question}\n答えだけを書いて。"
    assert default_output_dir("data", "qa", "chat") == "data_chat"
    assert default_output_dir("data_jsquad_aqg", "aqg_hl", "chat") == "data_jsquad_aqg_hl_chat"
    assert default_output_dir("data_jsquad_aqg", "e2e", "tsv") == "data_jsquad_aqg_e2e"


@pytest.mark.parametrize("flags, says", [
    (["--format=chat", "--instruction_template={question} {answer} {context}"], "--instruction_template"),
    (["--format=chat", "--instruction_template=答えて: {question}"], "lacks"),
    (["--format=chat", "--template={question} {context}"], "--instruction_template"),
    (["--instruction_template={question} {context}"], "does not apply to --format tsv"),
    (["--system_prompt=あなたは先生です"], "--format chat only"),
])
def test_bad_chat_flags_are_one_line_and_write_nothing(capsys, tmp_path, flags, says):
    status, err = run_prepare(capsys, tmp_path / "x", *flags, script="prepare_jsquad")
    assert status == 2 and err.count("\n") == 1 and says in err and not (tmp_path / "x").exists(), err


def test_e2e_targets_hold_every_pair_of_the_paragraph(capsys, tmp_path):
    assert run_prepare(capsys, tmp_path / "e2e", "--task=e2e")[0] == 0
    source = {**paragraphs(JSQUAD / "train-v1.3.json"), **paragraphs(JSQUAD / "valid-v1.3.json")}
    rep, seen = report(tmp_path / "e2e"), 0
    for split in SPLITS:
        for e in read_examples(tmp_path / "e2e" / f"{split}.tsv"):
            context, pairs = source[e.id + "q0"]
            assert e.input == "generate question and answer: " + normalize(context)
            assert e.target == " | ".join(f"question: {normalize(q)}, answer: {normalize(a)}" for q, a in pairs)
            assert parse_e2e_pairs(e.target) == ([(normalize(q), normalize(a)) for q, a in pairs], [])
            seen += len(pairs)
        assert rep["pairs"][split]["pairs written"] == sum(
            len(parse_e2e_pairs(e.target)[0]) for e in read_examples(tmp_path / "e2e" / f"{split}.tsv"))
    assert seen == sum(r["pairs written"] for r in rep["pairs"].values())
    # chat: a JSON list written as UTF-8 text (no \\u escapes)
    assert run_prepare(capsys, tmp_path / "chat", "--task=e2e", "--format=chat")[0] == 0
    text = (tmp_path / "chat" / "test.jsonl").read_text(encoding="utf-8")
    assert "\\u" not in text and '\\"question\\": \\"' in text


def test_e2e_drops_pairs_that_would_not_parse_back_and_counts_them(capsys, tmp_path):
    context = "甲府市 [SEP] 甲府市は山梨県の県庁所在地である。人口はおよそ18万人だ。記号A|Bもある。"
    qas = [("甲府市はどこの県庁所在地か。", "山梨県"), ("甲府市の人口は?", "およそ18万人"), ("記号は何か。", "A|B"),
           ("富士山の高さは?", "3776m"), ("甲府市はどこの県庁所在地か。", "山梨県")]
    data = {"data": [{"title": "甲府市", "paragraphs": [{"context": context, "qas": [
        {"id": f"k{i}", "question": q, "answers": [{"text": a, "answer_start": context.find(a)}],
         "is_impossible": False} for i, (q, a) in enumerate(qas)]}]},
        {"title": "別", "paragraphs": [{"context": "別 [SEP] 別の段落である。", "qas": [
            {"id": "o0", "question": "何の段落か。", "answers": [{"text": "別の段落", "answer_start": 4}],
             "is_impossible": False}]}]}]}
    src = tmp_path / "src"
    src.mkdir()
    for name in ("train-v1.3.json", "valid-v1.3.json"):
        (src / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    status, err = run_prepare(capsys, tmp_path / "e2e", "--task=e2e", "--dev_ratio=0.5", source=src)
    assert status == 0, err
    pairs = report(tmp_path / "e2e")["pairs"]["test"]
    assert pairs == {"pairs written": 3, "pairs dropped: answer not in normalized context": 1,
                     "pairs dropped: pair holds '|'": 1, "pairs dropped: repeated pair": 1}, pairs
    target = {e.id: e.target for e in read_examples(tmp_path / "e2e" / "test.tsv")}["k0-p"]
    assert parse_e2e_pairs(target)[0] == [("甲府市はどこの県庁所在地か。", "山梨県"),
                                          ("甲府市の人口は?", "およそ18万人")]


# --- parse_e2e_pairs on hand-written generations ---------------------------------------------------------------------
GOOD_PAIRS = [("富士山の標高は何メートルか。", "3776メートル"), ("甲府市は何県にあるか。", "山梨県")]


@pytest.mark.parametrize("fmt", ["tsv", "chat"])
def test_parse_e2e_pairs_reads_back_what_format_e2e_target_writes(fmt):
    assert parse_e2e_pairs(format_e2e_target(GOOD_PAIRS, fmt), fmt) == (GOOD_PAIRS, [])


@pytest.mark.parametrize("text, pairs, problems", [
    ("question: 富士山の標高は何メートルか。, answer: 3776メートル |question:甲府市は何県にあるか。,answer: 山梨県 |",
     GOOD_PAIRS, []),  # spacing varies, a trailing separator
    ("question: 富士山の標高は何メートルか。, answer: 3776メートル | answer: 山梨県 | question: 甲府市は?",
     GOOD_PAIRS[:1], ["pair 2: does not start with 'question:'", "pair 3: needs exactly one ', answer:'"]),
    ("question: 富士山の標高は何メートルか。, answer: 3776メートル | question: , answer: 山梨県 | "
     "question: 富士山の標高は何メートルか。, answer: 3776メートル",
     GOOD_PAIRS[:1], ["pair 2: empty question or answer", "pair 3: repeats an earlier pair"]),
    ("山梨県です", [], ["pair 1: does not start with 'question:'"]),
])
def test_parse_e2e_pairs_lmqg_text_drops_malformed_pairs_with_a_reason(text, pairs, problems):
    got, why = parse_e2e_pairs(text, "tsv")
    assert got == pairs and len(why) == len(problems)
    assert all(w.startswith(p) for w, p in zip(why, problems)), why


@pytest.mark.parametrize("text, pairs, problems", [
    ('```json\n[{"question": "富士山の標高は何メートルか。", "answer": "3776メートル"},\n'
     ' {"question": "甲府市は何県にあるか。", "answer": "山梨県"}]\n```', GOOD_PAIRS, []),
    ('以下が質問と答えです。[{"question": "富士山の標高は何メートルか。", "answer": "3776メートル"}, '
     '{"question": "甲府市は何県にあるか。"}, "山梨県", {"question": "  ", "answer": "x"}]',
     GOOD_PAIRS[:1], ['pair 2: no string "question" and "answer"', "pair 3: not an object",
                      "pair 4: empty question or answer"]),
    ('[{"question": "富士山の標高は何メートルか。", "answer": "3776メートル"}, '
     '{"question": "甲府市は何県にあるか。", "answer": "山梨県",}, {"question": "切れた', GOOD_PAIRS[:1],
     ["not one valid JSON list", "object 2: not valid JSON", "object 3: not valid JSON"]),
    ("わかりません。", [], ["no JSON list of pairs"]),
    ('[{"question": "甲府市は何県にあるか。", "answer": "山梨県"}, {"question": "甲府市は何県にあるか。", '
     '"answer": "山梨県"}]', GOOD_PAIRS[1:], ["pair 2: repeats an earlier pair"]),
])
def test_parse_e2e_pairs_json_drops_malformed_pairs_with_a_reason(text, pairs, problems):
    got, why = parse_e2e_pairs(text, "chat")
    assert got == pairs and len(why) == len(problems)
    assert all(w.startswith(p) for w, p in zip(why, problems)), why
