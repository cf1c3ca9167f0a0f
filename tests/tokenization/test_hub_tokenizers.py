"""jaqg.tokenization.hub: every tokenizer the project loads encodes as the model's own SentencePiece model.

SentencePiece models are trained here, at test time, with other id layouts and settings than T5's (unknown id 0 /
1 / 3, byte fallback, no dummy prefix, whitespace kept, case folding, lowercase vocabularies), since transformers 5
converts every spiece.model as if it were T5's. The real rinna model in ../shared is used only when present.
"""

import json
from pathlib import Path

import pytest
import sentencepiece as spm
from transformers import AutoTokenizer

from jaqg.core.errors import UserError
from jaqg.models.standins import SpmLayout, train_sentencepiece
from jaqg.tokenization.hub import PROBE, fidelity_mismatches, load_tokenizer, save_tokenizer

RINNA_SPM = Path(__file__).resolve().parents[3] / "shared" / "hub" / "rinna-japanese-gpt2" / "spiece.model"
# Our own sentences; none holds 😀, 𠮷 or 髙, so those are unknown to every model trained here.
PLACES = ["甲府市", "山梨県", "富士山", "東京タワー", "大阪城", "名古屋駅", "札幌", "那覇"]
PATTERNS = ["{}は日本にあります。", "{}の人口はおよそ12万人です。", "{}へ行くにはJRが便利だ。",
            "Visit {} by Train in 2024.", "{}で GPT-2 と BERT を比べた。", "ＡＢＣ社は{}に本社を置く。"]
CORPUS = [p.format(x) for p in PATTERNS for x in PLACES] * 3
RINNA_CONFIG = {"tokenizer_class": "T5Tokenizer", "do_lower_case": True, "extra_ids": 0, "bos_token": "<s>",
                "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "[PAD]", "cls_token": "[CLS]",
                "sep_token": "[SEP]", "mask_token": "[MASK]"}
T5_CONFIG = {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
             "extra_ids": 100}
NEOX_CONFIG = {"tokenizer_class": "T5Tokenizer", "extra_ids": 0, "bos_token": "<s>", "eos_token": "</s>",
               "unk_token": "<unk>", "pad_token": "<pad>"}
LAYOUTS = {  # name: (SentencePiece layout, tokenizer_config.json, causal)
    "rinna_unk0_lowercase": (SpmLayout(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, lowercase_corpus=True,
                                       control_symbols=("[PAD]", "[CLS]", "[SEP]", "[MASK]")), RINNA_CONFIG, True),
    "t5_v10": (SpmLayout(pad_id=0, eos_id=1, unk_id=2, bos_id=-1), T5_CONFIG, False),
    "t5_byte_fallback": (SpmLayout(pad_id=0, eos_id=1, unk_id=2, bos_id=-1, byte_fallback=True), T5_CONFIG, False),
    "neox_no_prefix_keep_spaces": (SpmLayout(pad_id=0, unk_id=1, bos_id=2, eos_id=3, byte_fallback=True,
                                             add_dummy_prefix=False, remove_extra_whitespaces=False),
                                   NEOX_CONFIG, True),
    "unk3_case_folding": (SpmLayout(pad_id=0, eos_id=1, bos_id=2, unk_id=3, normalization_rule_name="nmt_nfkc_cf"),
                          {**T5_CONFIG, "extra_ids": 0}, False),
}


def make_dir(tmp_path: Path, layout: SpmLayout, config: dict, **train_options) -> Path:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    train_sentencepiece(CORPUS, model_dir / "spiece.model", layout, vocab_size=300, **train_options)
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config))
    return model_dir


@pytest.mark.parametrize("name", LAYOUTS)
def test_loaded_tokenizer_encodes_as_sentencepiece(tmp_path, name):
    layout, config, causal = LAYOUTS[name]
    model_dir = make_dir(tmp_path, layout, config)
    sp = spm.SentencePieceProcessor(model_file=str(model_dir / "spiece.model"))
    lower = config.get("do_lower_case", False)
    tok = load_tokenizer(str(model_dir), causal=causal)
    assert fidelity_mismatches(tok, model_dir / "spiece.model", lower) == []
    texts = [*PROBE, *CORPUS[:6], "  甲府市  と\u3000富士山  "]
    for text in texts:
        assert tok(text, add_special_tokens=False)["input_ids"] == sp.encode(text.lower() if lower else text), text
    assert tok.unk_token_id == layout.unk_id
    ids = tok("😀𠮷と髙", add_special_tokens=False)["input_ids"]
    if layout.byte_fallback:  # UTF-8 byte pieces, never <unk>; they decode back to the characters
        assert layout.unk_id not in ids and tok.decode(ids) == "😀𠮷と髙"
    else:  # an unknown character is <unk>, never end-of-text
        assert layout.unk_id in ids and tok.eos_token_id not in ids
    # a causal LM's prompt carries no end-of-text; a seq2seq input ends with it, as T5's does
    full = tok("甲府市")["input_ids"]
    assert (full[-1] == tok.eos_token_id) != causal
    # saved with the model (save_tokenizer) -> loads back identical, also with plain AutoTokenizer
    save_tokenizer(tok, tmp_path / "saved")
    assert (tmp_path / "saved" / "spiece.model").is_file()
    again = load_tokenizer(str(tmp_path / "saved"), causal=causal)
    plain = AutoTokenizer.from_pretrained(tmp_path / "saved")
    for text in texts:
        want = tok(text)["input_ids"]
        assert again(text)["input_ids"] == want and plain(text)["input_ids"] == want, text


def test_transformers_alone_maps_unknown_to_eos_in_rinna_layout(tmp_path):
    """The fault being repaired (transformers 5.24): rinna's layout converted as T5's gives unk id 2 = </s>."""
    layout, config, _ = LAYOUTS["rinna_unk0_lowercase"]
    model_dir = make_dir(tmp_path, layout, config)
    raw = AutoTokenizer.from_pretrained(model_dir)
    assert 2 in raw("甲府😀", add_special_tokens=False)["input_ids"]  # </s> inside the text
    assert fidelity_mismatches(raw, model_dir / "spiece.model", lowercase=True)
    ids = load_tokenizer(str(model_dir), causal=True)("甲府😀", add_special_tokens=False)["input_ids"]
    assert ids[-1] == 0 and 2 not in ids


def test_user_defined_symbols_stay_pieces_without_a_prefix_after_them(tmp_path):
    """SentencePiece keeps a user-defined symbol one piece inside the text; transformers makes it an added token
    that splits the text, and the part after it gets another dummy prefix ▁."""
    layout, config, _ = LAYOUTS["t5_v10"]
    model_dir = make_dir(tmp_path, layout, config, user_defined_symbols=["<hl>", "【"])
    sp = spm.SentencePieceProcessor(model_file=str(model_dir / "spiece.model"))
    text = "【重要】は<hl>甲府<hl>です"
    assert AutoTokenizer.from_pretrained(model_dir)(text, add_special_tokens=False)["input_ids"] != sp.encode(text)
    tok = load_tokenizer(str(model_dir))
    assert tok(text, add_special_tokens=False)["input_ids"] == sp.encode(text)
    assert tok(text)["input_ids"][-1] == tok.eos_token_id and tok.convert_tokens_to_ids("<extra_id_0>") == len(tok) - 1


def test_a_difference_that_cannot_be_repaired_stops_with_one_line(tmp_path):
    layout, config, _ = LAYOUTS["t5_v10"]
    model_dir = make_dir(tmp_path, layout, config, treat_whitespace_as_suffix=True)  # not rebuilt here
    with pytest.raises(UserError) as e:
        load_tokenizer(str(model_dir))
    msg = str(e.value)
    assert "\n" not in msg and "spiece.model" in msg and "cannot be made to encode" in msg


@pytest.mark.skipif(not RINNA_SPM.is_file(), reason="../shared/hub/rinna-japanese-gpt2/spiece.model not present")
def test_rinna_real_spiece_model(tmp_path):
    """The issue's strings with rinna's real SentencePiece model and tokenizer_config: ids of the lowercased text."""
    model_dir = tmp_path / "rinna"
    model_dir.mkdir()
    (model_dir / "spiece.model").write_bytes(RINNA_SPM.read_bytes())
    (model_dir / "tokenizer_config.json").write_text(json.dumps(RINNA_CONFIG))
    sp = spm.SentencePieceProcessor(model_file=str(RINNA_SPM))
    tok = load_tokenizer(str(model_dir), causal=True)
    for text in ("ＮＨＫと😀𠮷の甲府市", "GPT-2は言語モデルです", "髙島屋の①番館", *PROBE):
        assert tok(text)["input_ids"] == sp.encode(text.lower()), text
    assert tok("😀", add_special_tokens=False)["input_ids"] == [9, 0] and tok.eos_token_id == 2  # '▁', '<unk>'


def test_coverage_counts_unknown_and_lost_text_and_the_exact_match_ceiling(tmp_path):
    from jaqg.core.io import Example
    from jaqg.evaluation.coverage import coverage_report, format_coverage
    layout, config, _ = LAYOUTS["rinna_unk0_lowercase"]
    tok = load_tokenizer(str(make_dir(tmp_path, layout, config)), causal=True)
    examples = [Example("a", "甲府😀市は山梨県にあります。", "甲府市"),        # <unk> in the input
                Example("b", "GPT-2 で比べた。", "GPT-2"),                 # lowercased: lost in both
                Example("c", "富士山は日本にあります。", "富士山😀😀"),      # <unk> in the target
                Example("d", "札幌は日本にあります。", "札幌")]
    report = coverage_report(tok, {"test": examples})["test"]
    inputs, targets = report["inputs"], report["targets"]
    assert (inputs["n"], inputs["with_unk"], inputs["not_round_trip"]) == (4, 1, 2)
    assert (targets["with_unk"], targets["not_round_trip"]) == (1, 2)
    assert inputs["unknown_chars"] == {"😀": 1} and targets["unknown_chars"] == {"😀": 2}
    assert [e["id"] for e in inputs["unk_examples"]] == ["a"] and inputs["unk_examples"][0]["unknown"] == ["😀"]
    assert [e["id"] for e in targets["round_trip_examples"]] == ["b", "c"]
    assert "'GPT-2' -> 'gpt-2'" in targets["round_trip_examples"][0]["change"]
    # score.py's exact_match keeps case: GPT-2 -> gpt-2 is lost; JGLUE's EM lowercases: only the <unk> target is
    assert report["exact_match_ceiling"] == 50.0 and report["jglue_exact_match_ceiling"] == 75.0
    printed = format_coverage(coverage_report(tok, {"test": examples}))
    assert "test targets: 1 of 4 hold <unk>, 2 do not survive" in printed
    assert "test exact-match ceiling: 50.00 (exact_match: NFKC, case kept), 75.00 (jglue exact_match" in printed


def test_coverage_examples_keep_their_spaces_and_list_unknown_characters_one_by_one(tmp_path):
    """An excerpt is a string of the data (spaces as written); a run of unknown characters (one SentencePiece
    <unk>) is listed character by character."""
    from jaqg.core.io import Example
    from jaqg.evaluation.coverage import coverage, coverage_report, format_coverage
    layout, config, _ = LAYOUTS["rinna_unk0_lowercase"]
    tok = load_tokenizer(str(make_dir(tmp_path, layout, config)), causal=True)
    texts = ["甲府市は 日本に😀𠮷あります。", "Visit 甲府市 by Train in 2024."]
    c = coverage(tok, texts, ["u", "v"])
    assert c["unk_examples"] == [{"id": "u", "unknown": ["😀", "𠮷"], "text": "甲府市は 日本に😀𠮷あります。"}]
    assert c["unknown_chars"] == {"😀": 1, "𠮷": 1}
    assert [e["id"] for e in c["round_trip_examples"]] == ["u", "v"]
    assert c["round_trip_examples"][1]["change"] == "'Visit 甲府市 by …' -> 'visit 甲府市 by …'"
    printed = format_coverage(coverage_report(tok, {"test": [Example("u", texts[0], "甲府市")]}))
    assert "u '甲府市は 日本に😀𠮷あります。' (unknown: 😀 𠮷)" in printed


# transformers 5 saves a converted SentencePiece model as tokenizer.json with T5's unk id 2, whatever piece 2 is;
# a fine-tune saved that way without its spiece.model keeps the fault. Piece 2 of each layout:
BROKEN_UNK = {"rinna_eos": (LAYOUTS["rinna_unk0_lowercase"][0], RINNA_CONFIG, "eos_token '</s>'"),
              "neox_bos": (LAYOUTS["neox_no_prefix_keep_spaces"][0], NEOX_CONFIG, "bos_token '<s>'"),
              "pad": (SpmLayout(unk_id=0, eos_id=1, pad_id=2, bos_id=-1), {**T5_CONFIG, "extra_ids": 0},
                      "pad_token '<pad>'")}


def _tokenizer_json_only(tmp_path: Path, layout: SpmLayout, config: dict) -> Path:
    """The dir plain transformers 5 writes for this layout (tokenizer.json, no SentencePiece model)."""
    raw = AutoTokenizer.from_pretrained(make_dir(tmp_path, layout, config))
    saved = tmp_path / "finetune"
    raw.save_pretrained(saved)
    for name in ("spiece.model", "tokenizer.model", "sentencepiece.bpe.model"):
        (saved / name).unlink(missing_ok=True)
    assert (saved / "tokenizer.json").is_file()
    return saved


@pytest.mark.parametrize("case", BROKEN_UNK)
def test_unknown_character_as_any_special_token_stops_with_one_line(tmp_path, capsys, case):
    """eos, bos or pad for a character outside the vocabulary: refused before anything is written (probed with a
    private-use character)."""
    from conftest import ROOT, run_main_in_process

    import prepare_jsquad
    layout, config, role = BROKEN_UNK[case]
    saved = _tokenizer_json_only(tmp_path, layout, config)
    with pytest.raises(UserError) as e:
        load_tokenizer(str(saved), causal=True)
    assert "\n" not in str(e.value) and role in str(e.value) and "outside its vocabulary" in str(e.value)
    out = tmp_path / "data"
    status, _, err = run_main_in_process(capsys, prepare_jsquad.main, "prepare_jsquad.py",
                                         f"--jsquad_dir={ROOT / 'examples' / 'jsquad'}", f"--output_dir={out}",
                                         f"--tokenizer_name_or_path={saved}")
    assert status == 2 and err.count("\n") == 1 and role in err and not out.exists()


def test_byte_fallback_and_byte_level_bpe_pass_the_unknown_character_probe(tmp_path):
    """Unknown characters become byte pieces there, never a special token, even when unk is eos (open-calm)."""
    from transformers import PreTrainedTokenizerFast

    from jaqg.models.standins import _train_byte_bpe
    calm = tmp_path / "calm"
    PreTrainedTokenizerFast(tokenizer_object=_train_byte_bpe(CORPUS, ("<|endoftext|>", "<|padding|>"), 400),
                            bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                            unk_token="<|endoftext|>").save_pretrained(calm)
    assert 0 not in load_tokenizer(str(calm), causal=True)("\U000F0A21😀", add_special_tokens=False)["input_ids"]
    layout, config, _ = LAYOUTS["t5_byte_fallback"]
    saved = _tokenizer_json_only(tmp_path, layout, config)  # transformers drops byte fallback: <unk> 2, still unk
    assert load_tokenizer(str(saved)).unk_token_id == 2
