"""Stand-ins of hub model dirs (make_tiny_model.py --like) and the README recipes run end to end on them.

Each family's stand-in is built from the hand-written examples/jsquad text (its SentencePiece model or BPE trained
there with the family's layout), except rinna/japanese-gpt2-medium and llm-jp/llm-jp-3-1.8b, which use the real
SentencePiece models in ../shared when present (a model of the family's layout trained here otherwise).
"""

import json
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from conftest import ROOT, run_main_in_process
from transformers import AutoConfig, AutoTokenizer

from jaqg.models.standins import FAMILIES, build_standin
from jaqg.models.standins_llm import token_ids
from jaqg.tokenization.hub import PROBE, fidelity_mismatches, read_model_proto

torch.set_num_threads(1)
EXAMPLES = ROOT / "examples" / "jsquad"
RINNA_SPM = ROOT.parent / "shared" / "hub" / "rinna-japanese-gpt2" / "spiece.model"
LLMJP_DIR = ROOT.parent / "shared" / "hub" / "llm-jp-tokenizer"
REAL_SPM = {"rinna/japanese-gpt2-medium": RINNA_SPM,
            "llm-jp/llm-jp-3-1.8b": LLMJP_DIR / "llm-jp-tokenizer-100k.ver3.0b1.model"}
SEQ2SEQ = [n for n, f in FAMILIES.items() if f.config.get("is_encoder_decoder")]
CAUSAL = [n for n in FAMILIES if n not in SEQ2SEQ]


@pytest.fixture(scope="module")
def standins(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("standins")
    dirs = {}
    for name in FAMILIES:
        dirs[name] = build_standin(name, out / name.replace("/", "__"), data_dir=EXAMPLES,
                                   spiece_model=REAL_SPM[name] if is_real(name) else None)
    return dirs


def is_real(name: str) -> bool:
    """Whether the family's stand-in is built with its real SentencePiece model (from ../shared)."""
    return name in REAL_SPM and REAL_SPM[name].is_file()


@pytest.mark.parametrize("name", FAMILIES)
def test_standin_has_the_hub_files_layout_and_config_keys(standins, name):
    fam, model_dir = FAMILIES[name], standins[name]
    files = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "tokenizer_config.json", "special_tokens_map.json", fam.weights} <= files
    assert (fam.spm_file in files) == (fam.spm is not None)
    assert ("tokenizer.json" in files) == (fam.spm is None or bool(fam.added_tokens))
    cfg = json.loads((model_dir / "config.json").read_text())
    vocab = AutoTokenizer.from_pretrained(model_dir).get_vocab()
    for key in ("architectures", "model_type", "eos_token_id", "pad_token_id", "bos_token_id", "feed_forward_proj",
                "tie_word_embeddings", "use_parallel_residual", "do_lower_case", "rope_theta", "rms_norm_eps",
                "hidden_act", "max_position_embeddings", "attention_bias", "use_sliding_window"):
        assert cfg.get(key) == token_ids(fam.config.get(key), vocab), key
    assert set(fam.config) <= set(cfg)  # every published key kept
    tok_cfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == fam.tokenizer_config["tokenizer_class"]
    import transformers  # transformers 5's PreTrainedTokenizerFast is TokenizersBackend itself
    assert type(AutoTokenizer.from_pretrained(model_dir)) is getattr(transformers,
                                                                    fam.tokenizer_config["tokenizer_class"])
    config = AutoConfig.from_pretrained(model_dir)
    assert max(getattr(config, k) for k in ("d_model", "n_embd", "hidden_size") if hasattr(config, k)) <= 64
    if fam.spm is not None:  # the family's ids and flags, and the tokenizer jaqg loads encodes as SentencePiece
        proto = read_model_proto(model_dir / fam.spm_file)
        sp = spm.SentencePieceProcessor(model_file=str(model_dir / fam.spm_file))
        if not is_real(name):
            assert (sp.unk_id(), sp.eos_id(), sp.pad_id()) == (fam.spm.unk_id, fam.spm.eos_id, fam.spm.pad_id)
            assert proto.trainer_spec.byte_fallback == fam.spm.byte_fallback
            assert proto.normalizer_spec.add_dummy_prefix == fam.spm.add_dummy_prefix
        from jaqg.tokenization.hub import load_tokenizer
        tok = load_tokenizer(str(model_dir), causal=name in CAUSAL)
        assert fidelity_mismatches(tok, model_dir / fam.spm_file, tok_cfg.get("do_lower_case", False)) == []
        assert config.eos_token_id == tok.eos_token_id == sp.eos_id()
        assert len(tok) == len(proto.pieces) + fam.extra_ids + len(fam.added_tokens) <= config.vocab_size
        if fam.added_tokens:  # right after the pieces, in the family's order
            assert tok.convert_tokens_to_ids(list(fam.added_tokens)) == list(range(len(proto.pieces), len(tok)))


def test_like_unknown_name_is_one_line(capsys, tmp_path):
    import make_tiny_model
    status, _, err = run_main_in_process(capsys, make_tiny_model.main, "make_tiny_model.py",
                                         "--like", "nobody/model", "--output_dir", tmp_path / "m")
    assert status == 2 and err.count("\n") == 1 and "no stand-in" in err and not (tmp_path / "m").exists()


# --- every README recipe on the stand-ins, end to end, offline (a few steps each) ---------------------------------
STEPS = ["--max_steps=2", "--per_device_train_batch_size=8", "--per_device_eval_batch_size=8", "--seed=0",
         "--accelerator=cpu", "--devices=1", "--eval_tokenizers=char", "--max_eval_samples=2"]
ISSUE_TEXTS = ("ＮＨＫと😀𠮷の甲府市", "GPT-2は言語モデルです", "髙島屋の①番館")


@pytest.fixture(scope="module")
def data(standins, tmp_path_factory) -> Path:
    """QA, AQG, AQG-HL, quiz AQG-HL and GPT files from the repository's hand-written samples (the GPT files with
    the coverage report of the rinna stand-in's tokenizer)."""
    import prepare_jsquad
    import prepare_jsquad_aqg
    import prepare_quiz_aqg
    out = tmp_path_factory.mktemp("recipes")
    jsquad = f"--jsquad_dir={EXAMPLES}"
    prepare_jsquad.main([jsquad, f"--output_dir={out / 'qa'}"])
    prepare_jsquad_aqg.main([jsquad, f"--output_dir={out / 'aqg'}"])
    prepare_jsquad_aqg.main([jsquad, "--highlight", f"--output_dir={out / 'aqg_hl'}"])
    prepare_jsquad_aqg.main([jsquad, "--highlight", "--format=gpt", f"--output_dir={out / 'gpt'}",
                             f"--tokenizer_name_or_path={standins['rinna/japanese-gpt2-medium']}"])
    quiz = ROOT / "examples" / "quiz"
    prepare_quiz_aqg.main(["--highlight", f"--train_file={quiz / 'quiz_sample.json.gz'}",
                           f"--test_file={quiz / 'quiz_sample.jsonl'}", f"--output_dir={out / 'quiz_hl'}"])
    return out


def _predict(capsys, model_dir: Path, input_file: Path, tmp_path: Path) -> list[str]:
    import predict
    out = tmp_path / "predictions.tsv"
    status, stdout, err = run_main_in_process(capsys, predict.main, "predict.py", "--model_name_or_path", model_dir,
                                              "--input_file", input_file, "--output_file", out, "--progress=false",
                                              "--max_target_length=8", "--threads=1")
    assert status == 0, err
    return out.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("recipe", ["qa", "aqg", "aqg_hl", "quiz_hl"])
@pytest.mark.parametrize("name", SEQ2SEQ)
def test_seq2seq_recipes_on_standins(capsys, standins, data, tmp_path, name, recipe):
    """train.py (--do_train --do_eval), predict.py, and for AQG models generate.py with --bad_words."""
    import generate
    from jaqg.cli import train
    out = tmp_path / "model"
    status, _, err = run_main_in_process(capsys, train.main, "train.py", "--do_train", "--do_eval",
                                         f"--model_name_or_path={standins[name]}", f"--data_dir={data / recipe}",
                                         f"--output_dir={out}", "--max_target_length=8", *STEPS)
    assert status == 0, err
    assert (out / "metrics.json").is_file() and len((out / "predictions.tsv").read_text().splitlines()) == 2
    cover = json.loads((out / "run_config.json").read_text())["tokenizer_coverage"]
    assert cover["tokenizer"] == str(standins[name]) and {"train", "dev"} <= set(cover)
    assert 0 <= cover["dev"]["exact_match_ceiling"] <= 100 and cover["train"]["targets"]["n"] > 0
    # the trained dir keeps the SentencePiece model beside the repaired tokenizer, and they agree
    sp = spm.SentencePieceProcessor(model_file=str(out / "spiece.model"))
    saved = AutoTokenizer.from_pretrained(out)
    for text in PROBE:
        assert saved(text, add_special_tokens=False)["input_ids"] == sp.encode(text), text
    if name.endswith("v1.1"):  # byte fallback: rare characters survive encode -> decode with the saved tokenizer
        for text in ("😀", "𠮷", "髙", "髙島屋の😀𠮷"):
            ids = saved(text)["input_ids"]
            assert sp.unk_id() not in ids and saved.decode(ids, skip_special_tokens=True) == text
    assert len(_predict(capsys, out, data / recipe / "test.tsv", tmp_path)) == sum(
        1 for _ in open(data / recipe / "test.tsv", encoding="utf-8"))
    if recipe.startswith("aqg"):
        flags = ["--highlight"] if recipe == "aqg_hl" else []
        status, stdout, err = run_main_in_process(
            capsys, generate.main, "generate.py", f"--model_name_or_path={out}", "--answer", "甲府市", "--context",
            "山梨県の県庁所在地は甲府市です。", "--bad_words", "山梨", "山梨県", "--max_target_length=8", "--json",
            *flags)
        record = json.loads(stdout)
        assert status == 0 and len(record["questions"]) == 1 and "山梨" not in record["questions"][0], err


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("name", CAUSAL)
def test_run_clm_recipes_on_standins(capsys, standins, data, tmp_path, name, lora):
    """run_clm.py full and LoRA (merged); the saved tokenizer encodes as SentencePiece (rinna: the issue's texts,
    unknown characters as <unk> 0, never </s> 2); predict.py runs on the output_dir."""
    from jaqg.cli import train_clm as run_clm
    out = tmp_path / "output_gpt"
    flags = ["--lora_r=4", "--lora_alpha=8", "--merge_lora"] if lora else []
    status, stdout, err = run_main_in_process(capsys, run_clm.main, "run_clm.py",
                                              f"--model_name_or_path={standins[name]}",
                                         f"--train_file={data / 'gpt' / 'train.txt'}",
                                         f"--validation_file={data / 'gpt' / 'dev.txt'}", "--do_train", "--do_eval",
                                         "--save_steps=2", "--save_total_limit=3", f"--output_dir={out}",
                                         "--use_fast_tokenizer=False", *STEPS, *flags)
    assert status == 0, err
    # the coverage report of train.py, for the prompt/question lines: printed and in run_config.json
    run_cover = json.loads((out / "run_config.json").read_text())["tokenizer_coverage"]
    assert {"train", "dev"} <= set(run_cover) and run_cover["train"]["targets"]["n"] > 0
    assert all(0 <= run_cover["dev"][k] <= 100 for k in ("exact_match_ceiling", "jglue_exact_match_ceiling"))
    assert f"dev exact-match ceiling: {run_cover['dev']['exact_match_ceiling']:.2f}" in stdout
    saved = AutoTokenizer.from_pretrained(out)
    cover = json.loads((data / "gpt" / "prepare_report.json").read_text())["tokenizer_coverage"]
    assert set(cover) == {"tokenizer", "train", "dev", "test"} and cover["test"]["inputs"]["n"] == 16
    if FAMILIES[name].spm is not None:
        sp = spm.SentencePieceProcessor(model_file=str(out / "spiece.model"))
        lower = FAMILIES[name].tokenizer_config.get("do_lower_case", False)
        for text in (*ISSUE_TEXTS, *PROBE):
            want = sp.encode(text.lower() if lower else text)
            assert saved(text, add_special_tokens=False)["input_ids"] == want, text
            assert saved(text)["input_ids"] in (want, [sp.bos_id(), *want]), text  # Llama's <s> at most, no </s>
        if name == "rinna/japanese-gpt2-medium":
            ids = saved(ISSUE_TEXTS[0])["input_ids"]
            assert 0 in ids and 2 not in ids  # unknown characters are <unk> 0, never </s> 2
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("山梨県の県庁所在地は<hl>甲府市<hl>です。\n", encoding="utf-8")
    assert len(_predict(capsys, out, prompts, tmp_path)) == 1


def test_docs_table_names_exactly_the_like_names_accepted():
    import re

    from jaqg.models.standins import LIKE_NAMES, family
    per_family = (ROOT / "docs" / "stand_ins.md").read_text().split("## Per family")[1]
    table = [line.split("|")[1] for line in per_family.splitlines() if line.startswith("| `")]
    named = [n for cell in table for n in re.findall(r"`([^`]+/[^`]+)`", cell)]
    assert sorted(named) == sorted(LIKE_NAMES)
    assert all(family(n).name in FAMILIES for n in named)


@pytest.mark.parametrize("like, says", [  # given a T5-layout spiece.model (pad 0, eos 1, unk 2, no byte fallback)
    ("rinna/japanese-gpt2-medium", "ids <unk> 2 / <s> -1 / </s> 1 / <pad> 0 (-1: none), but "
                                         "rinna/japanese-gpt2-medium has <unk> 0 / <s> 1 / </s> 2 / <pad> -1"),
    ("sonoisa/t5-base-japanese-v1.1", "no byte fallback in this model, but sonoisa/t5-base-japanese-v1.1 has")])
def test_like_with_a_spiece_model_of_another_layout_says_what_differs(capsys, tmp_path, like, says):
    import make_tiny_model
    from jaqg.models.standins import T5_LAYOUT, train_sentencepiece
    model = train_sentencepiece(["山梨県の県庁所在地は甲府市です。", "富士山は日本一高い山です。"] * 20,
                                tmp_path / "spiece.model", T5_LAYOUT, vocab_size=60)
    status, _, err = run_main_in_process(capsys, make_tiny_model.main, "make_tiny_model.py", "--like", like,
                                         "--output_dir", tmp_path / "m", "--spiece_model", model)
    assert status == 2 and err.count("\n") == 1 and says in err and not (tmp_path / "m").exists(), err


# --- decoder-LLM stand-ins: llm-jp-3, Swallow (Llama-2 BPE), Qwen2.5 -----------------------------------------------
@pytest.mark.skipif(not (LLMJP_DIR / "llm-jp-3-1.8b-config.json").is_file(), reason="../shared absent")
def test_llm_jp_standin_config_is_the_published_one_shrunk(standins):
    published = json.loads((LLMJP_DIR / "llm-jp-3-1.8b-config.json").read_text())
    cfg = json.loads((standins["llm-jp/llm-jp-3-1.8b"] / "config.json").read_text())
    shapes = {"hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "num_hidden_layers",
              "head_dim", "vocab_size", "torch_dtype"}
    assert {k: v for k, v in published.items() if k not in shapes} == {k: cfg[k] for k in published if k not in shapes}
    assert "torch_dtype" not in cfg and cfg["hidden_size"] <= 64 and cfg["num_hidden_layers"] <= 2
    ratio = lambda c, a, b: c[a] / c[b]  # noqa: E731
    for a, b in (("intermediate_size", "hidden_size"), ("num_key_value_heads", "num_attention_heads")):
        assert ratio(cfg, a, b) == ratio(published, a, b), a
    assert cfg["head_dim"] * cfg["num_attention_heads"] == cfg["hidden_size"]
    if is_real("llm-jp/llm-jp-3-1.8b"):  # the real vocabulary: 99,574 pieces + 4 added tokens, padded as published
        assert cfg["vocab_size"] == published["vocab_size"]
        tok = AutoTokenizer.from_pretrained(standins["llm-jp/llm-jp-3-1.8b"])
        assert tok.pad_token == "<PAD|LLM-jp>" and tok("甲府市")["input_ids"][0] == 1


def test_qwen_standin_renders_chat_data_as_chatml(capsys, standins, tmp_path):
    """The chat JSONL of prepare --format chat through the stand-in's chat template: ChatML, one token per marker."""
    import prepare_jsquad
    model_dir = standins["Qwen/Qwen2.5-0.5B-Instruct"]
    status, _, err = run_main_in_process(capsys, prepare_jsquad.main, "prepare_jsquad.py", f"--jsquad_dir={EXAMPLES}",
                                         "--format=chat", f"--output_dir={tmp_path / 'chat'}")
    assert status == 0, err
    record = json.loads((tmp_path / "chat" / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    tok = AutoTokenizer.from_pretrained(model_dir)
    text = tok.apply_chat_template(record["messages"], tokenize=False)
    assert text == "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in record["messages"])
    user_only = tok.apply_chat_template(record["messages"][1:2], tokenize=False, add_generation_prompt=True)
    assert user_only.startswith("<|im_start|>system\nYou are Qwen") and user_only.endswith("<|im_start|>assistant\n")
    ids = tok(text)["input_ids"]
    assert ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 3 and tok.decode(ids) == text
    config = AutoConfig.from_pretrained(model_dir)
    assert config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>") == tok.eos_token_id
    assert config.bos_token_id == tok.convert_tokens_to_ids("<|endoftext|>") == tok.pad_token_id
    generation = json.loads((model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [config.eos_token_id, config.bos_token_id]


@pytest.mark.parametrize("model_type, options, says", [
    ("unigram", {}, "a UNIGRAM SentencePiece model, but tokyotech-llm/Swallow-7b-hf's is BPE"),
    ("bpe", {"remove_extra_whitespaces": True}, None),  # a flag not known for Swallow: not held against the model
])
def test_swallow_standin_from_a_given_tokenizer_model(capsys, tmp_path, model_type, options, says):
    import make_tiny_model
    from jaqg.models.standins import SpmLayout, train_sentencepiece
    layout = SpmLayout(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True, **options)
    model = train_sentencepiece(["山梨県の県庁所在地は甲府市です。", "富士山の高さは３７７６ｍです。"] * 20,
                                tmp_path / "tokenizer.model", layout, vocab_size=60, model_type=model_type)
    status, _, err = run_main_in_process(capsys, make_tiny_model.main, "make_tiny_model.py", "--like",
                                         "tokyotech-llm/Swallow-7b-hf", "--output_dir", tmp_path / "m",
                                         "--spiece_model", model)
    if says:
        assert status == 2 and err.count("\n") == 1 and says in err and not (tmp_path / "m").exists(), err
        return
    assert status == 0, err
    from jaqg.tokenization.hub import load_tokenizer
    tok = load_tokenizer(str(tmp_path / "m"), causal=True)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    for text in (*PROBE, "  富士山  は\u3000高い  "):
        assert tok(text)["input_ids"] == [1, *sp.encode(text)], text


def test_gemma_standin_renders_chat_data_with_its_turns(capsys, standins, tmp_path):
    """Gemma-2's template on prepare --format chat data: no system role (the template raises; the user passes
    --system_prompt= with nothing), turns <start_of_turn>user / model, each marker one token."""
    from jinja2.exceptions import TemplateError

    import prepare_jsquad
    model_dir = standins["google/gemma-2-2b"]
    status, _, err = run_main_in_process(capsys, prepare_jsquad.main, "prepare_jsquad.py", f"--jsquad_dir={EXAMPLES}",
                                         "--format=chat", "--system_prompt=", f"--output_dir={tmp_path / 'chat'}")
    assert status == 0, err
    record = json.loads((tmp_path / "chat" / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    tok = AutoTokenizer.from_pretrained(model_dir)
    user, answer = record["messages"]
    text = tok.apply_chat_template(record["messages"], tokenize=False)
    assert text == (f"<bos><start_of_turn>user\n{user['content'].strip()}<end_of_turn>\n"
                    f"<start_of_turn>model\n{answer['content'].strip()}<end_of_turn>\n")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids.count(tok.convert_tokens_to_ids("<start_of_turn>")) == 2 and ids[0] == tok.bos_token_id == 2
    with pytest.raises(TemplateError, match="System role not supported"):
        tok.apply_chat_template([{"role": "system", "content": "x"}, user], tokenize=False)
