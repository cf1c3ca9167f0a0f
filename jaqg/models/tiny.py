"""Offline model builder: a tokenizer trained on a data dir plus a randomly initialised T5 / BART / GPT-2.

    python make_tiny_model.py --data_dir data --output_dir model_tiny [--arch t5|bart|gpt2] [--size tiny|small]

The tokenizer is a SentencePiece-style unigram model (``tokenizers``' UnigramTrainer, ``▁`` for spaces) saved as
``tokenizer.json``, so ``AutoTokenizer.from_pretrained(dir)`` rebuilds it exactly; ``<hl>`` and ``<sep>`` are
special tokens. Pieces never cross a change of script (kanji / hiragana / katakana / digit / latin): a unigram
model trained on a small corpus otherwise fuses a name's last character with the particle after it (``瀬市は``),
so the model cannot copy the name as the same pieces it saw in the question. ``--tokenizer char`` gives one piece
per character. Why the defaults are what they are: docs/learning_from_scratch.md.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import string
from pathlib import Path
from typing import Iterable, Iterator

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from ..core.errors import UserError
from ..core.io import read_rows, replacing_dir
from ..data.formats import DEFAULT_TEMPLATES, GPT_SEP, HL_TOKEN
from ..tokenization.hub import register_tokens

PAD, EOS, UNK, BOS = "<pad>", "</s>", "<unk>", "<s>"
SPECIAL_TOKENS = [PAD, EOS, UNK, BOS, HL_TOKEN, GPT_SEP]  # ids 0..5 in every tokenizer built here
ARCHS = ("t5", "bart", "gpt2")
SIZES = ("tiny", "small")
TOKENIZERS = ("char", "script")
# One piece per space, digit or punctuation mark; runs of one script otherwise.
SCRIPT_RUNS = r"▁|[0-9]|[\u4e00-\u9fff々〆ヶ]+|[\u3041-\u309f]+|[\u30a1-\u30faー]+|[A-Za-z]+|."

# Model shapes. "tiny" is what the tests and the learning test use; "small" is for a longer offline demo.
SHAPES = {
    "tiny": dict(d_model=128, layers=2, heads=4, d_ff=512),
    "small": dict(d_model=256, layers=4, heads=4, d_ff=1024),
}


def corpus_texts(data_dir: str | Path) -> Iterator[str]:
    """The text fields of a data dir's training files (train.tsv, train.txt, train-*.json; every file when
    none is named train*): TSV inputs/targets, text-file lines, JSQuAD contexts and questions.

    Test text stays out: pieces seen only there would get embeddings that training never touches.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such data dir; run a prepare script or `python -m jaqg.data.synthetic` first")
    files = sorted(p for p in data_dir.iterdir() if p.suffix in (".tsv", ".txt", ".json") and p.is_file())
    files = [p for p in files if p.name.startswith("train")] or files
    found = False
    for path in files:
        if path.suffix == ".tsv":
            for row in read_rows(path, 3, 3, what="id, input, target"):
                found = True
                yield from row[1:]
        elif path.suffix == ".txt":
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    found = True
                    yield line
        elif path.name != "prepare_report.json":
            with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
                for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
                    for para in article["paragraphs"]:
                        found = True
                        yield para["context"]
                        yield from (qa["question"] for qa in para["qas"])
    if not found:
        raise UserError(f"{data_dir}: no text found (expected *.tsv, *.txt or JSQuAD *.json); "
                        "point `data_dir` at a prepared data dir")


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000, granularity: str = "char",
                    append_eos: bool = True) -> PreTrainedTokenizerFast:
    """A unigram tokenizer with the special tokens first; seq2seq tokenizers append ``</s>`` like T5's."""
    if granularity not in TOKENIZERS:
        raise UserError(f"unknown tokenizer granularity {granularity!r}; use one of {', '.join(TOKENIZERS)}")
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never"),
        pre_tokenizers.Split(Regex(SCRIPT_RUNS if granularity == "script" else "."), behavior="isolated")])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
    # the template words and every printable ASCII character, so no input a user is likely to type is <unk>
    seed_texts = [t.format(question="", answer="", context="") for t in DEFAULT_TEMPLATES.values()]
    texts = itertools.chain(texts, seed_texts, string.printable.strip())
    tok.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token=UNK, show_progress=False,
        max_piece_length=16 if granularity == "script" else 1))
    tok = stable_piece_order(tok)
    if append_eos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, SPECIAL_TOKENS.index(EOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   bos_token=BOS, additional_special_tokens=[HL_TOKEN, GPT_SEP],
                                   model_max_length=1024)


def stable_piece_order(tok: Tokenizer) -> Tokenizer:
    """The same unigram tokenizer with its pieces (after the special tokens) sorted by score, then by text.

    UnigramTrainer orders pieces of equal score as a hash map iterates them, which differs between processes, so two
    runs of make_tiny_model on the same data gave different token ids, different models and different training runs.
    """
    spec = json.loads(tok.to_str())
    vocab, n_special = spec["model"]["vocab"], len(SPECIAL_TOKENS)
    assert [piece for piece, _ in vocab[:n_special]] == SPECIAL_TOKENS, "UnigramTrainer puts the special tokens first"
    spec["model"]["vocab"] = vocab[:n_special] + sorted(vocab[n_special:], key=lambda p: (-p[1], p[0]))
    return Tokenizer.from_str(json.dumps(spec))


def make_config(arch: str, size: str, tokenizer) -> T5Config | BartConfig | GPT2Config:
    s = SHAPES[size]
    ids = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
               bos_token_id=tokenizer.bos_token_id)
    if arch == "t5":
        return T5Config(d_model=s["d_model"], d_kv=s["d_model"] // s["heads"], d_ff=s["d_ff"],
                        num_layers=s["layers"], num_decoder_layers=s["layers"], num_heads=s["heads"],
                        dropout_rate=0.0, decoder_start_token_id=tokenizer.pad_token_id, **ids)
    if arch == "bart":
        return BartConfig(d_model=s["d_model"], encoder_layers=s["layers"], decoder_layers=s["layers"],
                          encoder_attention_heads=s["heads"], decoder_attention_heads=s["heads"],
                          encoder_ffn_dim=s["d_ff"], decoder_ffn_dim=s["d_ff"], max_position_embeddings=1024,
                          dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                          decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=None, **ids)
    if arch == "gpt2":
        return GPT2Config(n_embd=s["d_model"], n_layer=s["layers"] * 2, n_head=s["heads"], n_inner=s["d_ff"],
                          n_positions=1024, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **ids)
    raise UserError(f"unknown `arch` {arch!r}; use one of {', '.join(ARCHS)}")


MODEL_CLASSES = {"t5": T5ForConditionalGeneration, "bart": BartForConditionalGeneration, "gpt2": GPT2LMHeadModel}
# Neighbour each encoder head of a new T5 starts out attending to (key position minus query position).
LOCAL_OFFSETS = (-1, 1, -2, 2, -3, 3)


def add_locality_prior(model: T5ForConditionalGeneration, strength: float = 4.0) -> None:
    """Raise the relative-attention bias of one near offset per encoder head by ``strength``.

    T5 has no absolute positions: to copy a span it must learn heads that look at the previous / next token,
    and its relative-attention bias is a scalar per (bucket, head) initialised near 0, which AdamW moves by about
    the learning rate per step; a sharp local head takes thousands of steps. Starting with one here is what
    made a from-scratch T5 learn to copy unseen names (docs/learning_from_scratch.md).
    """
    from transformers.models.t5.modeling_t5 import T5Attention
    cfg = model.config
    bias = model.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight  # (buckets, heads)
    with torch.no_grad():
        for head in range(cfg.num_heads):
            offset = torch.tensor(LOCAL_OFFSETS[head % len(LOCAL_OFFSETS)])
            bucket = T5Attention._relative_position_bucket(offset, True, cfg.relative_attention_num_buckets,
                                                           cfg.relative_attention_max_distance)
            bias[bucket, head] += strength


def build_tiny_model(data_dir: str | Path, output_dir: str | Path, arch: str = "t5", size: str = "tiny",
                     seed: int = 0, vocab_size: int = 4000, tokenizer: str = "char",
                     locality_prior: float = 4.0) -> Path:
    """Train a tokenizer on ``data_dir`` and save it with a randomly initialised model to ``output_dir``.

    The dir appears complete or not at all (built beside it, then renamed into place).
    """
    if arch not in ARCHS:
        raise UserError(f"unknown `arch` {arch!r}; use one of {', '.join(ARCHS)}")
    if size not in SIZES:
        raise UserError(f"unknown `size` {size!r}; use one of {', '.join(SIZES)}")
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / "config.json").is_file():
        raise UserError(f"{output_dir}: exists and is not a model dir; choose another `output_dir`")
    tok = train_tokenizer(corpus_texts(data_dir), vocab_size, tokenizer, append_eos=arch != "gpt2")
    torch.manual_seed(seed)
    model = MODEL_CLASSES[arch](make_config(arch, size, tok))
    if arch == "t5" and locality_prior:
        add_locality_prior(model, locality_prior)
    with replacing_dir(output_dir) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return output_dir


def ensure_special_tokens(model, tokenizer, tokens: Iterable[str] = (HL_TOKEN, GPT_SEP)) -> int:
    """Register ``tokens`` as special tokens and grow the model's embeddings if the vocab outgrew them.

    For pretrained tokenizers that lack ``<hl>`` / ``<sep>`` (sonoisa's T5, rinna's GPT-2): without this
    ``<hl>`` is split into ``<``, ``h``, ``l``, ``>`` and the highlight is lost. Returns how many were added.
    ``model`` None: the tokenizer only (as training will see it, for jaqg.tokenization.hub.coverage_report).
    """
    added = register_tokens(tokenizer, tokens)
    if model is not None and len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return added
