"""The decoder-LLM families of the stand-ins (``make_tiny_model.py --like``): llm-jp-3, Swallow (Llama-2), Gemma-2,
Qwen2.5.

Configs as published (public model cards / config.json files; what is assumed is said in docs/stand_ins.md), the
Qwen2 byte-level BPE trainer and ChatML chat template, and the tiny shapes of Llama and Qwen2 configs that keep the
published ratios (intermediate / hidden, key-value heads / heads) where a 64-wide model can.
"""

from __future__ import annotations

import copy
from typing import Iterable

# llm-jp/llm-jp-3-1.8b (LlamaForCausalLM; checked against the published config.json in ../shared when present).
# Left out: "torch_dtype" (bfloat16): the stand-in's weights are float32 and must load so on CPU.
LLMJP3_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1,
    "eos_token_id": 2, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
    "intermediate_size": 7168, "max_position_embeddings": 4096, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 16, "num_hidden_layers": 23, "num_key_value_heads": 16, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000, "tie_word_embeddings": False,
    "use_cache": True, "vocab_size": 99584}
# The four special tokens llm-jp's v3 tokenizer configs name that are not pieces of its SentencePiece model; added
# after the pieces in this order (their ids in the hub's tokenizer.json are unverified).
LLMJP3_ADDED = ("<PAD|LLM-jp>", "<CLS|LLM-jp>", "<SEP|LLM-jp>", "<MASK|LLM-jp>")
LLMJP3_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<PAD|LLM-jp>",
                   "cls_token": "<CLS|LLM-jp>", "sep_token": "<SEP|LLM-jp>", "mask_token": "<MASK|LLM-jp>"}
LLMJP3_TOKENIZER_CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": True,
                           "add_eos_token": False, "clean_up_tokenization_spaces": False, **LLMJP3_SPECIALS}

# tokyotech-llm/Swallow-7b-hf: Llama-2-7b's architecture with a vocabulary extended for Japanese to 43,176 pieces.
SWALLOW_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "tie_word_embeddings": False,
    "use_cache": True, "vocab_size": 43176}
SWALLOW_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
SWALLOW_TOKENIZER_CONFIG = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False,
                            "legacy": False, "clean_up_tokenization_spaces": False, "pad_token": None,
                            **SWALLOW_SPECIALS}

# Qwen/Qwen2.5-0.5B-Instruct. bos/eos ids name tokens (the stand-in's ids differ: its BPE vocabulary is tiny).
QWEN25_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": "<|endoftext|>",
    "eos_token_id": "<|im_end|>", "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
    "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21, "model_type": "qwen2",
    "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True, "use_cache": True,
    "use_sliding_window": False, "vocab_size": 151936}
QWEN_ADDED = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
QWEN_SPECIALS = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
# ChatML as Qwen2.5's template writes it, without its tool-calling branches: a default system turn when the
# conversation has none; each turn <|im_start|>role\ncontent<|im_end|>\n; the generation prompt opens the assistant.
QWEN_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\n" + QWEN_DEFAULT_SYSTEM + "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
# The same template with TRL's {% generation %} markers around each assistant content and its <|im_end|> (what
# SFTTrainer's assistant_only_loss needs); it renders the same text. Used by the TRL comparisons.
# An llm-jp-3-instruct-style template (docs/recipes.md) for base models without one: `### 指示:` / `### 応答:` turns,
# the assistant turn ended by eos.
LLMJP_STYLE_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '\\n\\n### 指示:\\n' + message['content'] }}{% elif message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '\\n\\n### 応答:\\n' + message['content'] + eos_token }}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '\\n\\n### 応答:\\n' }}{% endif %}{% endfor %}")

QWEN_CHAT_TEMPLATE_MARKED = QWEN_CHAT_TEMPLATE.replace(
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}",
    "{%- if message['role'] == 'assistant' %}{{- '<|im_start|>assistant\\n' }}{% generation %}"
    "{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}")
QWEN_TOKENIZER_CONFIG = {"tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "unk_token": None,
                         "errors": "replace", "model_max_length": 131072, "split_special_tokens": False,
                         "add_prefix_space": False, "clean_up_tokenization_spaces": False,
                         "chat_template": QWEN_CHAT_TEMPLATE, **QWEN_SPECIALS}
QWEN_GENERATION_CONFIG = {"bos_token_id": "<|endoftext|>", "eos_token_id": ["<|im_end|>", "<|endoftext|>"],
                          "pad_token_id": "<|endoftext|>"}
# Qwen2's pre-tokenizer split (as its tokenizer.json writes it): single digits, letters runs, punctuation runs.
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
               r"\s+(?!\S)|\s+")


def train_qwen2_bpe(texts: Iterable[str], specials: tuple[str, ...], vocab_size: int):
    """A Qwen2-style byte-level BPE ``tokenizers.Tokenizer`` (NFC, Qwen2's split, all 256 byte symbols) trained on
    ``texts``, with ``specials`` added after the vocabulary (Qwen's ids start after its BPE tokens)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tok


def token_ids(value, vocab: dict[str, int]):
    """A config value naming tokens (a token or a list of tokens) as ids; anything else as it is."""
    if isinstance(value, list):
        return [token_ids(v, vocab) for v in value]
    return vocab[value] if isinstance(value, str) and value in vocab else value


def tiny_llm_config(config: dict, d: int, heads: int, layers: int) -> dict:
    """A Llama / Qwen2 config at width ``d``: the published ratios of intermediate size to width and of key-value
    heads to heads kept (as far as ``heads`` allows), ``head_dim`` = d / heads, every other key as published."""
    cfg = copy.deepcopy(config)
    kv = max(1, round(heads * cfg["num_key_value_heads"] / cfg["num_attention_heads"]))
    cfg.update(hidden_size=d, num_attention_heads=heads, num_key_value_heads=kv, num_hidden_layers=layers,
               intermediate_size=round(d * cfg["intermediate_size"] / cfg["hidden_size"]))
    if "head_dim" in cfg:
        cfg["head_dim"] = d // heads
    if "query_pre_attn_scalar" in cfg:  # Gemma-2 scales queries by head_dim ** -0.5 (it equals head_dim there)
        cfg["query_pre_attn_scalar"] = d // heads
    if "max_window_layers" in cfg:
        cfg["max_window_layers"] = min(cfg["max_window_layers"], layers)
    return cfg


# google/gemma-2-2b (Gemma2ForCausalLM): the published config.json as recalled, not checked against a copy here
# (docs/stand_ins.md). Left out: "torch_dtype" and "cache_implementation" (the stand-in runs float32 on CPU).
GEMMA2_CONFIG = {
    "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 50.0, "bos_token_id": 2, "eos_token_id": 1, "final_logit_softcapping": 30.0,
    "head_dim": 256, "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 2304, "initializer_range": 0.02, "intermediate_size": 9216, "max_position_embeddings": 8192,
    "model_type": "gemma2", "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4,
    "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
    "sliding_window": 4096, "tie_word_embeddings": True, "vocab_size": 256000}
# Gemma's turn markers: user-defined pieces of its SentencePiece model (ids 106 / 107 in the real one).
GEMMA_TURNS = ("<start_of_turn>", "<end_of_turn>")
GEMMA_SPECIALS = {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}
# Gemma-2's chat template: no system role (it raises), the assistant's turn is "model".
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}")
GEMMA_TOKENIZER_CONFIG = {"tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False,
                          "clean_up_tokenization_spaces": False, "spaces_between_special_tokens": False,
                          "chat_template": GEMMA_CHAT_TEMPLATE, **GEMMA_SPECIALS}
