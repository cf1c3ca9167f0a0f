"""Offline stand-ins of hub model dirs: the same files, tokenizer layout and config keys, tiny random weights.

    python make_tiny_model.py --like rinna/japanese-gpt2-medium --output_dir M --spiece_model spiece.model
    python make_tiny_model.py --like sonoisa/t5-base-japanese --output_dir M --data_dir data

A stand-in lets every recipe be smoke-tested offline against a model family's real file layout before GPU hours
are spent: ``config.json`` with the family's real keys (``architectures``, ``model_type``, special ids,
``feed_forward_proj``, ``tie_word_embeddings``...) but tiny shapes, the real tokenizer class and special-token ids,
``spiece.model`` or ``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json`` and
``pytorch_model.bin`` where the hub has it. Where no public copy of the vocabulary is at hand, a SentencePiece
model (or byte-level BPE) is trained on ``--data_dir`` with the family's settings and id layout. What each
family copies and what it cannot: docs/stand_ins.md.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch

from ..core.errors import UserError
from ..core.io import replacing_dir, write_json
from ..tokenization.hub import load_tokenizer, read_model_proto
from ..tokenization.spm_build import model_type
from .standins_llm import (
    GEMMA2_CONFIG,
    GEMMA_SPECIALS,
    GEMMA_TOKENIZER_CONFIG,
    GEMMA_TURNS,
    LLMJP3_ADDED,
    LLMJP3_CONFIG,
    LLMJP3_SPECIALS,
    LLMJP3_TOKENIZER_CONFIG,
    QWEN25_CONFIG,
    QWEN_ADDED,
    QWEN_GENERATION_CONFIG,
    QWEN_SPECIALS,
    QWEN_TOKENIZER_CONFIG,
    SWALLOW_CONFIG,
    SWALLOW_SPECIALS,
    SWALLOW_TOKENIZER_CONFIG,
    tiny_llm_config,
    token_ids,
    train_qwen2_bpe,
)
from .tiny import corpus_texts

# Tiny shapes every stand-in gets (the budget: d_model 32-64); real shapes stay in FAMILIES for docs/bench.
TINY = dict(d_model=64, heads=4, layers=2, d_ff=128)
T5_EXTRA_IDS = 100


@dataclass(frozen=True)
class SpmLayout:
    """SentencePiece trainer settings that decide a model's ids and normalization (sentencepiece's flag names)."""
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    control_symbols: tuple[str, ...] = ()
    user_defined_symbols: tuple[str, ...] = ()
    byte_fallback: bool = False
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    normalization_rule_name: str = "nmt_nfkc"
    split_digits: bool = False
    pad_piece: str = "<pad>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    lowercase_corpus: bool = False  # the family's vocabulary is lowercase (its tokenizer asks do_lower_case)
    model_type: str = "unigram"     # or "bpe" (Llama-2 and its Japanese continuations)


@dataclass(frozen=True)
class Family:
    name: str
    config: dict                      # the hub config.json at real size (public); shapes are shrunk in the stand-in
    tokenizer_config: dict
    special_tokens_map: dict
    spm: SpmLayout | None = None      # None: a byte-level BPE tokenizer.json (GPT-NeoX style)
    extra_ids: int = 0                # T5 sentinels appended after the SentencePiece pieces
    weights: str = "pytorch_model.bin"
    vocab_multiple: int = 1           # config vocab_size = len(tokenizer) rounded up to this (T5: 128)
    bpe_specials: tuple[str, ...] = ()
    spm_file: str = "spiece.model"    # the SentencePiece model's name in the hub repo (Llama: tokenizer.model)
    added_tokens: tuple[str, ...] = ()  # special tokens after the vocabulary, in this order (llm-jp's, ChatML's)
    byte_bpe: str = "neox"            # spm None: "neox" (GPT-NeoX style) or "qwen2" (NFC, Qwen2's split)
    generation_config: dict | None = None  # generation_config.json (token names become ids)
    unchecked: tuple[str, ...] = ()   # SentencePiece flags a given model is not held to (unverified for the family)


def _t5_tokenizer_config(extra_ids: int, **more) -> dict:
    return {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
            "extra_ids": extra_ids, **more}


T5_V10 = {"architectures": ["T5Model"], "d_ff": 3072, "d_kv": 64, "d_model": 768, "decoder_start_token_id": 0,
          "dropout_rate": 0.1, "eos_token_id": 1, "initializer_factor": 1.0, "is_encoder_decoder": True,
          "layer_norm_epsilon": 1e-06, "model_type": "t5", "n_positions": 512, "num_decoder_layers": 12,
          "num_heads": 12, "num_layers": 12, "pad_token_id": 0, "relative_attention_num_buckets": 32,
          "vocab_size": 32128}
T5_V11 = {**T5_V10, "architectures": ["T5ForConditionalGeneration"], "d_ff": 2048, "feed_forward_proj": "gated-gelu",
          "tie_word_embeddings": False}
T5_LAYOUT = SpmLayout(pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
RINNA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "[PAD]",
                  "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
T5_SPECIALS = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}

FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("sonoisa/t5-base-japanese", T5_V10, _t5_tokenizer_config(T5_EXTRA_IDS), T5_SPECIALS, T5_LAYOUT,
           extra_ids=T5_EXTRA_IDS, vocab_multiple=128),
    Family("sonoisa/t5-base-japanese-v1.1", T5_V11, _t5_tokenizer_config(T5_EXTRA_IDS), T5_SPECIALS,
           SpmLayout(pad_id=0, eos_id=1, unk_id=2, bos_id=-1, byte_fallback=True),
           extra_ids=T5_EXTRA_IDS, vocab_multiple=128),
    Family("google/mt5-small",
           {"architectures": ["MT5ForConditionalGeneration"], "d_ff": 1024, "d_kv": 64, "d_model": 512,
            "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1, "feed_forward_proj": "gated-gelu",
            "initializer_factor": 1.0, "is_encoder_decoder": True, "layer_norm_epsilon": 1e-06, "model_type": "mt5",
            "num_decoder_layers": 8, "num_heads": 6, "num_layers": 8, "pad_token_id": 0,
            "relative_attention_num_buckets": 32, "tie_word_embeddings": False, "tokenizer_class": "T5Tokenizer",
            "vocab_size": 250112},
           _t5_tokenizer_config(0), T5_SPECIALS, T5_LAYOUT, vocab_multiple=128),
    Family("rinna/japanese-gpt2-medium",
           {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
            "bos_token_id": 1, "eos_token_id": 2, "embd_pdrop": 0.1, "initializer_range": 0.02,
            "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 1024, "n_head": 16,
            "n_inner": 4096, "n_layer": 24, "n_positions": 1024, "resid_pdrop": 0.1, "tokenizer_class": "T5Tokenizer",
            "vocab_size": 32000},
           {"tokenizer_class": "T5Tokenizer", "do_lower_case": True, "extra_ids": 0, **RINNA_SPECIALS},
           RINNA_SPECIALS,
           SpmLayout(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, control_symbols=("[PAD]", "[CLS]", "[SEP]", "[MASK]"),
                     lowercase_corpus=True)),
    Family("rinna/japanese-gpt-neox-3.6b",
           {"architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 2, "eos_token_id": 3, "hidden_act": "gelu",
            "hidden_size": 2816, "initializer_range": 0.02, "intermediate_size": 11264, "layer_norm_eps": 1e-05,
            "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": 22,
            "num_hidden_layers": 36, "rotary_emb_base": 10000, "rotary_pct": 1.0, "tie_word_embeddings": False,
            "use_parallel_residual": False, "vocab_size": 32000},
           {"tokenizer_class": "T5Tokenizer", "do_lower_case": False, "extra_ids": 0, "bos_token": "<s>",
            "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
           {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
           SpmLayout(pad_id=0, unk_id=1, bos_id=2, eos_id=3, byte_fallback=True, add_dummy_prefix=False,
                     remove_extra_whitespaces=False)),
    Family("cyberagent/open-calm-small",
           {"architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu",
            "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
            "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": 12,
            "num_hidden_layers": 12, "rotary_emb_base": 10000, "rotary_pct": 1.0, "tie_word_embeddings": False,
            "use_parallel_residual": False, "vocab_size": 52096},
           {"tokenizer_class": "GPTNeoXTokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "add_prefix_space": False},
           {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"},
           None, bpe_specials=("<|endoftext|>", "<|padding|>")),
]}
FAMILIES.update({f.name: f for f in [
    Family("llm-jp/llm-jp-3-1.8b", LLMJP3_CONFIG, LLMJP3_TOKENIZER_CONFIG, LLMJP3_SPECIALS,
           SpmLayout(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True, remove_extra_whitespaces=False,
                     normalization_rule_name="identity", split_digits=True),
           weights="model.safetensors", vocab_multiple=128, spm_file="tokenizer.model", added_tokens=LLMJP3_ADDED),
    Family("tokyotech-llm/Swallow-7b-hf", SWALLOW_CONFIG, SWALLOW_TOKENIZER_CONFIG, SWALLOW_SPECIALS,
           SpmLayout(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True, remove_extra_whitespaces=False,
                     model_type="bpe"),
           weights="model.safetensors", spm_file="tokenizer.model", unchecked=("extra-whitespace removal",)),
    Family("google/gemma-2-2b", GEMMA2_CONFIG, GEMMA_TOKENIZER_CONFIG, GEMMA_SPECIALS,
           SpmLayout(pad_id=0, eos_id=1, bos_id=2, unk_id=3, byte_fallback=True, add_dummy_prefix=False,
                     remove_extra_whitespaces=False, normalization_rule_name="identity", split_digits=True,
                     model_type="bpe", bos_piece="<bos>", eos_piece="<eos>", control_symbols=("<mask>",),
                     user_defined_symbols=GEMMA_TURNS),
           weights="model.safetensors", spm_file="tokenizer.model",
           unchecked=("a dummy prefix", "extra-whitespace removal")),
    Family("Qwen/Qwen2.5-0.5B-Instruct", QWEN25_CONFIG, QWEN_TOKENIZER_CONFIG, QWEN_SPECIALS, None,
           weights="model.safetensors", added_tokens=QWEN_ADDED, byte_bpe="qwen2",
           generation_config=QWEN_GENERATION_CONFIG),
]})
ALIASES = {"megagonlabs/t5-base-japanese-web": "sonoisa/t5-base-japanese-v1.1",
           "rinna/japanese-gpt2-small": "rinna/japanese-gpt2-medium",
           "cyberagent/open-calm-1b": "cyberagent/open-calm-small"}
LIKE_NAMES = (*FAMILIES, *ALIASES)  # every name --like accepts


def family(name: str) -> Family:
    """The stand-in family of a ``--like`` name (a FAMILIES key or an ALIASES name); UserError listing the
    accepted names otherwise."""
    if name in FAMILIES:
        return FAMILIES[name]
    if name in ALIASES:  # same tokenizer layout; the stand-in is tiny either way
        return FAMILIES[ALIASES[name]]
    raise UserError(f"`like` {name}: no stand-in for this model; choose one of {', '.join(LIKE_NAMES)}")


def check_layout(proto, fam: Family, where: str | Path) -> None:
    """UserError (one line) when a given SentencePiece model does not have ``fam``'s layout: its model type (unigram
    or BPE), unk/bos/eos/pad ids (-1: none), byte fallback, dummy prefix or whitespace rules differ from the
    family's (``fam.unchecked``: flags not known for the family, not held against a real model)."""
    spec, norm, want = proto.trainer_spec, proto.normalizer_spec, fam.spm
    if model_type(proto).lower() != want.model_type:
        raise UserError(f"{where}: a {model_type(proto)} SentencePiece model, but {fam.name}'s is "
                        f"{want.model_type.upper()}; pass {fam.name}'s own {fam.spm_file}, or leave out "
                        "`spiece_model` to train one on `data_dir`")
    ids = lambda u, b, e, p: f"<unk> {u} / <s> {b} / </s> {e} / <pad> {p}"  # noqa: E731
    have, need = (spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id), (want.unk_id, want.bos_id, want.eos_id,
                                                                        want.pad_id)
    if have != need:
        raise UserError(f"{where}: ids {ids(*have)} (-1: none), but {fam.name} has {ids(*need)}; pass "
                        f"{fam.name}'s own {fam.spm_file}, or leave out `spiece_model` to train one on `data_dir`")
    for flag, value, needed in (("byte fallback", spec.byte_fallback, want.byte_fallback),
                                ("a dummy prefix", norm.add_dummy_prefix, want.add_dummy_prefix),
                                ("extra-whitespace removal", norm.remove_extra_whitespaces,
                                 want.remove_extra_whitespaces)):
        if value != needed and flag not in fam.unchecked:
            raise UserError(f"{where}: {'no ' if needed else ''}{flag} in this model, but {fam.name} "
                            f"{'has' if needed else 'has none'}; pass {fam.name}'s own {fam.spm_file}, or leave out "
                            "`spiece_model` to train one on `data_dir`")


def train_sentencepiece(texts: Iterable[str], path: str | Path, layout: SpmLayout, vocab_size: int = 800,
                        model_type: str = "unigram", **options) -> Path:
    """Train a SentencePiece model with ``layout``'s ids and flags on ``texts``; writes ``path`` (a .model file).

    The vocabulary is an upper bound (``hard_vocab_limit=False``) so a small corpus works; every character of the
    corpus is kept (``character_coverage=1.0``); byte fallback's 256 byte pieces come on top. ``options`` go to
    ``SentencePieceTrainer.train`` as they are (``user_defined_symbols`` add to the layout's).
    """
    import io

    import sentencepiece as spm
    texts = [t.lower() if layout.lowercase_corpus else t for t in texts if t.strip()]
    if not texts:
        raise UserError("no text to train a SentencePiece model on; point `data_dir` at a prepared data dir")
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buf, hard_vocab_limit=False,
        vocab_size=vocab_size + (256 if layout.byte_fallback else 0),
        model_type=model_type, character_coverage=1.0, unk_id=layout.unk_id, bos_id=layout.bos_id,
        eos_id=layout.eos_id, pad_id=layout.pad_id, pad_piece=layout.pad_piece, bos_piece=layout.bos_piece,
        eos_piece=layout.eos_piece,
        control_symbols=list(layout.control_symbols),
        user_defined_symbols=[*layout.user_defined_symbols, *options.pop("user_defined_symbols", [])],
        byte_fallback=layout.byte_fallback,
        add_dummy_prefix=layout.add_dummy_prefix, remove_extra_whitespaces=layout.remove_extra_whitespaces,
        normalization_rule_name=layout.normalization_rule_name, split_digits=layout.split_digits,
        minloglevel=2, **options)
    Path(path).write_bytes(buf.getvalue())
    return Path(path)


def _train_byte_bpe(texts: Iterable[str], specials: tuple[str, ...], vocab_size: int):
    """A GPT-NeoX-style byte-level BPE ``tokenizers.Tokenizer`` with ``specials`` first (ids 0, 1, ...)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def tiny_config(fam: Family, vocab_size: int) -> dict:
    """The family's real config.json with tiny shapes and ``vocab_size``; every other key kept as published."""
    cfg = copy.deepcopy(fam.config)
    d, h, n, ff = TINY["d_model"], TINY["heads"], TINY["layers"], TINY["d_ff"]
    shapes = {"t5": dict(d_model=d, d_kv=d // h, d_ff=ff, num_heads=h, num_layers=n, num_decoder_layers=n),
              "gpt2": dict(n_embd=d, n_head=h, n_layer=n, n_inner=ff),
              "gpt_neox": dict(hidden_size=d, num_attention_heads=h, num_hidden_layers=n, intermediate_size=ff)}
    kind = "t5" if cfg["model_type"] in ("t5", "mt5") else cfg["model_type"]
    if kind in ("llama", "qwen2", "gemma2"):
        cfg = tiny_llm_config(cfg, d, h, n)
    else:
        cfg.update(shapes[kind])
    cfg["vocab_size"] = vocab_size
    return cfg


def build_standin(name: str, output_dir: str | Path, data_dir: str | Path | None = None,
                  spiece_model: str | Path | None = None, vocab_size: int = 800, seed: int = 0) -> Path:
    """Write a tiny random stand-in of hub model ``name`` to ``output_dir`` (complete or not at all).

    ``spiece_model``: the family's real SentencePiece model (rinna's, from rinnakk/japanese-pretrained-models);
    otherwise one is trained on ``data_dir``'s training text with the family's layout (``vocab_size`` pieces at
    most). The tokenizer is loaded back through ``jaqg.tokenization.hub.load_tokenizer`` and must match
    SentencePiece on its probe; the model's embeddings are sized to it.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    fam = family(name)
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / "config.json").is_file():
        raise UserError(f"{output_dir}: exists and is not a model dir; choose another `output_dir`")
    if spiece_model is not None:
        if fam.spm is None:
            raise UserError(f"`spiece_model`: {name} uses a byte-level BPE tokenizer.json, not SentencePiece")
        proto = read_model_proto(spiece_model)
        if proto is None:
            raise UserError(f"{spiece_model}: not a SentencePiece model (.model protobuf); pass the model's "
                            "spiece.model")
        check_layout(proto, fam, spiece_model)
    elif data_dir is None:
        raise UserError(f"`like` {name}: give `data_dir` (text to train its tokenizer on) or `spiece_model`")
    with replacing_dir(output_dir) as tmp:
        causal = not fam.config.get("is_encoder_decoder", False)
        if fam.spm is not None:
            spm_path = tmp / fam.spm_file
            if spiece_model is not None:
                shutil.copyfile(spiece_model, spm_path)
            else:
                train_sentencepiece(corpus_texts(data_dir), spm_path, fam.spm, vocab_size,
                                    model_type=fam.spm.model_type)
            n_pieces = len(read_model_proto(spm_path).pieces)
            tok_cfg = dict(fam.tokenizer_config)
            if fam.extra_ids:
                tok_cfg["additional_special_tokens"] = [f"<extra_id_{i}>" for i in range(fam.extra_ids)]
            n_tokens = n_pieces + fam.extra_ids + len(fam.added_tokens)
            if fam.added_tokens:  # the hub ships a tokenizer.json holding them: write the checked one
                _write_tokenizer_json(tmp, fam, causal)
        else:
            from transformers import PreTrainedTokenizerFast
            texts = corpus_texts(data_dir)
            backend = (train_qwen2_bpe(texts, fam.added_tokens, vocab_size) if fam.byte_bpe == "qwen2"
                       else _train_byte_bpe(texts, fam.bpe_specials, vocab_size))
            PreTrainedTokenizerFast(tokenizer_object=backend, **fam.special_tokens_map).save_pretrained(tmp)
            tok_cfg = dict(fam.tokenizer_config)
            n_tokens = backend.get_vocab_size()
        write_json(tmp / "tokenizer_config.json", tok_cfg)
        write_json(tmp / "special_tokens_map.json", fam.special_tokens_map)
        tokenizer = load_tokenizer(str(tmp), causal=causal)  # checked against SentencePiece on the probe
        if len(tokenizer) != n_tokens:
            raise UserError(f"{name}: the stand-in tokenizer has {len(tokenizer)} tokens, expected {n_tokens}"
                            f" (added tokens: {', '.join(tokenizer.get_added_vocab())})")
        multiple = fam.vocab_multiple
        cfg = tiny_config(fam, -(-n_tokens // multiple) * multiple)
        vocab = tokenizer.get_vocab()
        cfg.update({k: token_ids(cfg[k], vocab) for k in ("bos_token_id", "eos_token_id", "pad_token_id")
                    if k in cfg})
        write_json(tmp / "config.json", cfg)
        if fam.generation_config:
            write_json(tmp / "generation_config.json",
                       {k: token_ids(v, vocab) for k, v in fam.generation_config.items()})
        torch.manual_seed(seed)
        config = AutoConfig.from_pretrained(tmp)
        auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
        model = auto.from_config(config)
        _save_weights(model, cfg, tmp / fam.weights)
        write_json(tmp / "standin.json", {"like": name, "tokenizer": "given spiece.model" if spiece_model else
                                          f"trained on {data_dir}", "tokens": n_tokens,
                                          "parameters": sum(p.numel() for p in model.parameters())})
    return output_dir


def _write_tokenizer_json(directory: Path, fam: Family, causal: bool) -> None:
    """tokenizer.json (and the files save_pretrained writes) of a SentencePiece family whose hub repo ships one
    (llm-jp): the tokenizer jaqg loads from the SentencePiece model, checked against it, then ``fam.added_tokens``
    after the pieces, in order."""
    from tokenizers import AddedToken
    keep = ("bos_token", "eos_token", "unk_token", "add_bos_token", "add_eos_token")
    write_json(directory / "tokenizer_config.json", {"tokenizer_class": "LlamaTokenizer", **{
        k: v for k, v in fam.tokenizer_config.items() if k in keep}})
    tokenizer = load_tokenizer(str(directory), causal=causal)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in fam.added_tokens],
                         special_tokens=True)
    tokenizer.save_pretrained(directory)


def _save_weights(model, cfg: dict, path: Path) -> None:
    """The model's weights as the hub file ``path`` names: pytorch_model.bin or model.safetensors (a tied LM head
    left out, as save_pretrained does); T5Model keys without the LM head."""
    state = model.state_dict()
    if cfg["architectures"] == ["T5Model"]:  # the bare encoder-decoder's keys: no LM head (tied to shared)
        state = {k: v for k, v in state.items() if not k.startswith("lm_head.")}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file
        if cfg.get("tie_word_embeddings"):
            state = {k: v for k, v in state.items() if k != "lm_head.weight"}
        save_file({k: v.contiguous().clone() for k, v in state.items()}, str(path), metadata={"format": "pt"})
    else:
        torch.save({k: v.contiguous() for k, v in state.items()}, path)
