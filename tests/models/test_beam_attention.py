"""jaqg.models.beam_attention: one cross-attention copy per input in beam search, same numbers as the plain path."""

import contextlib

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, DynamicCache, EncoderDecoderCache

from jaqg.generation.decoding import generate, load_model
from jaqg.models.beam_attention import BEAM_SHARED, BEAM_SHARED_SDPA, beam_search_cache
from jaqg.models.t5_attention import CHUNKED_T5

BEAMS = 4
# Lengths differ, so the batch is padded: the padding mask must reach the shared attention too.
TEXTS = ["森瀬市は山梨県の北部にある市である。森瀬市の人口は何人か。", "県", "answer: 森瀬市 context: 北部にある市"]


def decode_steps(model, tok, texts, shared: bool, steps: int = 4) -> torch.Tensor:
    """Logits of ``steps`` decoder steps for every beam row, teacher-forced with fixed tokens (no beam choices
    that could tell the two paths apart by a near tie): (inputs * beams, steps, vocab)."""
    enc = tok(texts, padding=True, return_tensors="pt")
    own = model.config._attn_implementation
    with torch.inference_mode(), contextlib.ExitStack() as stack:
        states = model.get_encoder()(**enc).last_hidden_state
        plain = EncoderDecoderCache(DynamicCache(), DynamicCache())  # transformers' own path
        cache = stack.enter_context(beam_search_cache(model, states, enc["attention_mask"])) if shared else plain
        assert model.config._attn_implementation == (BEAM_SHARED[own][0] if shared else own)
        rows = len(texts) * BEAMS
        ids = torch.full((rows, 1), model.config.decoder_start_token_id)
        logits = []
        for step in range(steps):
            out = model(encoder_outputs=(states.repeat_interleave(BEAMS, 0),),
                        attention_mask=enc["attention_mask"].repeat_interleave(BEAMS, 0), decoder_input_ids=ids,
                        cache=cache, use_cache=True)
            logits.append(out.logits[:, -1])
            beam = torch.arange(rows) % BEAMS
            ids = (beam * 3 + 5 + step)[:, None]  # the beams of an input now hold different tokens
            cache.reorder_cache(torch.arange(rows) - beam + (BEAMS - 1 - beam))  # and swap places, as beams do
    return torch.stack(logits, 1)


@pytest.fixture(params=["t5", "bart"])
def model_dir(request, tiny_t5_dir, tiny_bart_dir):
    return {"t5": tiny_t5_dir, "bart": tiny_bart_dir}[request.param]


@pytest.mark.parametrize("attention", ["sdpa", CHUNKED_T5])
def test_shared_cross_attention_matches_the_plain_path(model_dir, attention):
    torch.set_num_threads(1)
    model, tok = load_model(str(model_dir), device="cpu")
    if attention == CHUNKED_T5 and model.config.model_type != "t5":
        pytest.skip("jaqg.models.t5_attention is for the T5 family")
    model.set_attn_implementation(attention)
    plain = decode_steps(model, tok, TEXTS, shared=False)
    shared = decode_steps(model, tok, TEXTS, shared=True)
    assert (plain - shared).abs().max() < 1e-4  # float rounding only (a lost padding mask moved logits ~0.04)
    assert (plain[:, 1:] - plain[:, :1]).abs().max() > 1e-2  # the steps differ: the test can tell paths apart
    # One input alone (no padding) gives its rows of the batch, to rounding (as on the plain path: padding moves
    # the encoder's sums by ~2e-6).
    alone = decode_steps(model, tok, TEXTS[1:2], shared=True)
    assert (alone - shared[BEAMS:2 * BEAMS]).abs().max() < 1e-4


def test_several_new_tokens_per_beam_give_each_beam_its_copy(model_dir):
    """Decoding never feeds more than one token per beam; a forced prefix would, and must still be right."""
    model, tok = load_model(str(model_dir), device="cpu")
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    prefix = torch.tensor([[model.config.decoder_start_token_id, 5, 9]]).repeat(len(TEXTS) * BEAMS, 1)
    with torch.inference_mode():
        states = model.get_encoder()(**enc).last_hidden_state
        kw = dict(encoder_outputs=(states.repeat_interleave(BEAMS, 0),), decoder_input_ids=prefix,
                  attention_mask=enc["attention_mask"].repeat_interleave(BEAMS, 0), use_cache=True)
        plain = model(**kw, cache=EncoderDecoderCache(DynamicCache(), DynamicCache())).logits
        with beam_search_cache(model, states, enc["attention_mask"]) as cache:
            shared = model(**kw, cache=cache).logits
    assert (plain - shared).abs().max() < 1e-4


def test_cross_cache_holds_one_row_per_input_and_the_model_is_restored(model_dir):
    model, tok = load_model(str(model_dir), device="cpu")
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = model.get_encoder()(**enc).last_hidden_state
        with beam_search_cache(model, states, enc["attention_mask"]) as cache:
            assert model.config._attn_implementation == BEAM_SHARED_SDPA
        with pytest.raises(RuntimeError), beam_search_cache(model, states, enc["attention_mask"]):
            raise RuntimeError("interrupted")
    assert model.config._attn_implementation == "sdpa"
    layers = cache.cross_attention_cache.layers
    assert len(layers) == model.config.get_text_config(decoder=True).num_hidden_layers
    assert all(layer.keys.shape[0] == len(TEXTS) and layer.keys.shape[2] == states.shape[1] for layer in layers)
    assert cache.self_attention_cache.get_seq_length() == 0  # the filling step left no decoder token behind


def test_eager_attention_keeps_the_plain_path(tiny_t5_dir):
    """A model on eager attention is left alone (the shared path is an sdpa function) and still decodes."""
    torch.set_num_threads(1)
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    eager = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir, attn_implementation="eager").eval()
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        states = eager.get_encoder()(**enc).last_hidden_state
        with beam_search_cache(eager, states, enc["attention_mask"]) as cache:
            assert eager.config._attn_implementation == "eager"
    assert cache.cross_attention_cache.get_seq_length() == 0  # filled by beam search itself, one row per beam
    kw = dict(batch_size=len(TEXTS), num_beams=BEAMS, num_return_sequences=BEAMS, max_new_tokens=8, min_new_tokens=8)
    assert generate(eager, tok, TEXTS, **kw)[1][0] == generate(model, tok, TEXTS, **kw)[1][0]


def test_beam_search_does_not_depend_on_the_batch(tiny_t5_dir):
    torch.set_num_threads(1)
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    kw = dict(num_beams=BEAMS, num_return_sequences=BEAMS, max_new_tokens=10, min_new_tokens=10)
    batched = generate(model, tok, TEXTS, batch_size=len(TEXTS), **kw)
    assert batched == [generate(model, tok, [t], batch_size=1, **kw)[0] for t in TEXTS]
