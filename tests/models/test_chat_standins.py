"""Chat SFT recipes (run_clm.py on chat JSONL: full, LoRA, DoRA) on each decoder-LLM stand-in, a few steps each.

The Qwen2.5 stand-in brings its ChatML template; llm-jp-3 and Swallow (base models) get an llm-jp-style template
file with --chat_template, which the output dir's tokenizer must carry. llm-jp's stand-in uses the real
SentencePiece model from ../shared when present (as tests/models/test_standins.py does); its runs are slow.
"""

import csv
import json
import math

import pytest
import torch
from conftest import ROOT, run_main_in_process
from transformers import AutoTokenizer

from jaqg.models.standins import build_standin

torch.set_num_threads(1)
EXAMPLES = ROOT / "examples" / "jsquad"
LLMJP_SPM = ROOT.parent / "shared" / "hub" / "llm-jp-tokenizer" / "llm-jp-tokenizer-100k.ver3.0b1.model"
LLMS = ["llm-jp/llm-jp-3-1.8b", "tokyotech-llm/Swallow-7b-hf", "Qwen/Qwen2.5-0.5B-Instruct"]
# llm-jp-3 instruct's layout ('### 指示:' / '### 応答:' headers, eos after each answer), the system turn kept.
LLMJP_STYLE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '\\n\\n### 指示:\\n' + message['content'] }}{% elif message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '\\n\\n### 応答:\\n' + message['content'] + eos_token }}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '\\n\\n### 応答:\\n' }}{% endif %}{% endfor %}")
ADAPTERS = {"full": [], "lora": ["--lora_r=4", "--lora_alpha=8"], "dora": ["--lora_r=4", "--lora_alpha=8",
                                                                          "--use_dora"]}


@pytest.fixture(scope="module")
def llms(tmp_path_factory):
    import prepare_jsquad_aqg
    out = tmp_path_factory.mktemp("chat_standins")
    prepare_jsquad_aqg.main([f"--jsquad_dir={EXAMPLES}", "--highlight", "--format=chat",
                             f"--output_dir={out / 'chat'}"])
    (out / "llmjp.jinja").write_text(LLMJP_STYLE, encoding="utf-8")
    built: dict[str, object] = {}

    def standin(name: str):  # built on first use: llm-jp's (real vocabulary, slow) only when its cells run
        if name not in built:
            built[name] = build_standin(name, out / name.split("/")[0], data_dir=EXAMPLES,
                                        spiece_model=LLMJP_SPM if "llm-jp" in name and LLMJP_SPM.is_file() else None)
        return built[name]
    return out, standin


@pytest.mark.parametrize("adapter", ADAPTERS)
# llm-jp's real 99,584-piece vocabulary makes its logits 100x wider than the other stand-ins': ~30-100 s a run here
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if "llm-jp" in n else n for n in LLMS])
def test_chat_sft_on_llm_standins(capsys, llms, tmp_path, name, adapter):
    from jaqg.cli import train_clm as run_clm
    out, standin = llms
    template = [] if "Qwen" in name else [f"--chat_template={out / 'llmjp.jinja'}"]
    model_dir = tmp_path / "model"
    status, stdout, err = run_main_in_process(
        capsys, run_clm.main, "run_clm.py", f"--model_name_or_path={standin(name)}",
        f"--train_file={out / 'chat' / 'train.jsonl'}", f"--validation_file={out / 'chat' / 'dev.jsonl'}",
        "--do_train", "--do_eval", "--max_steps=2", "--per_device_train_batch_size=8", "--block_size=512",
        "--packing", "--accelerator=cpu", "--devices=1", "--seed=0", f"--output_dir={model_dir}",
        *template, *ADAPTERS[adapter])
    assert status == 0, err
    assert "packing: 43 examples -> " in stdout and " 0 longer than `block_size` 512 dropped" in stdout
    share = float(stdout.split("trainable parameters: ")[1].split("(")[1].split("%")[0])
    assert (share == 100.0) if adapter == "full" else (0 < share < 100)
    with open(model_dir / "logs" / "metrics.csv", encoding="utf-8") as f:
        logged = [float(row["val_loss"]) for row in csv.DictReader(f) if row.get("val_loss")]
    assert logged and all(map(math.isfinite, logged))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert math.isfinite(metrics["val_loss"]) and metrics["val_tokens"] > 0
    if adapter == "dora":
        assert json.loads((model_dir / "adapter_config.json").read_text())["use_dora"] is True
    saved = AutoTokenizer.from_pretrained(model_dir)
    assert saved.chat_template == (LLMJP_STYLE if template else AutoTokenizer.from_pretrained(standin(name))
                                   .chat_template)
