"""run_clm.py: causal-LM fine-tuning on AQG-HL GPT files, prompt masking, LoRA (train, merge), --group_texts.

The runs call ``run_clm.main`` in this process (one import of torch/Lightning for all of them) on a GPT-2 far
smaller than the shared tiny_gpt2_dir (64-d, 2 layers: ~10 s for 80 steps on one shared core), with the tokenizer
builder of jaqg.models.tiny and the data of the real pipeline (synthetic JSQuAD -> prepare_jsquad_aqg --format gpt).
"""

import json
import math
from pathlib import Path

import pytest
import torch

from jaqg.cli import train_clm as run_clm
from jaqg.cli.args import run_cli
from jaqg.core.errors import UserError
from jaqg.data.batching import IGNORE_INDEX
from jaqg.data.clm_data import (
    encode_example,
    fit_block,
    group_texts,
    load_clm_dataset,
    load_tokenizer,
    read_gpt_examples,
)
from jaqg.data.formats import GPT_END, GPT_SEP, HL_TOKEN
from jaqg.models.lora import add_lora, load_causal_lm

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def gpt_data(synthetic_jsquad_dir, tmp_path_factory) -> Path:
    import prepare_jsquad_aqg
    out = tmp_path_factory.mktemp("clm") / "data_gpt"
    prepare_jsquad_aqg.main(["--highlight", "--format=gpt", f"--jsquad_dir={synthetic_jsquad_dir}",
                             f"--output_dir={out}"])
    return out


@pytest.fixture(scope="module")
def small_gpt2(gpt_data, tmp_path_factory) -> Path:
    """A random 64-d, 2-layer GPT-2 with one token per character (<hl>, <sep> special, nothing appended).

    Built here rather than with jaqg.models.tiny's trained tokenizer: that one numbers equal-score pieces differently
    from run to run, which makes a short training run (and so this test) non-deterministic.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(gpt_data.glob("*.txt")))
    specials = ["<pad>", "</s>", "<unk>", HL_TOKEN, GPT_SEP]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(specials + sorted(set(text) - {"\n"}))},
                                         unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                  additional_special_tokens=[HL_TOKEN, GPT_SEP])
    config = GPT2Config(vocab_size=len(tok), n_embd=64, n_layer=2, n_head=2, n_positions=512, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=tok.pad_token_id,
                        eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("clm") / "gpt2_64"
    GPT2LMHeadModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def clm(*flags: str) -> None:
    run_clm.main([*flags, "--per_device_train_batch_size=16", "--per_device_eval_batch_size=16",
                  "--seed=0", "--accelerator=cpu", "--devices=1", "--eval_tokenizers=char"])


def val_loss_of(model_dir, tokenizer_dir, validation_file) -> float:
    tokenizer = load_tokenizer(str(tokenizer_dir))
    dataset = load_clm_dataset(validation_file, tokenizer, 512)
    return run_clm.perplexity(load_causal_lm(str(model_dir)), tokenizer, dataset, 16)[0]


@pytest.fixture(scope="module")
def trained(small_gpt2, gpt_data, tmp_path_factory) -> Path:
    """The README recipe's flags (--flag=value style) on the small model, from scratch, 100 steps."""
    out = tmp_path_factory.mktemp("clm") / "output_gpt"
    clm(f"--model_name_or_path={small_gpt2}", f"--train_file={gpt_data}/train.txt",
        f"--validation_file={gpt_data}/dev.txt", "--do_train", "--do_eval", "--num_train_epochs=10",
        "--max_steps=100", "--save_steps=20", "--save_total_limit=2", "--learning_rate=3e-3",
        f"--output_dir={out}", "--use_fast_tokenizer=False")
    return out


def test_prompt_tokens_carry_no_loss(small_gpt2, gpt_data):
    tokenizer = load_tokenizer(str(small_gpt2))
    example = read_gpt_examples(gpt_data / "train.txt")[0][0]
    prompt, question = example.prompt, example.target
    feature = encode_example(tokenizer, prompt, question)
    ids, labels = feature["input_ids"], feature["labels"]
    n_prompt = len(tokenizer(prompt + GPT_SEP, add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert ids[n_prompt - 1] == tokenizer.convert_tokens_to_ids(GPT_SEP)
    # the labelled part is the question and the tokenizer's own end token (the file's </s> is only a marker)
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[n_prompt:-1]) == question
    # too long for the block: the prompt loses its start; separator, question and eos stay
    n_question = len(ids) - n_prompt
    cut = fit_block(feature, n_question + 5)
    assert cut["input_ids"] == ids[-(n_question + 5):] and cut["labels"] == labels[-(n_question + 5):]


def test_recipe_trains_lowers_val_loss_and_writes_questions(trained, small_gpt2, gpt_data):
    untrained = val_loss_of(small_gpt2, small_gpt2, gpt_data / "dev.txt")
    metrics = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["val_loss"] < 0.6 * untrained, (metrics["val_loss"], untrained)
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["val_loss"]))
    assert set(metrics["jglue"]) == {"exact_match", "f1"}  # JGLUE's official EM/F1 beside ours
    assert metrics["jglue_references"].startswith("the references")  # a GPT file has no raw golds beside it
    # the exported model is the best checkpoint: reloading it gives the loss --do_eval reported
    assert val_loss_of(trained, trained, gpt_data / "dev.txt") == pytest.approx(metrics["val_loss"], rel=1e-5)
    rows = [line.split("\t") for line in (trained / "predictions.tsv").read_text(encoding="utf-8").splitlines()]
    n_dev = len((gpt_data / "dev.txt").read_text(encoding="utf-8").splitlines())
    assert len(rows) == n_dev == metrics["n"]
    questions = [r[1] for r in rows]
    assert sum(q.endswith("か。") for q in questions) >= n_dev / 2, questions  # every target ends so
    assert not any(GPT_SEP in q or "<hl>" in q for q in questions)
    assert len(list((trained / "checkpoints").glob("best-*.ckpt"))) == 2  # --save_total_limit=2
    assert (trained / "loss_curve.png").is_file() and (trained / "model.safetensors").is_file()
    assert json.loads((trained / "run_config.json").read_text())["data"]["format"] == "gpt"


def test_lora_trains_only_adapters_and_merged_export_matches(trained, gpt_data, tmp_path, capsys):
    out = tmp_path / "lora"
    clm(f"--model_name_or_path={trained}", f"--train_file={gpt_data}/train.txt",
        f"--validation_file={gpt_data}/dev.txt", "--do_train", "--do_eval", "--max_steps=20", "--save_steps=10",
        "--lora_r", "8", "--learning_rate=1e-2", "--merge_lora", f"--output_dir={out}", "--max_eval_samples=8",
        "--gradient_checkpointing")  # frozen embeddings + checkpointing: adapters must still get gradients
    # GPT-2's fused c_attn (Conv1D 64 -> 192) in 2 layers: r * (64 + 192) * 2 adapter weights
    share = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trainable parameters")]
    assert share and share[0].startswith(f"trainable parameters: {8 * (64 + 192) * 2:,} of ")

    base, merged = load_causal_lm(str(trained)), load_causal_lm(str(out))
    base_params, changed = dict(base.named_parameters()), []
    for name, p in merged.named_parameters():
        if not torch.equal(p, base_params[name]):
            changed.append(name)
    assert changed and all(".attn.c_attn.weight" in n for n in changed), changed  # nothing else moved

    adapter = load_causal_lm(str(out / "adapter")).eval()  # base (named in adapter_config.json) + adapter
    tokenizer = load_tokenizer(str(out))
    prompt = (gpt_data / "dev.txt").read_text(encoding="utf-8").splitlines()[0].split(GPT_SEP)[0] + GPT_SEP
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(merged.eval()(ids).logits, adapter(ids).logits, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(base.eval()(ids).logits, adapter(ids).logits, atol=1e-3)
    merged_loss = json.loads((out / "metrics.json").read_text())["val_loss"]
    clm("--do_eval", f"--output_dir={out / 'adapter'}", f"--validation_file={gpt_data}/dev.txt",
        "--max_eval_samples=8")
    assert json.loads((out / "adapter" / "metrics.json").read_text())["val_loss"] == pytest.approx(merged_loss,
                                                                                                  rel=1e-4)
    # checkpoints hold the adapter (and its optimizer state), not the frozen base
    ckpts = sorted((out / "checkpoints").glob("*.ckpt"))
    assert len(ckpts) == 2 and all(c.stat().st_size < 0.25 * (trained / "model.safetensors").stat().st_size
                                   for c in ckpts), [c.stat().st_size for c in ckpts]
    assert all("lora_" in k for c in ckpts for k in torch.load(c, weights_only=False)["state_dict"])
    # ... and still resume and export
    capsys.readouterr()
    clm(f"--model_name_or_path={trained}", f"--train_file={gpt_data}/train.txt",
        f"--validation_file={gpt_data}/dev.txt", "--do_train", "--max_steps=30", "--save_steps=10",
        "--lora_r", "8", "--learning_rate=1e-2", "--merge_lora", f"--output_dir={out}", "--resume")
    assert "resumed at step 20" in capsys.readouterr().out
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 30
    from jaqg.training.log import read_log
    assert read_log(out / "logs" / "metrics.csv")["val_loss"][-1][0] >= 29  # validated after the resume
    resumed = load_causal_lm(str(out)).eval()  # the best of all validations, merged again
    with torch.no_grad():
        torch.testing.assert_close(resumed(ids).logits, load_causal_lm(str(out / "adapter")).eval()(ids).logits,
                                   atol=1e-4, rtol=1e-4)


def test_lora_defaults_and_bad_targets(small_gpt2):
    model = add_lora(load_causal_lm(str(small_gpt2)), r=4, alpha=8)
    assert model.peft_config["default"].fan_in_fan_out  # GPT-2's Conv1D stores weights transposed
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with pytest.raises(UserError, match="matches no layer"):
        add_lora(load_causal_lm(str(small_gpt2)), r=4, alpha=8, target_modules=["q_proj"])


def test_group_texts(small_gpt2, gpt_data, tmp_path):
    tokenizer = load_tokenizer(str(small_gpt2))
    assert group_texts([[1, 2, 3], [4, 5], [6, 7, 8, 9]], 4) == [[1, 2, 3, 4], [5, 6, 7, 8], [9]]
    plain = tmp_path / "plain.txt"
    plain.write_text("甲府市は山梨県の県庁所在地です。\n\n富士山は日本で一番高い山です。</s>\n", encoding="utf-8")
    blocks = load_clm_dataset(plain, tokenizer, 8, group=True)
    flat = [t for f in blocks.features for t in f["input_ids"]]
    assert all(len(f["input_ids"]) <= 8 and f["labels"] == f["input_ids"] for f in blocks.features)
    assert flat.count(tokenizer.eos_token_id) == 2  # one per document; the literal </s> became the eos token
    out = tmp_path / "lm"
    clm(f"--model_name_or_path={small_gpt2}", f"--train_file={gpt_data}/train.txt",
        f"--validation_file={gpt_data}/dev.txt", "--group_texts", "--block_size=64", "--do_train", "--do_eval",
        "--max_steps=15", "--save_steps=15", "--learning_rate=3e-3", f"--output_dir={out}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_loss"] < math.log(len(tokenizer))  # below a uniform guess over the vocabulary
    assert not (out / "predictions.tsv").exists()  # plain LM text has no prompts to answer


def test_bad_line_is_one_line_error_or_skipped(small_gpt2, tmp_path, capsys):
    bad = tmp_path / "train.txt"
    bad.write_text(f"甲府市は<hl>山梨県<hl>にある。{GPT_SEP}甲府市はどこにあるか。{GPT_END}\n\n"
                   f"区切りのない行です。{GPT_END}\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = [f"--model_name_or_path={small_gpt2}", f"--train_file={bad}", f"--validation_file={bad}", "--do_train",
            f"--output_dir={out}"]
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: run_clm.main(argv), prog="run_clm.py")
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err
    assert f"{bad}:3: no {GPT_SEP} separator" in err and "--skip_bad_lines" in err
    assert not out.exists()
    examples, report = read_gpt_examples(bad, skip_bad_lines=True)
    assert [e.line for e in examples] == [1] and report.skipped == 1 and f"{bad}:3" in str(report)


def test_do_lower_case_from_tokenizer_config(tmp_path):
    """rinna/japanese-gpt2-medium's files ask for lowercasing; transformers 5 ignores the flag, we do not."""
    import sentencepiece as spm
    text = ["GPTモデルは文章を書く。", "gpt model ABC abc", "山梨県の県庁所在地は甲府市です。"] * 30
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_prefix=str(tmp_path / "sp"), vocab_size=80,
                                   hard_vocab_limit=False, pad_id=3, minloglevel=2)
    model_dir = tmp_path / "rinna_like"
    model_dir.mkdir()
    (tmp_path / "sp.model").rename(model_dir / "spiece.model")
    (model_dir / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "do_lower_case": True, "extra_ids": 0, "eos_token": "</s>"}))
    tokenizer = load_tokenizer(str(model_dir), use_fast=False)
    assert tokenizer.tokenize("GPT ABC") == tokenizer.tokenize("gpt abc")
    tokenizer.save_pretrained(tmp_path / "saved")  # what run_clm.py exports with the model
    reloaded = load_tokenizer(str(tmp_path / "saved"))
    assert reloaded("GPT ABC")["input_ids"] == tokenizer("gpt abc")["input_ids"]
    assert reloaded.decode(reloaded("山梨県の甲府市", add_special_tokens=False)["input_ids"]) == "山梨県の甲府市"


@pytest.mark.parametrize("flags, want", [
    (["--block_size=1000"], "--block_size 1000 exceeds the model's context of 512 tokens"),
    (["--block_size=64", "--do_eval", "--max_new_tokens=512"],
     "--max_new_tokens 512 leaves no room for a prompt in the model's context of 512 tokens"),
])
def test_lengths_past_the_position_embeddings_stop_with_one_line(small_gpt2, gpt_data, tmp_path, capsys, flags, want):
    """A GPT-2 has n_positions position embeddings: a block or a generation past them would index beyond them."""
    out = tmp_path / "out"
    argv = [f"--model_name_or_path={small_gpt2}", f"--train_file={gpt_data}/train.txt",
            f"--validation_file={gpt_data}/dev.txt", "--do_train", f"--output_dir={out}", *flags]
    capsys.readouterr()  # the fixtures' output
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: run_clm.main(argv), prog="run_clm.py")
    err = capsys.readouterr().err.strip()  # transformers' loading bar, then the error's one line
    assert exit_.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"run_clm.py: error: {want}")
    assert not (out / "checkpoints").exists()
