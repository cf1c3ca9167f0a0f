"""Our chat SFT labels against TRL's SFTTrainer on the same tokenizer, template and data, token by token.

The data is the AQG-HL chat JSONL that prepare_jsquad_aqg.py --format chat writes from examples/jsquad (43
training conversations); the tokenizers are the Qwen2.5 stand-in's (ChatML) and the Swallow stand-in's with an
llm-jp-style template. TRL builds its labels in SFTTrainer's dataset preparation (``train_dataset["labels"]``):
- ``assistant_only_loss`` on ``messages`` rows needs ``{% generation %}`` markers; ChatML with the markers around
  content + ``<|im_end|>`` gives exactly our labels;
- ``completion_only_loss`` on prompt/completion rows labels every token after the prompt, so it also trains on the
  text a template writes after the end-of-turn token (ChatML's newline), which we mask: the labels differ there and
  only there.
"""

import json
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_main_in_process

from jaqg.data.batching import IGNORE_INDEX
from jaqg.data.chat_sft import encode_conversation, read_chat_file
from jaqg.data.clm_data import load_tokenizer
from jaqg.models.standins import build_standin
from jaqg.models.standins_llm import LLMJP_STYLE_TEMPLATE as LLMJP_STYLE
from jaqg.models.standins_llm import QWEN_CHAT_TEMPLATE_MARKED as QWEN_MARKED

torch.set_num_threads(1)
QWEN, SWALLOW = "Qwen/Qwen2.5-0.5B-Instruct", "tokyotech-llm/Swallow-7b-hf"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import prepare_jsquad_aqg
    out = tmp_path_factory.mktemp("trl")
    prepare_jsquad_aqg.main(["--highlight", "--format=chat", f"--jsquad_dir={ROOT / 'examples' / 'jsquad'}",
                             f"--output_dir={out / 'chat'}"])
    examples, _ = read_chat_file(out / "chat" / "train.jsonl")
    dirs = {name: build_standin(name, out / name.split("/")[0], data_dir=ROOT / "examples" / "jsquad")
            for name in (QWEN, SWALLOW)}
    return examples, dirs, out


def trl_labels(tokenizer, rows: list[dict], tmp_path: Path, **options) -> list[dict]:
    """SFTTrainer's prepared training rows (input_ids, labels) for ``rows``, on a tiny Llama of the vocabulary."""
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl import SFTConfig, SFTTrainer
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    config = SFTConfig(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True, max_length=None,
                       **options)
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    return list(trainer.train_dataset)


def test_assistant_only_loss_labels_equal_ours_token_by_token(setup, tmp_path):
    examples, dirs, _ = setup
    tok = load_tokenizer(str(dirs[QWEN]))
    tok.chat_template = QWEN_MARKED
    theirs = trl_labels(tok, [{"messages": e.messages} for e in examples], tmp_path, assistant_only_loss=True)
    ours = [encode_conversation(tok, e.messages) for e in examples]
    assert len(theirs) == len(ours) == 43
    for o, t in zip(ours, theirs):
        assert o["input_ids"] == t["input_ids"]
        assert o["labels"] == t["labels"]
    assert sum(label != IGNORE_INDEX for o in ours for label in o["labels"]) > 43 * 5


@pytest.mark.parametrize("name, template, after", [(QWEN, None, "\n"), (SWALLOW, LLMJP_STYLE, "")],
                         ids=["chatml", "llmjp_style"])
def test_completion_only_loss_differs_only_after_the_end_of_turn_token(setup, tmp_path, name, template, after):
    examples, dirs, _ = setup
    tok = load_tokenizer(str(dirs[name]))
    if template:
        tok.chat_template = template
    rows = [{"prompt": e.messages[:-1], "completion": e.messages[-1:]} for e in examples]
    theirs = trl_labels(tok, rows, tmp_path, completion_only_loss=True)
    eot = tok.convert_tokens_to_ids("<|im_end|>" if name == QWEN else "</s>")
    n_after = 0
    for e, t in zip(examples, theirs):
        o = encode_conversation(tok, e.messages)
        assert o["input_ids"] == t["input_ids"]
        last = max(i for i, label in enumerate(o["labels"]) if label == eot)
        assert o["labels"][: last + 1] == t["labels"][: last + 1]  # identical through the end-of-turn token
        assert set(o["labels"][last + 1:]) <= {IGNORE_INDEX}  # ours: the template's trailing text masked
        assert t["labels"][last + 1:] == t["input_ids"][last + 1:]  # TRL's: trained on
        n_after += len(t["labels"]) - last - 1
        assert tok.decode(t["input_ids"][last + 1:]) == after
    assert n_after == (len(examples) if after else 0)


def test_run_clm_chat_template_file_is_saved_with_the_model(setup, capsys, tmp_path):
    """A base model without a template (the Swallow stand-in) trains with --chat_template FILE; the output dir's
    tokenizer carries the template, so inference renders the same prompt."""
    from transformers import AutoTokenizer

    from jaqg.cli import train_clm as run_clm
    examples, dirs, out = setup
    path = tmp_path / "llmjp.jinja"
    path.write_text(LLMJP_STYLE, encoding="utf-8")
    small = tmp_path / "train.jsonl"
    small.write_text("".join(json.dumps({"id": e.id, "messages": e.messages}, ensure_ascii=False) + "\n"
                             for e in examples[:8]), encoding="utf-8")
    status, stdout, err = run_main_in_process(
        capsys, run_clm.main, "run_clm.py", f"--model_name_or_path={dirs[SWALLOW]}", f"--train_file={small}",
        f"--validation_file={out / 'chat' / 'dev.jsonl'}", "--do_train", "--do_eval", "--max_steps=1",
        "--per_device_train_batch_size=4", "--accelerator=cpu", "--devices=1", f"--chat_template={path}",
        f"--output_dir={tmp_path / 'model'}", "--packing", "--block_size=512")
    assert status == 0, err
    assert f"chat template: {path}" in stdout and "packing: 8 examples -> " in stdout
    saved = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert saved.chat_template == LLMJP_STYLE
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["val_tokens"] > 0 and metrics["perplexity"] > 1
    # --do_eval also generates for each dev conversation (prompted through the saved template) and scores it
    dev, _ = read_chat_file(out / "chat" / "dev.jsonl")
    rows = [line.split("\t") for line in (tmp_path / "model" / "predictions.tsv").read_text().splitlines()]
    assert [(r[0], r[2]) for r in rows] == [(e.id, e.messages[-1]["content"]) for e in dev]
    assert metrics["generation"]["inputs"] == len(dev) and "bleu" in json.dumps(metrics).lower()
    assert not any("### 指示" in r[1] or "### 応答" in r[1] for r in rows)  # the template never reaches a prediction


@pytest.mark.parametrize("flags, says", [
    (["--load_in_4bit", "--lora_r=8"], "--load_in_4bit (QLoRA through bitsandbytes) needs a CUDA GPU"),
    (["--load_in_8bit"], "--load_in_8bit trains LoRA adapters on a frozen quantized base; pass --lora_r too"),
    (["--use_dora"], "--use_dora trains DoRA adapters: pass --lora_r too"),
    (["--group_texts"], "--group_texts trains plain text blocks; chat JSONL trains on assistant turns"),
])
def test_options_that_cannot_run_stop_in_one_line_before_loading(setup, capsys, tmp_path, flags, says):
    """No GPU here: QLoRA is refused before the (missing) model would load; so are flags that do not fit."""
    from jaqg.cli import train_clm as run_clm
    if "CUDA" in says and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: QLoRA is not refused for want of one")
    _, _, out = setup
    status, _, err = run_main_in_process(
        capsys, run_clm.main, "run_clm.py", f"--model_name_or_path={tmp_path / 'missing'}", "--do_train",
        f"--train_file={out / 'chat' / 'train.jsonl'}", f"--validation_file={out / 'chat' / 'dev.jsonl'}", *flags)
    assert status == 2 and err.strip() == f"run_clm.py: error: {err.split('error: ', 1)[1].strip()}"
    assert says in err and len(err.strip().splitlines()) == 1
