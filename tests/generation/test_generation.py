"""jaqg.generation.decoding: batched == one-by-one, causal prompts, bad words kept out, diverse n-best, seeds."""

import logging

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from trained_models import FACT, SEED, aqg_pairs  # noqa: E402

from jaqg.generation import decoding as generation
from jaqg.generation.decoding import BadWordError, bad_words_ids, generate, load_model
from jaqg.generation.inputs import question_input

INPUTS = ["森瀬市", "山梨県の北部にある市である。森瀬市の人口は何人か。", "県", "answer: 森瀬市 context: 北部",
          "森瀬市は山梨県の北部にある市である。"]


@pytest.mark.parametrize("name", ["aqg", "gpt"])
def test_batched_greedy_equals_one_by_one(models, name):
    torch.set_num_threads(1)
    model, tok = load_model(str(models[name]), device="cpu")
    inputs = INPUTS + [x for x, _ in aqg_pairs()]  # lengths differ: sorting and (left) padding at work
    batched = generate(model, tok, inputs, batch_size=3, max_new_tokens=24)
    alone = [generate(model, tok, [x], batch_size=1, max_new_tokens=24)[0] for x in inputs]
    assert batched == alone
    assert batched[-2:] == [[q] for _, q in aqg_pairs()]  # padded among others, still the memorised questions
    assert len({o[0] for o in batched}) >= 2, batched  # outputs depend on the input


@pytest.mark.parametrize("name", ["aqg", "qa", "untrained_t5"])
def test_batched_beam_search_equals_transformers_beam_search(models, tiny_t5_dir, name):
    """Our beam path (jaqg.models.beam_attention: one cross-attention copy per input, never reordered) gives
    transformers' n-best here; its logits differ only by rounding (tests/test_beam_attention.py)."""
    torch.set_num_threads(1)
    model, tok = load_model(str(models.get(name, tiny_t5_dir)), device="cpu")
    inputs = sorted(INPUTS + [x for x, _ in aqg_pairs()], key=lambda x: -len(tok(x)["input_ids"]))
    ours = generate(model, tok, inputs, batch_size=len(inputs), num_beams=4, num_return_sequences=4,
                    max_new_tokens=12, min_new_tokens=12)
    with torch.inference_mode():
        out = model.generate(**tok(inputs, padding=True, return_tensors="pt"), num_beams=4, num_return_sequences=4,
                             max_new_tokens=12, min_new_tokens=12)
    texts = [tok.decode(o, skip_special_tokens=True).strip() for o in out]
    assert ours == [list(dict.fromkeys(texts[i * 4:i * 4 + 4])) for i in range(len(inputs))]
    assert len({o[0] for o in ours}) >= 2, ours  # outputs depend on the input


def test_memorised_targets_for_seq2seq_and_causal(models):
    for name in ("aqg", "gpt"):
        model, tok = load_model(str(models[name]), device="cpu")
        assert generate(model, tok, [x for x, _ in aqg_pairs()]) == [[q] for _, q in aqg_pairs()], name


@pytest.mark.parametrize("name", ["aqg", "gpt"])
def test_bad_words_never_appear(models, name):
    model, tok = load_model(str(models[name]), device="cpu")
    inputs = [x for x, _ in aqg_pairs()]
    assert all("山梨" in o[0] for o in generate(model, tok, inputs))  # the model does produce the word
    outputs = generate(model, tok, inputs, num_beams=4, num_return_sequences=4, max_new_tokens=20,
                       bad_words=["山梨", "山梨県"])
    assert all(outs and all(o and "山梨" not in o for o in outs) for outs in outputs)


def test_verification_regenerates_what_the_ids_missed(models, monkeypatch, caplog):
    model, tok = load_model(str(models["aqg"]), device="cpu")
    inputs = [x for x, _ in aqg_pairs()]
    monkeypatch.setattr(generation, "bad_words_ids", lambda tokenizer, words: [])  # pretend the ids miss all
    with caplog.at_level(logging.WARNING):
        outputs = generate(model, tok, inputs, bad_words=["山梨"])
    assert all(o[0] and "山梨" not in o[0] for o in outputs)
    assert "generated again" in caplog.text
    monkeypatch.setattr(generation, "BAD_WORD_RETRIES", 0)
    with pytest.raises(BadWordError, match="山梨"):
        generate(model, tok, inputs, bad_words=["山梨"])


def _spelling_tokenizer():
    """A tokenizer whose pieces cross the word's edges (は山, 梨県, ▁山梨県の...) so spellings are many."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import PreTrainedTokenizerFast
    texts = ["山梨県の県庁所在地は甲府市です。", "山梨は果物の名前にもある。", "富士山は山梨県にある山です。",
             "梨は山で育つ。", "静岡県と山梨県の間に山がある。", "山梨山梨山梨県県"] * 30
    tok = Tokenizer(tok_models.Unigram())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=120, special_tokens=["<pad>", "</s>", "<unk>"],
                                                           unk_token="<unk>", show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


SPELLING_TOKENIZER = _spelling_tokenizer()
WORD_PIECES = [i for i, s in enumerate(generation.token_surfaces(SPELLING_TOKENIZER))
               if s and set(s) & set("山梨県は")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORD_PIECES), min_size=1, max_size=6), st.sampled_from(["山梨", "山梨県"]))
def test_bad_words_ids_cover_every_spelling(ids, word):
    """Any token run whose text holds the word contains one of the banned sequences."""
    banned = {tuple(b) for b in bad_words_ids(SPELLING_TOKENIZER, [word])}
    if word in SPELLING_TOKENIZER.decode(ids):
        runs = {tuple(ids[i:j]) for i in range(len(ids)) for j in range(i + 1, len(ids) + 1)}
        assert runs & banned, [SPELLING_TOKENIZER.convert_ids_to_tokens(ids)]


def test_bad_words_ids_hold_word_start_in_run_and_split_forms():
    tok = SPELLING_TOKENIZER
    banned = {tuple(b) for b in bad_words_ids(tok, ["山梨"])}
    ids = tok.convert_tokens_to_ids
    assert tuple(tok("山梨", add_special_tokens=False)["input_ids"]) in banned  # the tokenizer's own
    assert (ids("山"), ids("梨")) in banned  # split
    assert all(("山梨" in s) == ((i,) in banned) for i, s in enumerate(generation.token_surfaces(tok)))


def test_diverse_beam_search_returns_n_distinct(models):
    model, tok = load_model(str(models["aqg"]), device="cpu")
    inputs = [x for x, _ in aqg_pairs()]
    greedy = generate(model, tok, inputs)
    diverse = generate(model, tok, inputs, num_beams=4, num_beam_groups=4, diversity_penalty=2.0,
                       num_return_sequences=4, max_new_tokens=20)
    for outs, best in zip(diverse, greedy):
        assert len(outs) == 4 and len(set(outs)) == 4 and all(outs)
        assert outs[0] == best[0]  # the first group is plain (unpenalised) search


def test_sampling_is_reproducible_with_seed(tiny_t5_dir):
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    kw = dict(do_sample=True, top_p=0.95, max_new_tokens=8, suppress_tokens=tok.all_special_ids,
              num_return_sequences=3)
    first = generate(model, tok, INPUTS, seed=7, **kw)
    assert generate(model, tok, INPUTS, seed=7, **kw) == first
    assert generate(model, tok, INPUTS, seed=8, **kw) != first


@pytest.mark.parametrize("kw, message", [(dict(num_return_sequences=3), "must be at least `num_return_sequences`"),
                                         (dict(num_beams=4, num_beam_groups=3), "multiple of"),
                                         (dict(num_beams=2, num_beam_groups=2, do_sample=True), "does not combine")])
def test_bad_generation_flags_are_user_errors(tiny_t5_dir, kw, message):
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    with pytest.raises(generation.UserError, match=message):
        generate(model, tok, ["県"], **kw)


def test_question_input_follows_run_config():
    answer, context, _ = FACT
    assert question_input(answer, context, None) == f"answer: {answer} context: {context}"
    assert question_input(answer, context, {"task": "aqg", "template": "{context} / {answer}"}) == \
        f"{context} / {answer}"
    hl = question_input(answer, context, {"task": "aqg_hl", "template": "{context}"})
    assert hl == question_input(answer, context, None, highlight=True) == f"<hl>{answer}<hl>{context[3:]}"
    for bad in [("", context), (answer, "  ")]:
        with pytest.raises(ValueError, match="empty"):
            question_input(*bad, None)
    with pytest.raises(ValueError, match="does not occur"):
        question_input("大阪", context, None, highlight=True)
    with pytest.raises(ValueError, match="QA"):
        question_input(answer, context, {"task": "qa"})


@given(st.text(alphabet="あい \t\n\r\u3000", max_size=12))
def test_clean_prediction_is_one_nonempty_tsv_field(text):
    from jaqg.core.io import check_field
    cleaned = generation.clean_prediction(text)
    assert check_field(cleaned, "prediction") == cleaned
    assert cleaned.replace(" ", "") == ("".join(text.split()) or generation.EMPTY_PREDICTION)


def test_load_model_accepts_a_lora_adapter_dir(tiny_gpt2_dir, tmp_path):
    from jaqg.models.lora import add_lora
    torch.manual_seed(0)
    base, tok = load_model(str(tiny_gpt2_dir), device="cpu")
    tuned = add_lora(base, r=4, alpha=8)
    with torch.no_grad():  # LoRA's B starts at zero (a no-op adapter): make this one change the model
        for name, p in tuned.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    tuned.save_pretrained(tmp_path / "adapter")  # no tokenizer here: load_model takes the base's
    assert not (tmp_path / "adapter" / "config.json").exists()
    loaded, loaded_tok = load_model(str(tmp_path / "adapter"), device="cpu")
    plain, _ = load_model(str(tiny_gpt2_dir), device="cpu")
    ids = tok(["森瀬市は山梨県"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, tuned.eval()(ids).logits)
        assert not torch.allclose(loaded(ids).logits, plain(ids).logits, atol=1e-3)
    assert loaded_tok.get_vocab() == tok.get_vocab()
    assert generate(loaded, loaded_tok, [SEED[1]], max_new_tokens=8) == generate(tuned, tok, [SEED[1]],
                                                                                 max_new_tokens=8)
