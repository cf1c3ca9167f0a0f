"""Decoder-LLM tokenizer families load exactly or stop with one line (jaqg.tokenization.hub / spm_build).

- Llama-2-family BPE SentencePiece models (Swallow, ELYZA: ``tokenizer.model`` with byte fallback, ``nmt_nfkc`` or
  identity normalizer, a ``LlamaTokenizer`` config), trained here at test time on our own sentences, must encode
  and decode as ``sentencepiece`` does, keep Llama's ``<s>`` before a prompt and add no ``</s>`` after it.
- Byte-level BPE ``tokenizer.json`` models (Qwen2 with NFC, Llama-3 without a normalizer) must give Japanese text
  back exactly; one whose vocabulary lacks byte symbols stops with one line.
- llm-jp's real v3 model (unigram, byte fallback) through a ``LlamaTokenizer`` dir, when ../shared is present.
"""

import json
import shutil
from pathlib import Path

import pytest
import sentencepiece as spm
from conftest import ROOT
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from jaqg.core.errors import UserError
from jaqg.models.standins import SpmLayout, train_sentencepiece
from jaqg.tokenization.hub import PROBE, fidelity_mismatches, load_tokenizer, round_trip_mismatches, save_tokenizer

LLMJP = ROOT.parent / "shared" / "hub" / "llm-jp-tokenizer"
# Our own sentences: full-width digits and letters, U+3000, leading and doubled spaces, emoji, rare kanji.
SENTENCES = [
    "甲府市は山梨県の県庁所在地で、人口はおよそ１８万人です。",
    "富士山の標高は３７７６メートルで、日本で一番高い山です。",
    "\u3000東京タワーは１９５８年に完成し、高さは３３３ｍある。",
    " 先頭に空白がある文と、  途中に二つの空白がある文。",
    "髙島屋と𠮷野家は、どちらも名前に珍しい字を使っている。",
    "今日は晴れ☀️、明日は雨☔の予報です😀。",
    "ＡＢＣ社の２０２４年度の売上は１２３億円だった。",
    "Swallow と ELYZA は Llama 2 を日本語で追加学習したモデルです。",
    "鷗外と漱石の小説を読み比べる。",
    "大阪城の天守閣は１５８３年に築かれた。",
]
CORPUS = SENTENCES * 20
TEXTS = [*PROBE, *SENTENCES, "  甲府市  と\u3000富士山  ", "１２３ＡＢＣ\u3000😀", "𩸽🇯🇵", " ", "甲"]
LLAMA_CONFIG = {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                "add_bos_token": True, "add_eos_token": False, "legacy": False}
BPE_CASES = {  # name: (normalization rule, byte fallback)
    "swallow_nfkc_byte_fallback": ("nmt_nfkc", True),
    "identity_byte_fallback": ("identity", True),
    "nfkc_no_byte_fallback": ("nmt_nfkc", False),
}


def llama_bpe_dir(tmp_path: Path, rule: str, byte_fallback: bool, vocab_size: int = 300) -> Path:
    """A Llama-2-family model dir: a BPE SentencePiece tokenizer.model (<unk> 0, <s> 1, </s> 2) + LlamaTokenizer."""
    model_dir = tmp_path / "llama"
    model_dir.mkdir()
    layout = SpmLayout(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=byte_fallback,
                       normalization_rule_name=rule)
    train_sentencepiece(CORPUS, model_dir / "tokenizer.model", layout, vocab_size=vocab_size, model_type="bpe")
    (model_dir / "tokenizer_config.json").write_text(json.dumps(LLAMA_CONFIG))
    return model_dir


def test_transformers_alone_encodes_a_bpe_nfkc_model_wrongly(tmp_path):
    """The fault being repaired (transformers 5.24): full-width digits as UTF-8 bytes, NFKC not applied."""
    model_dir = llama_bpe_dir(tmp_path, "nmt_nfkc", True)
    raw = AutoTokenizer.from_pretrained(model_dir)
    assert fidelity_mismatches(raw, model_dir / "tokenizer.model", False, TEXTS)
    assert "<0xEF>" in raw.tokenize("２０２４")


@pytest.mark.parametrize("case", BPE_CASES)
def test_llama_bpe_sentencepiece_loads_exactly(tmp_path, case):
    rule, byte_fallback = BPE_CASES[case]
    model_dir = llama_bpe_dir(tmp_path, rule, byte_fallback)
    sp = spm.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
    tok = load_tokenizer(str(model_dir), causal=True)
    for text in TEXTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert ids == sp.encode(text), text
        if sp.unk_id() not in ids:  # SentencePiece decodes <unk> as " ⁇ "
            assert tok.decode(ids) == sp.decode(ids), text
    if byte_fallback:  # characters never seen in training come back through byte pieces
        ids = tok("🦊𩸽", add_special_tokens=False)["input_ids"]
        assert sp.unk_id() not in ids and tok.decode(ids) == "🦊𩸽"
    else:  # a run of unknown characters is one <unk>, as in SentencePiece, never end-of-text
        ids = tok("🦊𩸽", add_special_tokens=False)["input_ids"]
        assert ids.count(0) == 1 and 2 not in ids
    # Llama's prompt: <s> first, no </s> at the end
    assert tok("甲府市")["input_ids"] == [1, *sp.encode("甲府市")]
    # saved beside a model -> loads back identical, also with plain AutoTokenizer
    save_tokenizer(tok, tmp_path / "saved")
    again = load_tokenizer(str(tmp_path / "saved"), causal=True)
    plain = AutoTokenizer.from_pretrained(tmp_path / "saved")
    for text in TEXTS:
        want = tok(text)["input_ids"]
        assert again(text)["input_ids"] == want and plain(text)["input_ids"] == want, text


def test_a_bpe_model_that_cannot_be_matched_stops_with_one_line(tmp_path):
    model_dir = tmp_path / "llama"
    model_dir.mkdir()
    layout = SpmLayout(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True)
    train_sentencepiece(CORPUS, model_dir / "tokenizer.model", layout, vocab_size=300, model_type="bpe",
                        treat_whitespace_as_suffix=True)  # not rebuilt here
    (model_dir / "tokenizer_config.json").write_text(json.dumps(LLAMA_CONFIG))
    with pytest.raises(UserError) as e:
        load_tokenizer(str(model_dir), causal=True)
    assert "\n" not in str(e.value) and "cannot be made to encode" in str(e.value)


# --- byte-level BPE tokenizer.json (Qwen2, Llama-3) ------------------------------------------------------------------
# The pre-tokenizer split patterns of Qwen2 and Llama-3 (as their tokenizer.json files write them).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
               r"\s+(?!\S)|\s+")
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level_dir(tmp_path: Path, split: str, nfc: bool, all_bytes: bool = True) -> Path:
    tok = Tokenizer(models.BPE())
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=500, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if all_bytes else []))
    out = tmp_path / "byte_level"
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(out)
    return out


@pytest.mark.parametrize("split, nfc", [(QWEN2_SPLIT, True), (LLAMA3_SPLIT, False)], ids=["qwen2", "llama3"])
def test_byte_level_bpe_round_trips_japanese(tmp_path, split, nfc):
    tok = load_tokenizer(str(byte_level_dir(tmp_path, split, nfc)), causal=True)
    assert round_trip_mismatches(tok, TEXTS) == []
    for text in TEXTS:
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text, text


def test_byte_level_bpe_that_drops_characters_stops_with_one_line(tmp_path):
    """Trained without the 256 byte symbols, unseen characters (🦊 𩸽 in the probe) vanish silently."""
    model_dir = byte_level_dir(tmp_path, QWEN2_SPLIT, True, all_bytes=False)
    with pytest.raises(UserError) as e:
        load_tokenizer(str(model_dir), causal=True)
    assert "\n" not in str(e.value) and "does not give text back exactly" in str(e.value)


# --- llm-jp's real v3 SentencePiece model ---------------------------------------------------------------------------
@pytest.mark.skipif(not (LLMJP / "llm-jp-tokenizer-100k.ver3.0b1.model").is_file(), reason="../shared absent")
def test_llm_jp_v3_real_model_loads_exactly_through_a_llama_tokenizer_dir(tmp_path):
    spm_file = LLMJP / "llm-jp-tokenizer-100k.ver3.0b1.model"
    model_dir = tmp_path / "llmjp"
    model_dir.mkdir()
    shutil.copyfile(spm_file, model_dir / "tokenizer.model")
    config = {**json.loads((LLMJP / "tokenizer_config.json").read_text()), "tokenizer_class": "LlamaTokenizer"}
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config))
    shutil.copyfile(LLMJP / "special_tokens_map.json", model_dir / "special_tokens_map.json")
    sp = spm.SentencePieceProcessor(model_file=str(spm_file))
    tok = load_tokenizer(str(model_dir), causal=True)
    for text in TEXTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert ids == sp.encode(text), text
        assert tok.decode(ids) == sp.decode(ids), text
    assert tok("甲府市")["input_ids"] == [1, *sp.encode("甲府市")]  # <s> kept, no </s>
    assert tok.pad_token == "<PAD|LLM-jp>" and tok.pad_token_id >= sp.get_piece_size()
    for token in ("<CLS|LLM-jp>", "<SEP|LLM-jp>", "<MASK|LLM-jp>"):  # one token each, not <unk>
        assert tok(token, add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids(token)]
        assert tok.convert_tokens_to_ids(token) >= sp.get_piece_size()
