"""Tiny models memorised on a few facts (AQG T5, QA BART, AQG GPT-2), shared by the generation, prediction, scoring
and round-trip tests through conftest's session fixture ``models``."""

import json
import shutil
from pathlib import Path

import torch

from jaqg.data.formats import DEFAULT_TASK_PREFIXES, DEFAULT_TEMPLATES, GPT_END, GPT_SEP, format_input
from jaqg.generation.decoding import generate, is_causal, load_model

# The seed's example, and a second fact whose words the tiny tokenizer knows (甲, 庁, 在 are <unk> to it).
from jaqg.generation.inputs import question_input

# The seed's example, and a second fact whose words the tiny tokenizer knows (甲, 庁, 在 are <unk> to it).
SEED = ("甲府市", "山梨県の県庁所在地は甲府市です。", "山梨県の中心の市はどこか。")
FACT = ("森瀬市", "森瀬市は山梨県の北部にある市である。", "山梨県の北部にある市はどこか。")
OTHER_QUESTION = "森瀬市はどの県にあるか。"  # answered with 山梨県, not 森瀬市: a round trip drops it
AQG_DATA = {"task": "aqg", "template": "answer: {answer} context: {context}", "format": "tsv"}


def memorise(base_dir: Path, out_dir: Path, pairs: list[tuple[str, str]], max_steps: int = 300,
             max_new_tokens: int = 64) -> Path:
    """Copy a tiny model and train it (plain torch loop) until greedy decoding reproduces every pair's target."""
    torch.manual_seed(0)
    model, tok = load_model(str(base_dir), device="cpu")
    if is_causal(model):
        enc = tok([f"{x}{GPT_SEP}{y}{GPT_END}" for x, y in pairs], add_special_tokens=False, padding=True,
                  return_tensors="pt")
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        prompt_end = (enc["input_ids"] == tok.convert_tokens_to_ids(GPT_SEP)).int().argmax(dim=1)
        labels[torch.arange(labels.shape[1]) <= prompt_end[:, None]] = -100  # learn the continuation only
    else:
        enc = tok([x for x, _ in pairs], padding=True, return_tensors="pt")
        labels = tok(text_target=[y for _, y in pairs], padding=True, return_tensors="pt")["input_ids"]
        labels = labels.masked_fill(labels == tok.pad_token_id, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(1, max_steps + 1):
        model.train()
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 20 == 0 and generate(model.eval(), tok, [x for x, _ in pairs], max_new_tokens=max_new_tokens) == \
                [[y] for _, y in pairs]:
            break
    else:
        raise AssertionError(f"{base_dir.name} did not memorise {len(pairs)} pairs in {max_steps} steps")
    shutil.rmtree(out_dir, ignore_errors=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def aqg_pairs():
    return [(question_input(a, c, AQG_DATA), q) for a, c, q in (SEED, FACT)]


_TRAINED: dict = {}


def trained_models(t5_dir: Path, bart_dir: Path, gpt2_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """AQG T5 + QA BART + AQG GPT-2, each with a run_config.json like train.py's; built once per session.
    (The QA pairs differ only in the question: a from-scratch T5 is slow to use its encoder, BART is not.)"""
    key = (t5_dir, bart_dir, gpt2_dir)
    if key in _TRAINED:  # the fixture is imported by several test files: train once
        return _TRAINED[key]
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("h5_models")
    aqg = memorise(t5_dir, root / "aqg", aqg_pairs())
    (aqg / "run_config.json").write_text(json.dumps({"max_target_length": 32, "data": AQG_DATA}))
    qa_pairs = [(format_input("qa", question=FACT[2], context=FACT[1]), FACT[0]),
                (format_input("qa", question=OTHER_QUESTION, context=FACT[1]), "山梨県")]
    qa = memorise(bart_dir, root / "qa", qa_pairs)
    (qa / "run_config.json").write_text(json.dumps({"data": {"task": "qa", "template": None}}))
    gpt = memorise(gpt2_dir, root / "gpt", aqg_pairs())
    _TRAINED[key] = {"aqg": aqg, "qa": qa, "gpt": gpt}
    return _TRAINED[key]


def make_multitask(tiny_t5_dir: Path, out: Path) -> Path:
    """The session's random tiny T5 with the run_config train.py writes for a --task multi data dir."""
    shutil.copytree(tiny_t5_dir, out)
    templates = {t: DEFAULT_TASK_PREFIXES[t] + DEFAULT_TEMPLATES[t] for t in DEFAULT_TASK_PREFIXES}
    data = {"task": "multi", "template": None, "task_prefixes": DEFAULT_TASK_PREFIXES, "templates": templates}
    (out / "run_config.json").write_text(json.dumps({"max_input_length": 96, "max_target_length": 12,
                                                     "data": data}), encoding="utf-8")
    return out
