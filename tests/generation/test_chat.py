"""Chat-template inference (jaqg.generation.chat): the template's end of turn stops generation, only the assistant's
content comes back (a harmony-style channel header and end marker never reach a prediction, an unwrappable output is
counted, not guessed), batches are left-padded; few-shot prompts."""

import pytest
import torch
from chat_models import HARMONY_TOKENS, forced, make_harmony, make_qwen

from jaqg.core.errors import UserError
from jaqg.generation.chat import ChatTemplate, Prompt, chat_template_for, draw_shots
from jaqg.generation.decoding import generate, load_model
from jaqg.generation.outputs import GenerationStats


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    return make_qwen(tmp_path_factory.mktemp("chat") / "qwen")


@pytest.fixture(scope="module")
def harmony_dir(qwen_dir, tmp_path_factory):
    return make_harmony(qwen_dir, tmp_path_factory.mktemp("chat") / "harmony")


def test_harmony_header_and_end_marker_are_read_from_the_template(harmony_dir):
    model, tok = load_model(str(harmony_dir), device="cpu")
    chat = ChatTemplate(tok, model.generation_config)
    assert chat.header == "<|channel|>final<|message|>" and chat.end_marker == "<|return|>"
    assert chat.stop_ids[0] == tok.convert_tokens_to_ids("<|return|>") and tok.eos_token_id in chat.stop_ids
    assert {tok.convert_tokens_to_ids(t) for t in HARMONY_TOKENS} <= chat.marker_ids


def test_wrapped_outputs_are_stripped_and_an_unwrappable_one_is_counted(harmony_dir):
    model, tok = load_model(str(harmony_dir), device="cpu")
    chat = chat_template_for(model, tok, None)
    replies = {"問1": "<|channel|>final<|message|>山梨県<|return|>",
               # an analysis channel first: the last header starts the content
               "問2": "<|channel|>analysis<|message|>考え中です<|end|><|start|>assistant<|channel|>final<|message|>"
                     "甲府市<|return|>",
               "問3": "<|channel|>analysis<|message|>考え中です<|end|>",  # never reached its final channel
               "問4": "<|channel|>final<|message|>森瀬市<|end|><|start|>assistant"}  # went on into another turn
    seen, stats = {}, GenerationStats()
    forced(model, tok, replies, seen)
    out = generate(model, tok, ["問1", "問2", "問3", "問4"], batch_size=4, prompt=Prompt(tok, chat), stats=stats)
    assert out == [["山梨県"], ["甲府市"], [], ["森瀬市"]]
    assert not any(m in o for outs in out for o in outs for m in HARMONY_TOKENS)
    assert stats.chat_unwrapped == 1 and stats.chat_cut_at_marker == 1
    assert seen["eos_token_id"][0] == tok.convert_tokens_to_ids("<|return|>")


def test_chatml_batches_are_left_padded_and_stop_at_end_of_turn(qwen_dir):
    model, tok = load_model(str(qwen_dir), device="cpu")
    chat = chat_template_for(model, tok, None)
    assert chat.header == "" and chat.stop_ids[0] == tok.convert_tokens_to_ids("<|im_end|>")
    seen = {}
    forced(model, tok, {"短い": "山梨県<|im_end|>\n<|im_start|>user", "長い": "甲府市です。<|im_end|>"}, seen)
    prompt = Prompt(tok, chat, system="短く答えてください。")
    out = generate(model, tok, ["短い", "もっとずっと長い質問の文です。"], batch_size=2, prompt=prompt)
    assert out == [["山梨県"], ["甲府市です。"]]
    mask = seen["attention_mask"]
    assert mask[:, -1].all() and not mask[:, 0].all()  # the shorter prompt is padded on the left
    assert seen["eos_token_id"] == chat.stop_ids and tok.eos_token_id in chat.stop_ids
    assert prompt.text("問", 0).endswith("<|im_start|>user\n問<|im_end|>\n<|im_start|>assistant\n")


def test_a_real_batch_decodes_as_each_input_alone(qwen_dir):
    """Left padding with the attention mask: greedy outputs of a mixed-length batch equal those of each input alone."""
    model, tok = load_model(str(qwen_dir), device="cpu")
    torch.manual_seed(1)
    with torch.no_grad():  # a random model that writes something other than newlines
        model.lm_head.weight.add_(torch.randn_like(model.lm_head.weight))
    prompt = Prompt(tok, chat_template_for(model, tok, None))
    inputs = ["甲府市はどこ？", "山梨県の県庁所在地はどこでしょうか。とても長い質問です。"]
    batch = generate(model, tok, inputs, batch_size=2, max_new_tokens=6, prompt=prompt)
    alone = [generate(model, tok, [x], max_new_tokens=6, prompt=prompt)[0] for x in inputs]
    assert batch == alone and any(batch)


def test_few_shot_turns_come_before_the_question_and_are_cut_to_fit(qwen_dir):
    model, tok = load_model(str(qwen_dir), device="cpu")
    chat = chat_template_for(model, tok, None)
    pool = [(f"t{i}", f"問題{i}", f"答え{i}") for i in range(6)]
    shots = draw_shots(pool, ["t1", "x"], ["問題1", "新しい問題"], 3, seed=0)
    assert shots == draw_shots(pool, ["t1", "x"], ["問題1", "新しい問題"], 3, seed=0)  # seeded
    assert all(("問題1", "答え1") not in s for s in shots[:1]) and len(shots[1]) == 3  # never the example itself
    prompt = Prompt(tok, chat, shots=[list(s) for s in shots])
    text = prompt.text("新しい問題", 1)
    assert text.count("<|im_start|>assistant\n答え") == 3 and text.index("答え") < text.index("新しい問題")
    seen, stats = {}, GenerationStats()
    forced(model, tok, {"問題": "a<|im_end|>"}, seen)
    full = len(prompt.encode("新しい問題", 1))
    generate(model, tok, ["問題1", "新しい問題"], max_input_length=full - 1, prompt=prompt, stats=stats)
    assert stats.few_shot_prompts_cut >= 1 and stats.few_shot_examples < 6
    with pytest.raises(UserError, match="few_shot"):
        draw_shots(pool[:2], ["t1"], ["問題1"], 2, seed=0)


def test_seq2seq_models_take_no_chat_template(tiny_t5_dir):
    model, tok = load_model(str(tiny_t5_dir), device="cpu")
    assert chat_template_for(model, tok, None) is None
    with pytest.raises(UserError, match="seq2seq"):
        chat_template_for(model, tok, None, chat_input=True)
