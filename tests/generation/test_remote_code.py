"""A model whose repository ships its own Python code (``auto_map`` in config.json) loads only when the user asks
(``trust_remote_code``, the flag of every inference command and of ``jaqg serve``); otherwise one line says why."""

import json
import shutil

import pytest
from conftest import run_main_in_process

from jaqg.core.errors import UserError
from jaqg.generation.decoding import load_model

# The model's own code: a GPT-2 under another model_type that marks itself, so loading it shows that it ran.
CONFIGURATION = '''from transformers import GPT2Config


class MarkedConfig(GPT2Config):
    model_type = "marked_gpt2"
'''
MODELING = '''from transformers import GPT2LMHeadModel

from .configuration_marked import MarkedConfig


class MarkedModel(GPT2LMHeadModel):
    config_class = MarkedConfig
    ran_repository_code = True
'''


@pytest.fixture(scope="module")
def custom_code_model(tiny_gpt2_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("remote_code") / "marked"
    shutil.copytree(tiny_gpt2_dir, out)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    config.update(model_type="marked_gpt2", architectures=["MarkedModel"],
                  auto_map={"AutoConfig": "configuration_marked.MarkedConfig",
                            "AutoModelForCausalLM": "modeling_marked.MarkedModel"})
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (out / "configuration_marked.py").write_text(CONFIGURATION, encoding="utf-8")
    (out / "modeling_marked.py").write_text(MODELING, encoding="utf-8")
    return out


def test_repository_code_runs_only_when_asked(custom_code_model):
    with pytest.raises(UserError) as refused:
        load_model(str(custom_code_model), device="cpu")
    assert "trust_remote_code" in str(refused.value) and "\n" not in str(refused.value)
    model, _ = load_model(str(custom_code_model), device="cpu", trust_remote_code=True)
    assert type(model).__name__ == "MarkedModel" and model.ran_repository_code


def test_generate_refuses_in_one_line_and_runs_with_the_flag(custom_code_model, capsys, tmp_path):
    from jaqg.cli import generate
    args = ["--model_name_or_path", custom_code_model, "--answer", "甲府市",
            "--context", "山梨県の県庁所在地は甲府市です。", "--max_target_length", "4"]
    status, _, err = run_main_in_process(capsys, generate.main, "generate.py", *args)
    assert status == 2 and "--trust_remote_code" in err and len(err.strip().splitlines()) == 1, err
    status, out, err = run_main_in_process(capsys, generate.main, "generate.py", *args, "--trust_remote_code")
    assert status == 0, err
