"""The CTranslate2 backend: the transformers backend's outputs (float32 greedy, exactly), converted once into a user
cache dir (never the model dir), options it cannot do stop with one line."""

import pytest
import torch
from trained_models import FACT, SEED, aqg_pairs

from jaqg.core.errors import ParamError
from jaqg.generation.ct2 import Ct2Model, converted
from jaqg.generation.decoding import generate, load_model

INPUTS = [x for x, _ in aqg_pairs()] + ["森瀬市は山梨県の北部にある市である。", "県"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAQG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "ct2"


@pytest.mark.parametrize("name", ["aqg", "gpt"])
def test_float32_greedy_equals_the_transformers_backend(models, cache, name):
    torch.set_num_threads(1)
    hf_model, tok = load_model(str(models[name]), device="cpu")
    ct_model, ct_tok = load_model(str(models[name]), device="cpu", backend="ctranslate2", threads=1)
    assert isinstance(ct_model, Ct2Model)
    want = generate(hf_model, tok, INPUTS, batch_size=3, max_new_tokens=24)
    got = generate(ct_model, ct_tok, INPUTS, batch_size=3, max_new_tokens=24)
    assert got == want
    assert got[:2] == [[q] for _, q in aqg_pairs()]  # the memorised questions, not just agreement on noise
    beams = generate(ct_model, ct_tok, INPUTS[:2], num_beams=4, num_return_sequences=2, max_new_tokens=24)
    # Beam search runs and gives the n-best, but is not asserted equal: CTranslate2 normalises a decoder-only
    # hypothesis by its output length (transformers by prompt + output), and on this tiny model its beam-4 best
    # differed from transformers' in about 1 run in 13 even for the T5 (close scores, summed in another order).
    assert all(len(b) == 2 and len(set(b)) == 2 for b in beams)

def test_bad_words_and_int8(models, cache):
    model, tok = load_model(str(models["aqg"]), device="cpu", backend="ctranslate2", ct2_compute_type="int8")
    outputs = generate(model, tok, INPUTS[:2], num_beams=4, max_new_tokens=24, bad_words=["山梨"])
    assert all("山梨" not in o for out in outputs for o in out)
    assert generate(model, tok, INPUTS[:1], max_new_tokens=24) == [[SEED[2]]]  # int8 keeps this memorised one


def test_converted_once_into_the_cache_not_the_model_dir(models, cache):
    before = sorted(p.name for p in models["aqg"].iterdir())
    first = converted(models["aqg"], "float32")
    assert first.parent == cache and (first / "model.bin").is_file()
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert converted(models["aqg"], "float32") == first and (first / "model.bin").stat().st_mtime_ns == stamp
    assert converted(models["aqg"], "int8") != first  # keyed by the compute type too
    assert sorted(p.name for p in models["aqg"].iterdir()) == before


def test_what_it_cannot_do_stops_with_one_line(models, cache):
    model, tok = load_model(str(models["aqg"]), device="cpu", backend="ctranslate2")
    with pytest.raises(ParamError, match="num_beam_groups.*transformers `backend`"):
        generate(model, tok, INPUTS[:1], num_beams=4, num_beam_groups=2, diversity_penalty=1.0)
    with pytest.raises(ParamError, match="ct2_compute_type"):
        converted(models["aqg"], "int3")
    with pytest.raises(ParamError, match="backend"):
        load_model(str(models["aqg"]), backend="onnx")


def test_predict_runs_on_ctranslate2(models, cache, tmp_path, capsys):
    from conftest import run_main_in_process

    from jaqg.cli import predict
    data = tmp_path / "in.tsv"
    data.write_text("".join(f"x{i}\t{x}\t{q}\n" for i, (x, q) in enumerate(aqg_pairs())), encoding="utf-8")
    out = tmp_path / "p.tsv"
    status, _, err = run_main_in_process(capsys, predict.main, "predict.py", "--model_name_or_path", models["aqg"],
                                         "--input_file", data, "--output_file", out, "--backend", "ctranslate2",
                                         "--device", "cpu", "--progress", "false")
    assert status == 0, err
    assert [line.split("\t")[1] for line in out.read_text(encoding="utf-8").splitlines()] == [SEED[2], FACT[2]]
