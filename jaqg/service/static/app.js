// jaqg's page: every piece of user text and model output goes into the DOM as text (textContent, text nodes),
// never as HTML; the server's Content-Security-Policy allows this script only.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let health = null;
  let lastPairs = [];

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function headers() {
    const h = {};
    const key = $("api_key").value.trim();
    if (key) h["X-API-Key"] = key;
    return h;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function loadHealth() {
    try {
      const r = await fetch("/health");
      health = await r.json();
      const caps = health.capabilities || {};
      $("status").textContent = caps.generate_qa ? "ready (jaqg " + health.version + ")" : "this model does not serve quiz generation";
      $("key_row").hidden = !health.auth_required;
      for (const opt of $("answers").options) {
        opt.disabled = !caps["answers_" + opt.value];
      }
      if (!caps.answers_model && caps.answers_ner) $("answers").value = "ner";
    } catch (e) {
      $("status").textContent = "server unreachable";
    }
  }

  function options() {
    const words = $("bad_words").value.split(/[,、\s]+/).map((w) => w.trim()).filter((w) => w);
    return {
      answers: $("answers").value,
      num_beams: parseInt($("num_beams").value, 10) || 1,
      bad_words: words,
      min_roundtrip_f1: Math.min(1, Math.max(0, parseFloat($("min_roundtrip_f1").value) || 0)),
      keep_dropped: $("keep_dropped").checked,
      allow_hallucinated: $("allow_hallucinated").checked,
    };
  }

  async function run() {
    showError("");
    const button = $("run");
    button.disabled = true;
    $("status").textContent = "generating…";
    try {
      let response;
      const file = $("file").files[0];
      if (file) {
        const form = new FormData();
        form.append("file", file);
        form.append("options", JSON.stringify(options()));
        response = await fetch("/v1/generate_qa/file", { method: "POST", body: form, headers: headers() });
      } else {
        const body = { text: $("text").value, title: $("title").value, options: options() };
        response = await fetch("/v1/generate_qa", {
          method: "POST", body: JSON.stringify(body),
          headers: Object.assign({ "Content-Type": "application/json" }, headers()),
        });
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const retry = response.headers.get("Retry-After");
        showError(response.status + ": " + (data.detail || response.statusText) + (retry ? " (retry after " + retry + " s)" : ""));
        $("status").textContent = "error";
        return;
      }
      render(data);
      $("status").textContent = "done in " + data.seconds + " s";
    } catch (e) {
      showError(String(e));
      $("status").textContent = "error";
    } finally {
      button.disabled = false;
    }
  }

  function passageCell(pair) {
    const td = el("td", null, "passage");
    const p = pair.passage;
    const at = pair.answer_start;
    if (at === null || at === undefined || at < 0 || p.substr(at, pair.answer.length) !== pair.answer) {
      td.textContent = p;
      return td;
    }
    td.appendChild(document.createTextNode(p.slice(0, at)));
    td.appendChild(el("mark", pair.answer));
    td.appendChild(document.createTextNode(p.slice(at + pair.answer.length)));
    return td;
  }

  function render(data) {
    lastPairs = data.pairs || [];
    const s = data.summary || {};
    const dropped = Object.entries(s.dropped || {}).map(([k, v]) => k + ": " + v).join(", ") || "none";
    $("summary").textContent = (s.documents || 0) + " document(s), " + (s.passages || 0) + " passage(s), " +
      (s.candidates || 0) + " candidate(s) (" + (s.answers || "") + "), kept " + (s.kept || 0) + ", dropped: " + dropped;
    const tbody = $("pairs").querySelector("tbody");
    tbody.replaceChildren();
    lastPairs.forEach((pair, i) => {
      const tr = document.createElement("tr");
      tr.className = pair.kept ? "kept-row" : "dropped";
      tr.appendChild(el("td", i + 1));
      tr.appendChild(pair.kept ? el("td", "kept", "kept") : el("td", "dropped: " + pair.reason, "reason"));
      tr.appendChild(el("td", pair.question));
      tr.appendChild(el("td", pair.answer));
      tr.appendChild(passageCell(pair));
      const asked = pair.question && pair.reason !== "empty question" && pair.reason !== "answer not in sentence";
      tr.appendChild(el("td", asked ? pair.roundtrip_answer + " (" + Number(pair.roundtrip_f1).toFixed(2) + ")" : "—"));
      tr.appendChild(el("td", (pair.hallucinated_words || []).join(" ")));
      tbody.appendChild(tr);
    });
    $("pairs").hidden = lastPairs.length === 0;
    $("downloads").hidden = lastPairs.length === 0;
  }

  const FIELDS = ["id", "passage", "sentence", "answer", "question", "roundtrip_answer", "roundtrip_f1",
                  "hallucinated_words", "kept", "reason"];

  function record(pair) {  // generate_qa.py's JSON line: its fields, in its order
    const r = {};
    for (const f of FIELDS) r[f] = pair[f];
    return r;
  }

  function csvField(value) {
    const s = Array.isArray(value) ? value.join(" ") : value === null || value === undefined ? "" : String(value);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function oneLine(s) {  // a TSV field: no tabs or line breaks
    return String(s || "").replace(/[\t\r\n]+/g, " ");
  }

  function download(name, type, text) {
    const url = URL.createObjectURL(new Blob([text], { type: type }));
    const a = el("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function init() {
    $("run").addEventListener("click", run);
    $("dl_jsonl").addEventListener("click", () => download("qa.jsonl", "application/x-ndjson",
      lastPairs.map((p) => JSON.stringify(record(p)) + "\n").join("")));
    $("dl_csv").addEventListener("click", () => download("qa.csv", "text/csv",
      "\ufeff" + [FIELDS.join(",")].concat(lastPairs.map((p) => FIELDS.map((f) => csvField(p[f])).join(","))).join("\r\n") + "\r\n"));
    // Anki: File > Import reads the header lines; html:false makes Anki show the fields as plain text too.
    $("dl_anki").addEventListener("click", () => download("qa_anki.txt", "text/tab-separated-values",
      "#separator:tab\n#html:false\n#columns:Front\tBack\n" +
      lastPairs.filter((p) => p.kept).map((p) => oneLine(p.question) + "\t" + oneLine(p.answer) + "\n").join("")));
    loadHealth();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
