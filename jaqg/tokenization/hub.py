"""Load a model's tokenizer so it encodes exactly as the model's own SentencePiece model does.

transformers 5 converts every ``spiece.model`` with T5's layout, whatever the model says (checked on 5.24.0):
the unigram's unknown id is fixed at 2 (rinna/japanese-gpt2-medium has ``<unk>`` 0 and ``</s>`` 2, so every
character outside the vocabulary became end-of-text), byte fallback is off (a byte-fallback model such as
sonoisa/t5-base-japanese-v1.1 gets ``<unk>`` where SentencePiece writes UTF-8 byte pieces), the dummy prefix and
whitespace handling are T5's (rinna/japanese-gpt-neox-3.6b turns both off), user-defined symbols become added
tokens that split the text (each part after one gets another dummy prefix), and ``do_lower_case`` in
tokenizer_config.json is ignored (rinna's vocabulary is lowercase).

``load_tokenizer`` is the one place every script loads a tokenizer (train.py and run_clm.py through
``jaqg.training.experiment.load_pretrained`` / ``jaqg.data.clm_data.load_tokenizer``, predict.py and generate.py through
``jaqg.generation.decoding.load_model``, make_tiny_model.py). When the model dir (or the hub cache) holds a
SentencePiece
model, the tokenizer is checked against ``sentencepiece.SentencePieceProcessor`` on ``PROBE`` (Japanese, Latin
upper/lower case, digits, full-width and half-width forms, emoji, rare kanji, extra spaces; plus the model's
user-defined symbols inside text), after the model's own lowercasing. On a difference the tokenizer is rebuilt from the
model proto itself (pieces and scores, unknown id,
byte fallback, the normalizer's precompiled charsmap, dummy prefix, whitespace handling) and checked again; a
difference that remains stops the run with one line (UserError). ``save_tokenizer`` writes the result (and a copy
of the SentencePiece model, so the next load checks it again) beside a trained model. Every load, also of a
tokenizer.json-only dir, ends with ``check_unknown_is_not_special``: a character outside the vocabulary must not
come back as eos, bos, pad or any special token other than unk. ``coverage_report``: how much of a data set the
tokenizer loses (<unk>, encode -> decode) and the exact-match ceilings that implies.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterable

from ..core.errors import UserError
from .spm_build import build_from_sentencepiece, read_model_proto, special_affixes, user_defined

# Names a SentencePiece model goes by in hub repositories (T5/mT5/rinna, XLM-R/BART, LLaMA).
SPM_NAMES = ("spiece.model", "sentencepiece.bpe.model", "sentencepiece.model", "tokenizer.model")
# Texts the tokenizer must encode as SentencePiece does: Japanese scripts, Latin upper/lower case, digits,
# full-width / half-width forms and NFKC compatibility characters, emoji, rare kanji (surrogate-pair 𠮷,
# variant 髙), and the whitespace cases SentencePiece treats specially (leading, doubled, trailing spaces).
PROBE = (
    "ＮＨＫと😀𠮷の甲府市",
    "GPT-2は言語モデルです",
    "髙島屋の①番館",
    "山梨県の県庁所在地は甲府市です。",
    "question: 富士山の高さは? context: 富士山は標高3776mの山である。",
    "Tokyo Tower と TOKYO SKYTREE",
    "ｶﾀｶﾅ と カタカナ、ひらがな、漢字。",
    "２０２４年１２月３１日 12:30 〜 13:45",
    "㈱ジャパン ℃ ㍻ Ⅻ ½",
    "  先頭と  途中の空白   末尾 ",
    "絵文字👍🏽と🇯🇵、記号★♪",
    "𩸽や𠀋、鷗外の森",
    "\u3000全角の空白\u3000と１２３、 先頭の空白",
)


def find_sentencepiece_model(name_or_path: str) -> Path | None:
    """The SentencePiece model file of a local model dir, or of a hub model in the local cache; None if none.

    Only files that parse as a SentencePiece ``ModelProto`` count (LLaMA-3's ``tokenizer.model`` is tiktoken).
    """
    local = Path(name_or_path).expanduser()
    candidates = []
    if local.is_dir():
        candidates = [local / n for n in SPM_NAMES if (local / n).is_file()]
    elif not local.exists():
        try:
            from transformers.utils import cached_file
            for n in SPM_NAMES:
                found = cached_file(name_or_path, n, local_files_only=True,
                                    _raise_exceptions_for_missing_entries=False,
                                    _raise_exceptions_for_connection_errors=False)
                if found:
                    candidates.append(Path(found))
        except (OSError, ValueError):
            return None
    for path in candidates:
        if read_model_proto(path) is not None:
            return path
    return None


def probe_texts(proto) -> list[str]:
    """``PROBE`` plus texts that use up to five of the model's user-defined symbols inside and between words."""
    return [*PROBE, *(f"{s}甲府市{s}は {s}Tokyo{s}" for s in user_defined(proto)[:5])]


def _lowercases(tokenizer) -> bool:
    """Whether the model's tokenizer config asks for lowercased input (rinna: ``do_lower_case``)."""
    return bool(tokenizer.init_kwargs.get("do_lower_case"))


def fidelity_mismatches(tokenizer, spm_path: str | Path, lowercase: bool,
                        texts: Iterable[str] = PROBE) -> list[str]:
    """How ``tokenizer`` differs from the SentencePiece model at ``spm_path``: one line per difference.

    Compared per text: ids of ``tokenizer(text, add_special_tokens=False)`` vs ``SentencePieceProcessor.encode``
    of the text (lowercased first when ``lowercase``), and, for texts SentencePiece encodes without ``<unk>``,
    ``tokenizer.decode`` vs ``SentencePieceProcessor.decode`` of those ids. Also the unknown-token id.
    """
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(spm_path))
    problems = []
    if tokenizer.unk_token_id != sp.unk_id():
        problems.append(f"unk token id {tokenizer.unk_token_id}, SentencePiece's is {sp.unk_id()}")
    for text in texts:
        ref = sp.encode(text.lower() if lowercase else text)
        ours = tokenizer(text, add_special_tokens=False)["input_ids"]
        if ours != ref:
            problems.append(f"{text!r}: {tokenizer.convert_ids_to_tokens(ours)} {ours}, SentencePiece "
                            f"{sp.id_to_piece(ref)} {ref}")
        elif sp.unk_id() not in ref:
            decoded, want = tokenizer.decode(ref, skip_special_tokens=False), sp.decode(ref)
            if decoded != want:
                problems.append(f"{text!r}: decodes to {decoded!r}, SentencePiece to {want!r}")
    return problems


def ensure_faithful(tokenizer, spm_path: str | Path | None, causal: bool = False):
    """``tokenizer`` itself when it encodes as the SentencePiece model at ``spm_path`` does (and, for a causal
    LM, adds no end-of-text token), else a rebuilt one that does; UserError when no rebuild matches.

    ``spm_path`` None: nothing to compare against (a tokenizer.json model); the tokenizer is returned as it is.
    """
    if spm_path is None:
        return tokenizer
    lowercase = _lowercases(tokenizer)
    appends = causal and bool(special_affixes(tokenizer)[1])  # an end-of-text after a causal LM's prompt
    proto = read_model_proto(spm_path)
    texts = probe_texts(proto)
    problems = fidelity_mismatches(tokenizer, spm_path, lowercase, texts)
    if not problems and not appends:
        tokenizer.sentencepiece_file = str(spm_path)
        return tokenizer
    rebuilt = build_from_sentencepiece(tokenizer, proto, lowercase, causal)
    remaining = fidelity_mismatches(rebuilt, spm_path, lowercase, texts)
    if remaining:
        raise UserError(f"{spm_path}: the tokenizer cannot be made to encode as this SentencePiece model "
                        f"({remaining[0]}); give a tokenizer.json that does (train.py, run_clm.py: "
                        "`tokenizer_name_or_path`)")
    rebuilt.sentencepiece_file = str(spm_path)
    return rebuilt


# Characters no tokenizer's vocabulary holds (Unicode private use areas, left alone by NFKC and SentencePiece's
# normalizers); the first one absent from every piece of the vocabulary is the probe of the unknown-character id.
UNSEEN = ("\U000F0A21", "\U0010FFFD", "\uE0A1", "\U000FFFF0")
SPECIAL_ROLES = ("eos_token", "bos_token", "pad_token", "sep_token", "cls_token", "mask_token")


def check_unknown_is_not_special(tokenizer) -> None:
    """UserError (one line) if a character outside the vocabulary encodes as a special token other than the unk
    token: end-of-text (rinna's ``</s>`` 2 after transformers' T5-style conversion), ``<s>`` (rinna-neox's bos 2),
    padding, ``[SEP]``... Training and generation would then stop, start or mask at every rare character.

    Probed, not read from the config: a private-use character that is in no vocabulary piece is encoded (no special
    tokens added) and every id that comes back must not be a special token other than the unk token; a special
    token that is both unk and eos counts as eos. Byte fallback and byte-level BPE give byte pieces, never a special
    token, so they pass."""
    vocab = tokenizer.get_vocab()
    char = next((c for c in UNSEEN if not any(c in piece for piece in vocab)), None)
    if char is None:
        return
    special = {}  # id -> "its eos_token '</s>'"
    for role in SPECIAL_ROLES:
        token = getattr(tokenizer, role, None)
        if token is not None:
            special.setdefault(tokenizer.convert_tokens_to_ids(str(token)), f"its {role} {str(token)!r}")
    for token in tokenizer.all_special_tokens:
        if token != tokenizer.unk_token:
            special.setdefault(tokenizer.convert_tokens_to_ids(token), f"its special token {token!r}")
    ids = tokenizer(char, add_special_tokens=False)["input_ids"]
    bad = next((i for i in ids if i in special), None)
    if bad is not None:
        unk = (f"its unk token {tokenizer.unk_token!r} ({tokenizer.unk_token_id})" if tokenizer.unk_token is not None
               else "an unk token")
        raise UserError(f"{tokenizer.name_or_path}: the tokenizer encodes a character outside its vocabulary "
                        f"(U+{ord(char):04X}) as id {bad}, {special[bad]}, not as {unk}; fix the model's unk_id "
                        "in tokenizer.json or put the model's SentencePiece model (spiece.model) in the dir")


def is_byte_level(tokenizer) -> bool:
    """Whether ``tokenizer`` is a byte-level BPE (GPT-2, GPT-NeoX, Qwen2, Llama-3): its decoder maps bytes back."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and '"ByteLevel"' in json.dumps(json.loads(backend.to_str()).get("decoder"))


def round_trip_mismatches(tokenizer, texts: Iterable[str] = PROBE) -> list[str]:
    """How a byte-level tokenizer fails to give each text back: ``decode(encode(text))`` must equal the text after
    the tokenizer's own normalizer (Qwen2's NFC; none for Llama-3 and GPT-2)."""
    normalizer = tokenizer.backend_tokenizer.normalizer
    problems = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        want = normalizer.normalize_str(text) if normalizer is not None else text
        back = tokenizer.decode(ids, skip_special_tokens=False)
        if back != want:
            problems.append(f"{text!r} comes back as {back!r} ({tokenizer.convert_ids_to_tokens(ids)})")
    return problems


def check_byte_level_round_trip(tokenizer) -> None:
    """UserError (one line) when a byte-level BPE tokenizer.json (no SentencePiece model to compare with) does not
    give Japanese text back exactly (``PROBE``): a vocabulary without all 256 byte symbols drops characters it has
    not seen (😀, 𠮷), a wrong decoder leaves byte symbols (``Ã¦``) in the output."""
    if not is_byte_level(tokenizer):
        return
    problems = round_trip_mismatches(tokenizer)
    if problems:
        raise UserError(f"{tokenizer.name_or_path}: the byte-level tokenizer does not give text back exactly "
                        f"({problems[0]}; {len(problems)} of {len(PROBE)} probe texts); give a tokenizer.json "
                        "whose vocabulary holds all 256 byte symbols and whose decoder is ByteLevel")


def register_tokens(tokenizer, tokens) -> int:
    """Add ``tokens`` the tokenizer lacks as special tokens (never split); how many were added. The model's
    embeddings must grow to match (jaqg.models.tiny.ensure_special_tokens does both)."""
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    return tokenizer.add_tokens(missing, special_tokens=True) if missing else 0


def refuse_remote_code(name_or_path: str, error: Exception, trusted: bool) -> None:
    """UserError (one line) when ``error`` is transformers refusing to run the Python code a model's repository
    ships (``auto_map`` in config.json) because ``trust_remote_code`` was not given."""
    if "trust_remote_code" in str(error) and not trusted:
        raise UserError(f"{name_or_path}: the model ships its own Python code (config.json `auto_map`), which runs "
                        "only when asked: pass `trust_remote_code` if you trust its source") from None


def load_tokenizer(name_or_path: str, causal: bool = False, use_fast: bool = True, trust_remote_code: bool = False):
    """The tokenizer of a hub name or model dir, checked (and repaired) against its SentencePiece model.

    - ``do_lower_case`` in tokenizer_config.json: a Lowercase step goes into the tokenizer's own normalizer
      (saved with it), for SentencePiece and tokenizer.json models alike.
    - ``causal``: no end-of-text appended to encoded text; no pad token -> pad with eos (GPT-2).
    ``use_fast`` is accepted for HF-recipe compatibility: transformers 5 has one (tokenizers) backend.
    UserError (one line) when it cannot be loaded or made faithful, or when it encodes an unknown character as a
    special token other than unk (``check_unknown_is_not_special``).
    """
    from transformers import AutoTokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, use_fast=use_fast, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as e:
        refuse_remote_code(name_or_path, e, trust_remote_code)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{name_or_path}: cannot load a tokenizer ({first}); give a hub name or a folder written "
                        "by save_pretrained / make_tiny_model.py") from None
    spm_path = find_sentencepiece_model(name_or_path)
    tokenizer = ensure_faithful(tokenizer, spm_path, causal)
    if spm_path is None:
        tokenizer = _lowercase_if_asked(tokenizer)
        check_byte_level_round_trip(tokenizer)
    check_unknown_is_not_special(tokenizer)
    if causal and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _lowercase_if_asked(tokenizer):
    """A tokenizer.json model whose config asks for ``do_lower_case`` but does not lowercase: add the step."""
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not (_lowercases(tokenizer) and backend is not None and tokenizer.tokenize("A") != tokenizer.tokenize("a")):
        return tokenizer
    backend.normalizer = (normalizers.Sequence([normalizers.Lowercase(), backend.normalizer])
                          if backend.normalizer else normalizers.Lowercase())
    # A plain tokenizers-backed class keeps the normalizer on save/load (T5Tokenizer would rebuild its own).
    return PreTrainedTokenizerFast(tokenizer_object=backend, name_or_path=tokenizer.name_or_path,
                                   model_max_length=tokenizer.model_max_length, do_lower_case=True,
                                   **tokenizer.special_tokens_map)


def save_tokenizer(tokenizer, directory: str | Path) -> None:
    """``save_pretrained`` plus the SentencePiece model it was checked against (``spiece.model``), so loading
    ``directory`` later checks the saved tokenizer against it again."""
    tokenizer.save_pretrained(directory)
    source = getattr(tokenizer, "sentencepiece_file", None)
    if source and Path(source).is_file():
        target = Path(directory) / "spiece.model"
        if not target.exists() or not target.samefile(source):
            shutil.copyfile(source, target)
