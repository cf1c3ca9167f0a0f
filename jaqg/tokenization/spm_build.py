"""Rebuild a ``tokenizers`` tokenizer from a SentencePiece model proto so it encodes exactly as SentencePiece does.

Both SentencePiece model types are rebuilt:

- unigram (T5, mT5, rinna, llm-jp v3): the pieces and scores as a ``Unigram`` model, the unknown id, byte fallback;
- BPE (Llama-2 and its Japanese continuations Swallow and ELYZA): the pieces as a ``BPE`` vocabulary with the ids of
  the proto, merges derived from the pieces (SentencePiece BPE merges the adjacent pair whose concatenation is the
  highest-scored piece; ``tokenizers`` BPE the pair of the lowest merge rank, so each piece's splits are ranked by the
  piece's score), byte fallback. transformers 5's ``LlamaTokenizer`` conversion of such a model drops the
  normalizer (full-width digits become UTF-8 bytes where ``nmt_nfkc`` makes them ASCII digits) and treats leading
  and ideographic spaces otherwise.

Either way the normalizer is the proto's (precompiled NFKC charsmap, or none for ``identity``; lowercasing when the
model's config asks for it; extra-whitespace removal; dummy prefix; space -> ▁), there is no pre-tokenizer (one
lattice or one merge sequence over the whole text, as SentencePiece), and the decoder turns ▁ back into spaces,
byte pieces into bytes and drops the dummy prefix's space. Whether the result matches is checked by the caller
(``jaqg.tokenization.hub.ensure_faithful``) against ``sentencepiece`` itself.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import UserError


def read_model_proto(path: str | Path):
    """The parsed ``sentencepiece_model_pb2.ModelProto`` of ``path``, or None if it is not one."""
    from google.protobuf.message import DecodeError
    from sentencepiece import sentencepiece_model_pb2 as pb
    proto = pb.ModelProto()
    try:
        proto.ParseFromString(Path(path).read_bytes())
    except (DecodeError, OSError):
        return None
    return proto if len(proto.pieces) else None


def user_defined(proto) -> list[str]:
    """The model's user-defined symbols (SentencePiece keeps each one a piece, wherever it stands)."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    return [p.piece for p in proto.pieces if p.type == pb.ModelProto.SentencePiece.USER_DEFINED]


def model_type(proto) -> str:
    """``UNIGRAM``, ``BPE``, ``WORD`` or ``CHAR``: the SentencePiece model type of ``proto``."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    return pb.TrainerSpec.ModelType.Name(proto.trainer_spec.model_type)


def bpe_merges(proto) -> list[tuple[str, str]]:
    """The merges a ``tokenizers`` BPE model needs to merge as SentencePiece's BPE does: every split of each normal
    piece into two normal pieces, ranked by the merged piece's score (highest first), then by id."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    normal = {p.piece: i for i, p in enumerate(proto.pieces) if p.type == pb.ModelProto.SentencePiece.NORMAL}
    ranked = []
    for piece, i in normal.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((-proto.pieces[i].score, i, normal[left], normal[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def special_affixes(tokenizer, text: str = "a") -> tuple[list[int], list[int]]:
    """The special-token ids ``tokenizer`` puts before and after an encoded text (Llama: ``[1]`` / ``[]``; T5:
    ``[]`` / ``[1]``; rinna GPT-2 as transformers loads it: ``[]`` / ``[2]``)."""
    full = tokenizer(text)["input_ids"]
    bare = tokenizer(text, add_special_tokens=False)["input_ids"]
    for k in range(len(full) - len(bare) + 1):
        if full[k:k + len(bare)] == bare:
            return full[:k], full[k + len(bare):]
    return [], []


def _prefix_processor(tokenizer, prefix: list[int]):
    """A post-processor that puts only ``prefix`` (bos) before a text: a causal LM's prompt keeps its start token
    (Llama's ``<s>``) but never ends in end-of-text."""
    from tokenizers import processors
    if not prefix:
        return None
    names = tokenizer.convert_ids_to_tokens(prefix)
    return processors.TemplateProcessing(single=[*names, "$A"], pair=[*names, "$A", "$B"],
                                         special_tokens=sorted(set(zip(names, prefix)), key=lambda t: t[1]))


def build_from_sentencepiece(tokenizer, proto, lowercase: bool, causal: bool):
    """A ``PreTrainedTokenizerFast`` that encodes as the SentencePiece ``proto`` does, keeping ``tokenizer``'s
    special tokens, added tokens (same ids) and, for seq2seq models, its post-processor (T5 appends ``</s>``).

    Causal LMs keep the special tokens put before a text (Llama's ``<s>``) and lose those put after it: a prompt
    must not end in end-of-text (rinna's GPT-2 adds no eos). UserError for a WORD or CHAR model.
    """
    from sentencepiece import sentencepiece_model_pb2 as pb
    from tokenizers import Regex, Tokenizer, decoders, normalizers
    from transformers import PreTrainedTokenizerFast

    where, kind = tokenizer.name_or_path, model_type(proto)
    if kind not in ("UNIGRAM", "BPE"):
        raise UserError(f"{where}: its SentencePiece model is a {kind} model, which jaqg cannot rebuild (unigram "
                        "and BPE only); use a tokenizer.json that matches it (`tokenizer_name_or_path`)")
    unknown = [i for i, p in enumerate(proto.pieces) if p.type == pb.ModelProto.SentencePiece.UNKNOWN]
    if len(unknown) != 1:
        raise UserError(f"{where}: its SentencePiece model has {len(unknown)} unknown pieces (expected 1)")
    prefix = special_affixes(tokenizer)[0] if causal else []
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    pieces = [p.piece for p in proto.pieces]
    # Added tokens keep their ids: those inside the SentencePiece vocabulary must name the same piece there.
    for added in state.get("added_tokens", []):
        if added["id"] < len(pieces) and pieces[added["id"]] != added["content"]:
            raise UserError(f"{where}: token {added['content']!r} has id {added['id']} in the tokenizer but "
                            f"SentencePiece's piece {added['id']} is {pieces[added['id']]!r}; the tokenizer "
                            "files disagree with the SentencePiece model")
    # User-defined symbols stay pieces of the unigram model, as in SentencePiece: as added tokens (what
    # transformers makes of them) they split the text, and each part after them got its own dummy prefix.
    dropped = set()
    if kind == "UNIGRAM":
        dropped = {a["content"] for a in state.get("added_tokens", [])
                   if not a["special"] and a["content"] in set(user_defined(proto))}
        state["model"] = {"type": "Unigram", "unk_id": unknown[0], "byte_fallback": proto.trainer_spec.byte_fallback,
                          "vocab": [[p.piece, p.score] for p in proto.pieces]}
    else:  # a run of unknown characters is one <unk> in SentencePiece's BPE too
        state["model"] = {"type": "BPE", "dropout": None, "unk_token": pieces[unknown[0]],
                          "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                          "byte_fallback": proto.trainer_spec.byte_fallback, "ignore_merges": False,
                          "vocab": {p: i for i, p in enumerate(pieces)},
                          "merges": [list(m) for m in bpe_merges(proto)]}
    state["added_tokens"] = [a for a in state.get("added_tokens", []) if a["content"] not in dropped]
    state["normalizer"] = state["pre_tokenizer"] = state["decoder"] = None
    if causal:
        state["post_processor"] = None
    backend = Tokenizer.from_str(json.dumps(state))
    if causal and prefix:
        backend.post_processor = _prefix_processor(tokenizer, prefix)

    spec = proto.normalizer_spec
    steps = [normalizers.Lowercase()] if lowercase else []
    if spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(spec.precompiled_charsmap))
    if spec.remove_extra_whitespaces:  # SentencePiece: drop leading/trailing spaces, collapse runs to one
        steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace(Regex("^ | $"), "")]
    # Dummy prefix and space -> ▁ in the normalizer, no pre-tokenizer: one unigram lattice over the whole text,
    # as SentencePiece itself does (a text after an added token such as <hl> gets its own prefix, as in T5).
    if spec.add_dummy_prefix:
        steps.append(normalizers.Prepend("▁"))
    if spec.escape_whitespaces:
        steps.append(normalizers.Replace(" ", "▁"))
    backend.normalizer = normalizers.Sequence(steps)
    # Byte pieces to bytes after ▁ -> space; the dummy prefix's space is dropped again (as SentencePiece does).
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
                                        + ([decoders.Strip(" ", 1, 0)] if spec.add_dummy_prefix else []))
    special = {k: str(v) for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str) or
               hasattr(v, "content")}
    # T5's <extra_id_N> sentinels (transformers 5 calls them extra_special_tokens)
    extra = [str(t) for t in getattr(tokenizer, "extra_special_tokens", None) or [] if str(t) not in dropped]
    kwargs = {"do_lower_case": True} if lowercase else {}
    if causal and prefix:  # said in tokenizer_config.json too, so a reload rebuilds the same post-processor
        kwargs.update(add_bos_token=True, add_eos_token=False)
    return PreTrainedTokenizerFast(tokenizer_object=backend, name_or_path=tokenizer.name_or_path,
                                   model_max_length=tokenizer.model_max_length, clean_up_tokenization_spaces=False,
                                   **special, **({"extra_special_tokens": extra} if extra else {}), **kwargs)
