"""jaqg.models.t5_attention: T5's attention in cache-sized chunks gives eager attention's numbers, forward and
backward."""

import copy

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, T5Config, T5ForConditionalGeneration

import jaqg.models.t5_attention as t5_attention
from jaqg.generation.decoding import generate, load_model
from jaqg.models.t5_attention import (
    CHUNKED_T5,
    _ChunkedAttention,
    chunked_attention,
    set_attention,
    use_chunked_attention,
)


def tiny_t5(dropout: float = 0.0) -> T5ForConditionalGeneration:
    torch.manual_seed(0)
    return T5ForConditionalGeneration(T5Config(vocab_size=300, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                                               num_decoder_layers=2, num_heads=4, dropout_rate=dropout,
                                               decoder_start_token_id=0))


def padded_batch(batch=5, length=37, target=9):
    """Inputs padded at the end by 0, 3, 6... tokens; one target shorter (labels -100)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 300, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    for i in range(batch):
        mask[i, length - 3 * i:] = 0
    labels = torch.randint(2, 300, (batch, target), generator=g)
    labels[1, 5:] = -100
    return dict(input_ids=ids, attention_mask=mask, labels=labels)


def loss_and_grads(model, attention: str, batch) -> tuple[float, dict]:
    model = copy.deepcopy(model).train()
    model.set_attn_implementation(attention)
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), {n: p.grad for n, p in model.named_parameters()}


# 1 MiB: several examples per chunk; 2 KiB: one head of one example per chunk (37 x 37 scores of 4 bytes > 2 KiB
# is still one head: the smallest chunk); 12 KiB: a few heads of one example
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 2048, 12 * 1024])
def test_training_loss_and_gradients_equal_eager_attention(monkeypatch, chunk_bytes):
    torch.set_num_threads(1)
    monkeypatch.setattr(t5_attention, "CHUNK_BYTES", chunk_bytes)
    model, batch = tiny_t5(), padded_batch()
    eager_loss, eager = loss_and_grads(model, "eager", batch)
    calls = []
    apply = _ChunkedAttention.apply
    monkeypatch.setattr(_ChunkedAttention, "apply", lambda *a: calls.append(1) or apply(*a))
    loss, grads = loss_and_grads(model, CHUNKED_T5, batch)
    assert len(calls) == 6  # every attention of both stacks ran here: 2 encoder, 2 + 2 decoder
    assert loss == pytest.approx(eager_loss, abs=1e-6)
    for name, grad in eager.items():
        assert torch.allclose(grads[name], grad, atol=1e-6, rtol=1e-5), name
    bias = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
    assert eager[bias].abs().max() > 1e-4  # the position bias is learned through this attention


def test_a_batch_without_padding_still_gets_the_decoders_causal_mask():
    """No padding: the encoder's and cross-attention's masks are dropped (None, nothing to mask), but the decoder's
    causal mask over the whole target must not be (a future token would leak into the loss)."""
    batch = padded_batch()
    batch["attention_mask"] = torch.ones_like(batch["attention_mask"])
    model = tiny_t5()
    eager_loss, eager = loss_and_grads(model, "eager", batch)
    loss, grads = loss_and_grads(model, CHUNKED_T5, batch)
    assert loss == pytest.approx(eager_loss, abs=1e-6)
    assert all(torch.allclose(grads[n], g, atol=1e-6, rtol=1e-5) for n, g in eager.items())


def test_gradients_with_dropout_and_a_broadcast_bias_match_finite_differences():
    """The backward pass by hand (dropout mask kept, bias summed over examples) against torch.autograd.gradcheck,
    in float64, with the random dropout draws fixed by reseeding before every forward."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, 3, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.zeros(2, 1, 1, 5, dtype=torch.float64)
    mask[1, ..., 3:] = torch.finfo(torch.float64).min  # the second example's last two keys are padding

    def attention(q, k, v, bias):
        torch.manual_seed(0)
        return _ChunkedAttention.apply(q, k, v, bias, mask, 1.0, 0.3)

    out = attention(q, k, v, bias)
    assert (out != _ChunkedAttention.apply(q, k, v, bias, mask, 1.0, 0.0)).any()  # dropout did drop something
    assert torch.autograd.gradcheck(attention, (q, k, v, bias))


def test_dropout_keeps_the_expected_output():
    """Dropout on the probabilities, rescaled by 1 / (1 - p): averaged over many draws, the output without it."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 3, 4, generator=g) for _ in range(3))
    plain = _ChunkedAttention.apply(q, k, v, None, None, 1.0, 0.0)
    torch.manual_seed(0)
    dropped = torch.stack([_ChunkedAttention.apply(q, k, v, None, None, 1.0, 0.5) for _ in range(4000)])
    assert (dropped[0] != plain).any()
    assert torch.allclose(dropped.mean(0), plain, atol=0.05)


def test_generation_gives_sdpa_tokens_and_restores_the_model(tiny_t5_dir):
    """jaqg.generation.decoding runs on the chunked attention (greedy and beam search), with transformers' sdpa
    tokens."""
    torch.set_num_threads(1)
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    texts = ["森瀬市は山梨県の北部にある市である。森瀬市の人口は何人か。" * 6, "県",
             "answer: 森瀬市 context: 北部にある市"]
    enc = tok(texts, padding=True, return_tensors="pt")
    fixed = dict(max_new_tokens=12, min_new_tokens=12)
    for beams in (1, 4):
        with torch.inference_mode():
            plain = model.generate(**enc, num_beams=beams, num_return_sequences=1, **fixed)
        expected = [tok.decode(ids, skip_special_tokens=True).strip() for ids in plain]
        assert [out[0] for out in generate(model, tok, texts, num_beams=beams, **fixed)] == expected
        assert model.config._attn_implementation == "sdpa"
    with torch.inference_mode():  # and the encoder's states agree to float rounding
        sdpa = model.get_encoder()(**enc).last_hidden_state
        with chunked_attention(model):
            assert model.config._attn_implementation == CHUNKED_T5
            chunked = model.get_encoder()(**enc).last_hidden_state
    valid = enc["attention_mask"].bool()
    assert (sdpa[valid] - chunked[valid]).abs().max() < 1e-4


def test_a_model_loaded_with_eager_attention_keeps_it(tiny_t5_dir):
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir, attn_implementation="eager")
    with chunked_attention(model):
        assert model.config._attn_implementation == "eager"


def test_only_the_t5_family_switches_and_the_switch_is_not_saved(tmp_path, tiny_gpt2_dir):
    model = tiny_t5()
    set_attention(model, "auto")
    assert model.config._attn_implementation == CHUNKED_T5
    model.save_pretrained(tmp_path)
    assert "jaqg" not in (tmp_path / "config.json").read_text()
    assert AutoModelForSeq2SeqLM.from_pretrained(tmp_path).config._attn_implementation == "sdpa"
    gpt2, _ = load_model(str(tiny_gpt2_dir), device="cpu")
    before = gpt2.config._attn_implementation
    assert not use_chunked_attention(gpt2)
    set_attention(gpt2, "auto")
    assert gpt2.config._attn_implementation == before


def test_attention_weights_asked_for_come_from_the_eager_path():
    """Weights and logits as eager attention gives them, padding masked (eager adds the mask: it must not get
    the boolean one, which would add 1 and 0)."""
    model, batch = tiny_t5().eval(), padded_batch()
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    use_chunked_attention(model)
    with torch.no_grad():
        out, want = model(**batch, output_attentions=True), eager(**batch, output_attentions=True)
    assert torch.allclose(out.logits, want.logits, atol=1e-5)
    for got, expected in zip(out.encoder_attentions + out.cross_attentions,
                             want.encoder_attentions + want.cross_attentions):
        assert torch.allclose(got, expected, atol=1e-6)
    assert out.encoder_attentions[0][4, :, :, -12:].abs().max() == 0  # the last example's 12 padding tokens
