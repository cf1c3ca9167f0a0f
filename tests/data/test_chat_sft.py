"""Chat SFT data (jaqg.data.chat_sft): assistant-only labels under three templates, bad lines, packing.

The tokenizers are the Qwen2.5 and Swallow stand-ins (built in well under a second from examples/jsquad); the
llm-jp-style template (llm-jp-3 instruct's layout: '### 指示:' / '### 応答:' headers, eos after the answer) and a
custom template are given as --chat_template files.
"""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT

from jaqg.core.errors import UserError
from jaqg.data.batching import IGNORE_INDEX, Collator
from jaqg.data.chat_sft import (
    ChatExample,
    chat_mode,
    encode_conversation,
    pack,
    read_chat_file,
    set_chat_template,
    tokenize_chat,
)
from jaqg.data.clm_data import load_tokenizer
from jaqg.models.standins import build_standin
from jaqg.models.standins_llm import LLMJP_STYLE_TEMPLATE as LLMJP_STYLE
from jaqg.training.objectives import logits_and_labels

torch.set_num_threads(1)
QWEN, SWALLOW = "Qwen/Qwen2.5-0.5B-Instruct", "tokyotech-llm/Swallow-7b-hf"
# Text after the end-of-turn token (a newline and a marker), which must stay masked.
CUSTOM = ("{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}"
          "\n--\n{% else %}\n{% endif %}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}")
NO_EOT = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}" \
         "assistant: {% endif %}"
SYSTEM = {"role": "system", "content": "あなたは問題を作る先生です。"}
CONVERSATIONS = [
    [SYSTEM, {"role": "user", "content": "甲府市は<hl>山梨県<hl>の県庁所在地です。"},
     {"role": "assistant", "content": "甲府市はどの県の県庁所在地？"}],
    [{"role": "user", "content": "富士山の高さは？"}, {"role": "assistant", "content": "三七七六メートルです。"},
     {"role": "user", "content": "では一番高い山は？"}, {"role": "assistant", "content": "富士山です。"}],
]


def squash(tok, text: str) -> str:
    """Text as the tokenizer's normalizer sees it (Swallow's nmt_nfkc: ？ -> ?, newline -> space), spaces dropped:
    decoded ids compare with the text they came from."""
    normalizer = tok.backend_tokenizer.normalizer
    return (normalizer.normalize_str(text) if normalizer else text).replace(" ", "").replace("\u2581", "")


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("chat_tok")
    dirs = {name: build_standin(name, out / name.split("/")[0], data_dir=ROOT / "examples" / "jsquad")
            for name in (QWEN, SWALLOW)}
    toks = {"qwen": load_tokenizer(str(dirs[QWEN]))}
    for key, template in (("llmjp_style", LLMJP_STYLE), ("custom", CUSTOM)):
        tok = load_tokenizer(str(dirs[SWALLOW]))
        path = out / f"{key}.jinja"
        path.write_text(template, encoding="utf-8")
        set_chat_template(tok, str(path))
        toks[key] = tok
    return toks


@pytest.mark.parametrize("key, eot, after", [("qwen", "<|im_end|>", "\n"), ("llmjp_style", "</s>", ""),
                                             ("custom", "</s>", "\n--\n")])
@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["system_user_assistant", "two_assistant_turns"])
def test_only_assistant_content_and_its_end_of_turn_token_are_labelled(tokenizers, key, eot, after, conversation):
    tok = tokenizers[key]
    feature = encode_conversation(tok, conversation)
    ids, labels = feature["input_ids"], feature["labels"]
    text = tok.apply_chat_template(conversation, tokenize=False)
    assert squash(tok, tok.decode(ids)) == squash(tok, text) and len(labels) == len(ids)
    kept = [i for i, label in zip(ids, labels) if label != IGNORE_INDEX]
    assert all(label in (IGNORE_INDEX, i) for i, label in zip(ids, labels))
    # what is learned: each assistant turn's content followed by the end-of-turn token, nothing else
    want = "".join(m["content"] + eot for m in conversation if m["role"] == "assistant")
    assert squash(tok, tok.decode(kept)) == squash(tok, want) and kept[-1] == tok.convert_tokens_to_ids(eot)
    assert sum(1 for i in kept if i == tok.convert_tokens_to_ids(eot)) == sum(
        m["role"] == "assistant" for m in conversation)
    # every token between the previous assistant turn's end-of-turn token and this turn's content (system, user,
    # template headers) is -100
    eots = [t for t, label in enumerate(labels) if label == tok.convert_tokens_to_ids(eot)]
    turns = [i for i, m in enumerate(conversation) if m["role"] == "assistant"]
    for k, i in enumerate(turns):
        prompt = tok.apply_chat_template(conversation[:i], tokenize=False, add_generation_prompt=True)
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
        start = eots[k - 1] + 1 if k else 0
        assert n_prompt - 1 > start and set(labels[start: n_prompt - 1]) == {IGNORE_INDEX}, prompt
    # the text a template writes after the end-of-turn token is masked (ChatML's newline, the custom '--')
    if after:
        last_eot = max(t for t, i in enumerate(ids) if i == tok.convert_tokens_to_ids(eot))
        assert labels[last_eot] == ids[last_eot]
        assert squash(tok, tok.decode(ids[last_eot + 1:])) == squash(tok, after)
        assert set(labels[last_eot + 1:]) == {IGNORE_INDEX}


def test_a_template_without_an_end_of_turn_token_is_refused(tokenizers, tmp_path):
    tok = tokenizers["qwen"]
    path = tmp_path / "no_eot.jinja"
    path.write_text(NO_EOT, encoding="utf-8")
    original = tok.chat_template
    try:
        set_chat_template(tok, str(path))
        with pytest.raises(ValueError, match=r"writes '\\n' after an assistant turn, not a special end-of-turn"):
            encode_conversation(tok, CONVERSATIONS[0])
        with pytest.raises(UserError, match=r"^train.jsonl:3 \(id a\): the chat template writes '\\n' after"):
            tokenize_chat([ChatExample("a", CONVERSATIONS[0], 3, "train.jsonl")], tok, 512, "train.jsonl")
    finally:
        tok.chat_template = original


def test_model_without_chat_template_needs_a_file(tokenizers, tmp_path):
    class NoTemplate:
        name_or_path, chat_template = "base-model", None
    with pytest.raises(UserError, match="has no chat template; pass `chat_template`"):
        set_chat_template(NoTemplate(), None)
    with pytest.raises(UserError, match="no such file"):
        set_chat_template(NoTemplate(), str(tmp_path / "missing.jinja"))


@pytest.mark.parametrize("line, says", [
    ("{not json", "not valid JSON"),
    ('{"id": "a", "messages": [{"role": "user", "content": "質問"}]}', "the last message is not an assistant turn"),
    ('{"id": "a", "messages": [{"role": "bot", "content": "x"}]}', 'message 0 is not {"role"'),
    ('{"id": "a", "messages": []}', 'not an object with a non-empty "messages" list'),
])
def test_bad_chat_lines_name_file_and_line_or_are_counted(tmp_path, line, says):
    good = json.dumps({"id": "g", "messages": CONVERSATIONS[0]}, ensure_ascii=False)
    path = tmp_path / "train.jsonl"
    path.write_text(f"{good}\n{line}\n{good}\n", encoding="utf-8")
    with pytest.raises(UserError) as e:
        read_chat_file(path)
    assert str(e.value).startswith(f"{path}:2: {says}") and "\n" not in str(e.value)
    examples, report = read_chat_file(path, skip_bad_lines=True)
    assert [e.line for e in examples] == [1, 3] and f"1 bad lines skipped (first: {path}:2: {says}" in report


def test_data_kind_is_detected_from_the_files(tmp_path):
    chat, gpt = tmp_path / "dev.jsonl", tmp_path / "train.txt"
    chat.write_text(json.dumps({"messages": CONVERSATIONS[0]}) + "\n", encoding="utf-8")
    gpt.write_text("文<sep>問</s>\n", encoding="utf-8")
    assert chat_mode({"validation": str(chat)}) and not chat_mode({"validation": str(gpt)})
    with pytest.raises(UserError, match="`validation_file` is chat JSONL, `train_file` is GPT text"):
        chat_mode({"validation": str(chat), "train": str(gpt)})
    with pytest.raises(UserError, match="`chat_template` applies to chat JSONL"):
        chat_mode({"validation": str(gpt)}, chat_template="t.jinja")


def test_long_conversations_are_dropped_and_counted(tokenizers):
    examples = [ChatExample(str(i), c, i + 1) for i, c in enumerate(CONVERSATIONS)]
    lengths = [len(encode_conversation(tokenizers["qwen"], c)["input_ids"]) for c in CONVERSATIONS]
    data = tokenize_chat(examples, tokenizers["qwen"], min(lengths), "f.jsonl")
    assert len(data) == 1 and "1 longer than `block_size`" in data.report


def tiny_llama(vocab_size: int, attn: str):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    config._attn_implementation = attn
    return LlamaForCausalLM(config).eval()


def token_losses(model, batch) -> torch.Tensor:
    logits, labels = logits_and_labels(model, batch)
    return F.cross_entropy(logits.flatten(0, 1).double(), labels.flatten(), ignore_index=IGNORE_INDEX,
                           reduction="none").view(labels.shape), labels


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_rows_give_every_token_its_unpacked_loss(tokenizers, attn):
    """Packing: position ids restart, no attention across examples: each labelled token's loss equals its loss in
    the example's own padded batch to 1e-5 (fp32 model on CPU)."""
    tok = tokenizers["qwen"]
    convs = CONVERSATIONS + [[SYSTEM, {"role": "user", "content": f"{n}番目の文です。"},
                              {"role": "assistant", "content": "質問" * n}] for n in range(1, 7)]
    features = [encode_conversation(tok, c) for c in convs]
    block = max(len(f["input_ids"]) for f in features) + 20
    rows, report = pack(features, block)
    assert report.rows < len(features) and sorted(i for m in report.members for i in m) == list(range(len(features)))
    assert all(len(r["input_ids"]) <= block for r in rows)
    model = tiny_llama(len(tok), attn)
    collate = Collator(tok.pad_token_id)
    with torch.no_grad():
        alone, alone_labels = token_losses(model, collate(features))
        packed, packed_labels = token_losses(model, collate(rows))
    # the per-token losses of each example, in order, from its unpacked row and from its place in a packed row
    unpacked = [alone[i][alone_labels[i] != IGNORE_INDEX] for i in range(len(features))]
    n_compared = 0
    for r, members in enumerate(report.members):
        start = 0
        for i in members:
            n = len(features[i]["input_ids"])
            seg_labels = packed_labels[r, start: start + n - 1]  # shifted: labels of tokens start+1 .. start+n-1
            got = packed[r, start: start + n - 1][seg_labels != IGNORE_INDEX]
            assert torch.allclose(got, unpacked[i], atol=1e-5, rtol=0), (r, i)
            n_compared += len(got)
            start += n
    assert n_compared == sum(len(u) for u in unpacked) > 100
    # and the mean loss the training loop optimizes is the same number
    assert abs(float(packed[packed_labels != IGNORE_INDEX].mean()) -
               float(alone[alone_labels != IGNORE_INDEX].mean())) < 1e-5


def test_without_restarted_positions_the_losses_differ(tokenizers):
    """The check above can fail: the same packed rows with one causal mask over the whole row (no position ids)
    give different losses."""
    tok = tokenizers["qwen"]
    features = [encode_conversation(tok, c) for c in CONVERSATIONS]
    rows, _ = pack(features, sum(len(f["input_ids"]) for f in features))
    model = tiny_llama(len(tok), "sdpa")
    batch = Collator(tok.pad_token_id)(rows)
    with torch.no_grad():
        right, labels = token_losses(model, batch)
        del batch["position_ids"]
        wrong, _ = token_losses(model, batch)
    keep = labels != IGNORE_INDEX
    assert (right[keep] - wrong[keep]).abs().max() > 1e-3


def test_pack_report_and_first_label_of_each_example(tokenizers):
    features = [{"input_ids": [1] * n, "labels": [7] * n} for n in (5, 3, 4, 2, 6)]
    rows, report = pack(features, 8)
    assert str(report) == "packing: 5 examples -> 3 rows of up to 8 tokens (83.3% full)"
    for row in rows:
        starts = [t for t, p in enumerate(row["position_ids"]) if p == 0]
        assert all(row["labels"][t] == IGNORE_INDEX for t in starts)
        assert sum(label != IGNORE_INDEX for label in row["labels"]) == len(row["labels"]) - len(starts)
    with pytest.raises(ValueError, match="more than block_size"):
        pack(features, 4)


def test_saved_tokenizer_keeps_a_given_template(tokenizers, tmp_path):
    tok = tokenizers["custom"]
    tok.save_pretrained(tmp_path)
    assert Path(tmp_path / "chat_template.jinja").read_text(encoding="utf-8") == CUSTOM
    again = load_tokenizer(str(tmp_path))
    assert encode_conversation(again, CONVERSATIONS[1]) == encode_conversation(tok, CONVERSATIONS[1])
