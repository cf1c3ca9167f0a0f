import re

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from jaqg.core.errors import UserError
from jaqg.models.tiny import build_tiny_model, ensure_special_tokens

TEXT = "question: 森瀬市の人口はおよそ何人か。 context: 森瀬市 [SEP] 森瀬市は岐阜県にある市で、人口は約80900人。"
SCRIPTS = [r"[\u4e00-\u9fff々〆ヶ]+", r"[\u3041-\u309f]+", r"[\u30a1-\u30faー]+", r"[0-9]", r"[A-Za-z]+", r"."]


def test_t5_tokenizer_splits_japanese_and_round_trips(tiny_t5_dir):
    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    ids = tok(TEXT).input_ids
    pieces = tok.convert_ids_to_tokens(ids)
    assert tok.unk_token_id not in ids
    assert len(ids) > 30 and ids[-1] == tok.eos_token_id  # many pieces, not one <unk>; T5-style </s>
    assert tok.decode(ids, skip_special_tokens=True) == TEXT
    # no piece straddles a change of script, so a name is the same pieces before any particle
    for piece in pieces[:-1]:
        assert any(re.fullmatch(p, piece) for p in SCRIPTS), piece
    hl = tok("<hl>森瀬市<hl>", add_special_tokens=False).input_ids
    assert hl[0] == hl[-1] == tok.convert_tokens_to_ids("<hl>") and len(hl) > 2
    assert tok.convert_tokens_to_ids("<sep>") != tok.unk_token_id


@pytest.mark.parametrize("fixture,auto", [("tiny_t5_dir", AutoModelForSeq2SeqLM),
                                          ("tiny_bart_dir", AutoModelForSeq2SeqLM),
                                          ("tiny_gpt2_dir", AutoModelForCausalLM)])
def test_models_load_train_and_generate(request, fixture, auto):
    torch.set_num_threads(1)
    model_dir = request.getfixturevalue(fixture)
    assert (model_dir / "model.safetensors").is_file()
    tok, model = AutoTokenizer.from_pretrained(model_dir), auto.from_pretrained(model_dir)
    assert model.get_input_embeddings().num_embeddings == len(tok)
    batch = tok(["森瀬市は岐阜県にある。", "ヤタリ電機"], return_tensors="pt", padding=True)
    labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
    loss = model(**batch, labels=labels).loss
    assert torch.isfinite(loss) and loss.item() > 1.0  # random weights: near log(vocab)
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 2
    if fixture == "tiny_gpt2_dir":  # a causal LM's text files carry their own end marker
        assert tok("森瀬市").input_ids[-1] != tok.eos_token_id


def _tokenizer_without_hl():
    backend = Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 1, "<unk>": 2, "a": 3}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend,
                                   pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


@pytest.mark.parametrize("model_vocab,expected_embeddings", [(4, 6), (10, 10)])
def test_ensure_special_tokens_resizes_only_when_needed(model_vocab, expected_embeddings):
    tok = _tokenizer_without_hl()
    model = T5ForConditionalGeneration(T5Config(vocab_size=model_vocab, d_model=8, d_ff=8, d_kv=4, num_heads=2,
                                                num_layers=1, decoder_start_token_id=0))
    assert ensure_special_tokens(model, tok) == 2
    assert model.get_input_embeddings().num_embeddings == expected_embeddings
    ids = tok("a <hl> a <sep>", add_special_tokens=False).input_ids
    assert tok.convert_tokens_to_ids("<hl>") in ids and tok.unk_token_id not in ids and len(ids) == 4
    assert tok.decode(ids, skip_special_tokens=True).split() == ["a", "a"]
    model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids]))  # new ids index the grown embeddings
    assert ensure_special_tokens(model, tok) == 0  # idempotent


def test_bad_inputs_are_one_line_errors(tmp_path, run):
    with pytest.raises(UserError, match="no such data dir"):
        build_tiny_model(tmp_path / "missing", tmp_path / "m")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.md").write_text("mine", encoding="utf-8")
    with pytest.raises(UserError, match="not a model dir"):
        build_tiny_model(tmp_path, tmp_path / "notes")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.tsv").write_text("1\tonly two fields\n", encoding="utf-8")
    proc = run("make_tiny_model.py", "--data_dir", tmp_path / "d", "--output_dir", tmp_path / "m")
    assert proc.returncode == 2 and "train.tsv:1:" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "m").exists()


def test_locality_prior_makes_encoder_heads_look_at_neighbours(tiny_t5_dir):
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir, attn_implementation="eager")  # sdpa hides weights
    ids = tok(TEXT, return_tensors="pt").input_ids
    att = model.encoder(input_ids=ids, output_attentions=True).attentions[0][0]  # (heads, query, key)
    n = ids.shape[1]
    for head, offset in enumerate((-1, 1, -2, 2)):
        inside = [q for q in range(n) if 0 <= q + offset < n]
        on_neighbour = sum(att[head, q, q + offset].item() for q in inside) / len(inside)
        assert on_neighbour > 0.2 > 10 / n, (head, on_neighbour)  # uniform attention would give 1/n


def test_two_runs_build_the_same_tokenizer_and_model(tmp_path, run):
    # pieces of equal score came out in a per-process hash order, so the same data gave other ids and other runs
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.tsv").write_text(
        "".join(f"{i}\t{TEXT}\t森瀬市の人口は{i}人。\n" for i in range(20)), encoding="utf-8")
    for n in (1, 2):
        run("make_tiny_model.py", "--data_dir", tmp_path / "d", "--output_dir", tmp_path / f"m{n}", check=True,
            env={"PYTHONHASHSEED": str(n)})
    for name in ("tokenizer.json", "model.safetensors"):
        assert (tmp_path / "m1" / name).read_bytes() == (tmp_path / "m2" / name).read_bytes(), name
