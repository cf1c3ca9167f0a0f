"""Nothing is lost silently: unknown tokens, inputs over the limit, characters cut at the limit, positions."""

import pytest
from tokenizers import Tokenizer, decoders
from tokenizers.models import Unigram
from transformers import PreTrainedTokenizerFast

from jaqg.core.errors import ParamError
from jaqg.generation import decoding
from jaqg.generation.decoding import generate, load_model
from jaqg.generation.fitting import fit_input
from jaqg.generation.outputs import GenerationStats, decode_output, resolve_unknown

CONTEXT = "鴎山村は1888年に村制を施行した。"


def forced(tokenizer, text: str):
    """A prefix_allowed_tokens_fn that makes any model write ``text`` and stop."""
    target = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

    def allowed(batch_id, ids):
        step = len(ids) - 1  # seq2seq outputs start with the decoder start token
        return [target[min(step, len(target) - 1)]]
    return allowed


def test_unknown_token_is_kept_visible_in_free_text(tiny_t5_dir):
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    stats = GenerationStats()
    out = generate(model, tok, [f"question generation: <hl>{CONTEXT}<hl>"], keep_special_tokens=("<sep>",),
                   prefix_allowed_tokens_fn=forced(tok, "鴎山村 <sep> 1888年"), stats=stats)
    assert out[0][0].replace(" ", "") == "<unk>山村<sep>1888年"
    assert stats.unk_in_outputs == 1


def test_extractive_output_with_unknown_token_is_mapped_back_to_the_source(tiny_t5_dir):
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    stats = GenerationStats()
    question = f"question: 何村か。 context: {CONTEXT}"
    out = generate(model, tok, [question, "question: 何村か。 context: 甲府市"], extractive=True, stats=stats,
                   prefix_allowed_tokens_fn=forced(tok, "鴎山村"))
    assert out == [["鴎山村"], []]  # the second context does not hold it: dropped, not returned without 鴎
    assert (stats.unk_in_outputs, stats.unk_resolved, stats.unk_dropped) == (2, 1, 1)


def test_resolve_unknown_needs_a_unique_span(tiny_t5_dir):
    _, tok = load_model(str(tiny_t5_dir), device="cpu")
    assert resolve_unknown(tok, "<unk>山村", "ここは鴎山村です") == "鴎山村"
    assert resolve_unknown(tok, "<unk>山村", "鴎山村と鵯山村") is None  # two different spans: undetermined
    assert resolve_unknown(tok, "<unk>山村", "山村") is None


def test_long_input_is_windowed_around_the_highlight(tiny_t5_dir, monkeypatch):
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    seen = []
    real = decoding._generate_batch
    monkeypatch.setattr(decoding, "_generate_batch",
                        lambda m, t, seqs, **kw: seen.extend(seqs) or real(m, t, seqs, **kw))
    text = "question generation: " + "山梨県の県庁所在地は甲府市です。" * 40 + "村制は<hl>1888年<hl>に施行。"
    stats = GenerationStats()
    generate(model, tok, [text], max_input_length=64, max_new_tokens=4, stats=stats)
    kept = tok.decode(seen[0])
    assert len(seen[0]) <= 64 and kept.count("<hl>") == 2 and kept.startswith("question generation: ")
    assert "1888年" in kept
    assert (stats.inputs, stats.inputs_cut) == (1, 1)


def test_long_qa_input_gets_overlapping_windows_that_keep_the_question(tiny_t5_dir, monkeypatch):
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    seen = []
    real = decoding._generate_batch
    monkeypatch.setattr(decoding, "_generate_batch",
                        lambda m, t, seqs, **kw: seen.extend(seqs) or real(m, t, seqs, **kw))
    text = "question: 県庁所在地はどこか。 context: " + "".join(f"{i}番目の文です。" for i in range(80))
    stats = GenerationStats()
    out = generate(model, tok, [text], max_input_length=64, max_new_tokens=4, stats=stats)
    windows = [tok.decode(s) for s in seen]
    head = tok.decode(tok("question: 県庁所在地はどこか。 context:", add_special_tokens=False)["input_ids"])
    assert len(windows) > 2 and all(w.startswith(head) for w in windows)
    assert "79" in windows[-1] and "0" in windows[0] and stats.inputs_cut == 1 and len(out) == 1


def test_windows_refuse_an_input_whose_highlight_cannot_fit():
    count = len
    with pytest.raises(ParamError, match="cannot hold the highlighted span"):
        fit_input("x" * 50 + "<hl>" + "y" * 30 + "<hl>", count, 20)


def test_prompt_plus_new_tokens_past_the_positions_is_cut_not_an_index_error(tiny_gpt2_dir):
    model, tok = load_model(str(tiny_gpt2_dir), device="cpu")
    limit = model.config.n_positions
    text = "<hl>1888年<hl>" + "甲" * 4000
    n = len(tok(text)["input_ids"])
    text = "甲" * (limit - 10 - n + 4000) + "<hl>1888年<hl>"
    stats = GenerationStats()
    out = generate(model, tok, [text], max_input_length=limit, max_new_tokens=16, stats=stats)
    assert len(out) == 1 and stats.inputs_cut == 1 and stats.inputs_cut_for_positions == 1
    with pytest.raises(ParamError, match=f"model's {limit} positions"):
        generate(model, tok, ["甲"], max_input_length=8, max_new_tokens=limit)


def _byte_fallback_tokenizer():
    vocab = [("<unk>", 0.0), ("</s>", 0.0), ("<pad>", 0.0)] + [(f"<0x{b:02X}>", -10.0) for b in range(256)]
    vocab += [("甲", -1.0), ("府", -1.0)]
    tok = Tokenizer(Unigram(vocab, unk_id=0, byte_fallback=True))
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="</s>", pad_token="<pad>")


def test_character_cut_in_half_at_the_limit_is_trimmed():
    tok = _byte_fallback_tokenizer()
    ids = tok("甲府鴎", add_special_tokens=False)["input_ids"]  # 鴎: three byte pieces
    assert len(ids) == 5
    stats = GenerationStats()
    assert tok.decode(ids[:4]).startswith("甲府\ufffd")  # what was written before
    assert decode_output(tok, ids[:4], set(), True, stats) == "甲府"
    assert stats.outputs_cut_at_limit == 1
    assert decode_output(tok, ids, set(), True, stats) == "甲府鴎" and stats.outputs_cut_at_limit == 1
    # a real U+FFFD (complete bytes EF BF BD) is left alone
    real = tok("甲\ufffd", add_special_tokens=False)["input_ids"]
    assert decode_output(tok, real, set(), True, stats) == "甲\ufffd" and stats.outputs_cut_at_limit == 1


def test_byte_level_bpe_character_cut_in_half_is_trimmed():
    from tokenizers import models, pre_tokenizers

    from jaqg.generation.outputs import _bytes_to_unicode
    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars.values())}
    vocab["</s>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>")
    ids = tok("甲鴎", add_special_tokens=False)["input_ids"]
    stats = GenerationStats()
    assert decode_output(tok, ids[:-1], set(), True, stats) == "甲" and stats.outputs_cut_at_limit == 1
    assert decode_output(tok, ids, set(), True, stats) == "甲鴎"
