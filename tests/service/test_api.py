"""The REST API in process (fastapi's TestClient): the pipeline's records as generate_qa.py writes them, bad
requests answered with the field or limit they break, a model error that leaves the service serving, a full queue,
the key, and uploads that stay in a temporary directory."""

import json
import threading
import time

import pytest
from conftest import run_main_in_process
from fastapi.testclient import TestClient
from serve_helpers import TEXT, make_multitask

import generate_qa
from jaqg.core.errors import UserError
from jaqg.service.app import create_app
from jaqg.service.engine import EngineSettings, load_engine
from jaqg.service.guard import Limits, check_bind
from jaqg.service.worker import BatchWorker

KEY = "k" * 24


@pytest.fixture(scope="module")
def engine(tiny_t5_dir, tmp_path_factory):
    model = make_multitask(tiny_t5_dir, tmp_path_factory.mktemp("serve") / "multi")
    engine = load_engine(EngineSettings(str(model), threads=1, max_pending=4)).start()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def client(engine):
    return TestClient(create_app(engine, Limits(max_body_bytes=20_000, max_text_chars=2_000)))


def test_health_and_the_openapi_schema(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and all(health["capabilities"].values()) and not health["auth_required"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/generate_qa", "/v1/generate", "/v1/answer", "/health"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # the page's only script is /static/app.js (no inline script to allow)


def test_generate_qa_gives_the_records_generate_qa_py_writes(client, engine, tmp_path, capsys):
    """One pipeline: the service's pairs are the command's JSON lines (plus where the answer is)."""
    (tmp_path / "doc.txt").write_text(TEXT, encoding="utf-8")
    code, _, err = run_main_in_process(capsys, generate_qa.main, "generate_qa.py", "--model_name_or_path",
                                       engine.settings.model_name_or_path, "--input_file", tmp_path / "doc.txt",
                                       "--output_file", tmp_path / "qa.jsonl", "--answers", "ner", "--threads", "1")
    assert code == 0, err
    expected = [json.loads(line) for line in (tmp_path / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    r = client.post("/v1/generate_qa", json={"text": TEXT, "id": "doc", "options": {"answers": "ner"}})
    assert r.status_code == 200, r.text
    pairs = r.json()["pairs"]
    assert expected and [{k: v for k, v in p.items() if k != "answer_start"} for p in pairs] == expected
    assert r.json()["summary"] == json.loads((tmp_path / "qa.summary.json").read_text(encoding="utf-8"))
    for p in pairs:
        assert p["passage"][p["answer_start"]:p["answer_start"] + len(p["answer"])] == p["answer"]
    dropped = client.post("/v1/generate_qa", json={"text": TEXT, "options": {"answers": "ner",
                                                                             "keep_dropped": False}})
    assert dropped.json()["pairs"] == [p for p in pairs if p["kept"]]


@pytest.mark.parametrize("body, status, says", [
    ('{"text": "青葉町', 422, "not valid JSON"),
    ('{"text": 12}', 422, "`text`: Input should be a valid string"),
    ('{"text": "あ", "options": {"num_beams": "2"}}', 422, "`options.num_beams`"),
    ('{"text": "あ", "options": {"num_beams": 99}}', 422, "`options.num_beams`"),
    ('{"text": "あ", "options": {"answers": "gold"}}', 422, "`options.answers`"),
    ('{"text": "あ", "colour": "red"}', 422, "`colour`: Extra inputs are not permitted"),
    ('[1, 2]', 422, "`body`"),
    ('{"text": ""}', 400, "`text` is empty"),
    ('{"text": " \\n\\t \\u3000"}', 400, "`text` is empty"),
    ('{"text": "あ", "options": {"bad_words": [" "]}}', 400, "empty word"),
    (json.dumps({"text": "あ" * 2_001}), 413, "the limit is 2000"),
    (json.dumps({"text": "あ" * 10_000}), 413, "over the limit of 20000 bytes"),
])
def test_bad_requests_say_what_is_wrong(client, body, status, says):
    r = client.post("/v1/generate_qa", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == status and says in r.json()["detail"], r.text


def test_generate_and_answer_and_their_bad_requests(client):
    r = client.post("/v1/generate", json={"answer": "山形県", "context": TEXT, "num_beams": 2,
                                          "num_return_sequences": 2})
    assert r.status_code == 200 and "<hl>山形県<hl>" in r.json()["input"] and 1 <= len(r.json()["questions"]) <= 2
    r = client.post("/v1/generate", json={"answer": "東京都", "context": TEXT})
    assert r.status_code == 400 and "does not occur in the context" in r.json()["detail"]
    r = client.post("/v1/generate", json={"answer": "山形県", "context": TEXT, "num_return_sequences": 2})
    assert r.status_code == 400 and "`num_return_sequences`" in r.json()["detail"]
    assert client.post("/v1/generate", json={"context": TEXT}).json()["detail"] == "`answer`: Field required"
    r = client.post("/v1/answer", json={"question": "白川はどこに注ぐか。", "context": TEXT})
    assert r.status_code == 200 and isinstance(r.json()["answer"], str)


def test_a_model_error_is_a_500_and_the_service_goes_on(client, engine, monkeypatch):
    def broken(key, payloads):
        raise RuntimeError("CUDA out of memory (simulated)")
    monkeypatch.setitem(engine.worker.handlers, "answer", broken)
    r = client.post("/v1/answer", json={"question": "白川はどこに注ぐか。", "context": TEXT})
    assert r.status_code == 500 and r.json()["detail"] == "model error: RuntimeError: CUDA out of memory (simulated)"
    monkeypatch.undo()
    assert client.post("/v1/answer", json={"question": "白川はどこに注ぐか。", "context": TEXT}).status_code == 200


def test_a_full_queue_is_a_503_with_retry_after(client, engine, monkeypatch):
    release, started = threading.Event(), threading.Event()

    def slow(key, payloads):
        started.set()
        release.wait(30)
        return ["x"] * len(payloads)
    monkeypatch.setitem(engine.worker.handlers, "answer", slow)
    body = {"question": "白川はどこに注ぐか。", "context": TEXT}
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(client.post("/v1/answer", json=body)))
               for _ in range(engine.worker.max_pending)]
    for t in threads:
        t.start()
    started.wait(10)
    deadline = time.monotonic() + 10
    while engine.worker.outstanding < engine.worker.max_pending and time.monotonic() < deadline:
        time.sleep(0.02)
    r = client.post("/v1/answer", json=body)
    release.set()
    for t in threads:
        t.join(30)
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["detail"]
    assert [x.status_code for x in replies] == [200] * engine.worker.max_pending


def test_generate_qa_requests_that_wait_together_run_as_one_pipeline(engine):
    """Two /v1/generate_qa requests with the same options (and the same document id) run as one pipeline over both
    documents: each gets exactly the records, passages and own counts it gets alone; the counts of model inputs are
    the merged run's, and its summary says so."""
    from jaqg.qag.pipeline import Document, QagConfig, document_sentences
    other = "白川町は岐阜県の北部にある町である。町の名は白い川に由来する。"
    requests = [[Document("doc", document_sentences(TEXT))], [Document("doc", document_sentences(other))]]
    config = QagConfig(progress=False, batch_size=16)
    key = ("ner", "same options")
    alone = [engine._run_qag(key, [(docs, config)])[0] for docs in requests]
    together = engine._run_qag(key, [(docs, config) for docs in requests])
    assert len(together) == 2 and all(r.records for r in alone)
    for one, merged in zip(alone, together):
        assert merged.records == one.records and merged.passages == one.passages
        own = {k: v for k, v in one.summary.items() if k not in ("sentences_cut", "max_input_tokens",
                                                                  "inputs_over_limit", "generation")}
        assert {k: merged.summary[k] for k in own} == own
        assert merged.summary["batch"] == {"requests": 2, "documents": 2}
    generated = [r.summary["generation"]["inputs"] for r in alone]
    assert together[0].summary["generation"]["inputs"] == sum(generated)  # one run served both


def test_waiting_requests_are_batched_and_one_bad_input_fails_alone():
    calls, entered, gate = [], threading.Event(), threading.Event()

    def handler(key, payloads):
        entered.set()
        gate.wait(10)
        calls.append(list(payloads))
        if "bad" in payloads:
            raise ValueError("bad input")
        return [p.upper() for p in payloads]
    worker = BatchWorker({"g": handler, "q": handler}, batchable=["g"], max_pending=10)
    futures = [worker.submit("g", 1, "a")]
    entered.wait(10)  # the worker runs "a"; the rest wait behind it
    futures += [worker.submit("g", 1, p) for p in ["b", "c"]] + [worker.submit("q", 1, "d"),
                                                                 worker.submit("g", 2, "e"), worker.submit("g", 1, "f")]
    gate.set()
    assert [f.result(10) for f in futures] == ["A", "B", "C", "D", "E", "F"]
    assert calls == [["a"], ["b", "c", "f"], ["d"], ["e"]]  # same kind and key: one call
    futures = [worker.submit("g", 1, p) for p in ["x", "bad", "y"]]
    assert futures[0].result(10) == "X" and futures[2].result(10) == "Y"
    assert str(futures[1].exception(10)) == "bad input"
    worker.close()


def test_the_key_guards_the_api(engine):
    client = TestClient(create_app(engine, Limits(), api_key=KEY))
    body = {"question": "白川はどこに注ぐか。", "context": TEXT}
    assert client.post("/v1/answer", json=body).status_code == 401
    assert client.post("/v1/answer", json=body, headers={"X-API-Key": "k" * 23}).status_code == 401
    assert client.post("/v1/answer", json=body, headers={"X-API-Key": KEY}).status_code == 200
    assert client.post("/v1/answer", json=body, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    health = client.get("/health").json()
    assert health["auth_required"] and client.get("/").status_code == 200


def test_no_key_no_listening_beyond_loopback(run):
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(host, None)
    check_bind("0.0.0.0", KEY)
    for host, key in (("0.0.0.0", None), ("192.168.1.5", None), ("example.org", None), ("0.0.0.0", "short")):
        with pytest.raises(UserError, match="`api_key`"):
            check_bind(host, key)
    proc = run("serve.py", "--model_name_or_path", "no_such_model", "--host", "0.0.0.0", timeout=120,
               env={"JAQG_API_KEY": ""})
    assert proc.returncode == 2 and "--api_key" in proc.stderr and "JAQG_API_KEY" in proc.stderr, proc.stderr


def test_uploads_are_read_from_a_temporary_directory_and_limited(client, tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    options = json.dumps({"answers": "ner"})
    r = client.post("/v1/generate_qa/file", files={"file": ("../../evil.txt", TEXT.encode(), "text/plain")},
                    data={"options": options})
    assert r.status_code == 200, r.text
    assert r.json()["pairs"] and {p["id"] for p in r.json()["pairs"]} == {"evil"}
    assert list((tmp_path / "tmp").iterdir()) == []  # the upload's temporary directory is gone
    assert not (tmp_path.parent / "evil.txt").exists()
    jsonl = json.dumps({"id": "d1", "text": TEXT}, ensure_ascii=False).encode()
    r = client.post("/v1/generate_qa/file", files={"file": ("docs.jsonl", jsonl)}, data={"options": options})
    assert r.status_code == 200 and {p["id"] for p in r.json()["pairs"]} == {"d1"}
    r = client.post("/v1/generate_qa/file", files={"file": ("x.html", b"<p>")}, data={"options": options})
    assert r.status_code == 400 and "send a .txt" in r.json()["detail"]
    r = client.post("/v1/generate_qa/file", files={"file": ("x.jsonl", b'{"id": 1}\n')}, data={"options": options})
    assert r.status_code == 400 and r.json()["detail"].startswith("x.jsonl:1:")
    r = client.post("/v1/generate_qa/file", files={"file": ("x.txt", TEXT.encode())},
                    data={"options": '{"num_beams": 0}'})
    assert r.status_code == 422 and "`options.num_beams`" in r.json()["detail"]
    r = client.post("/v1/generate_qa/file", files={"file": ("big.txt", "あ".encode() * 8_000)},
                    data={"options": options})
    assert r.status_code == 413
