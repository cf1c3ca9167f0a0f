"""The chat SFT learning test: a tiny Llama trained from scratch with run_clm.py's chat SFT learns AQG-HL.

synthetic JSQuAD (held-out town / person / company names in valid) -> prepare_jsquad_aqg.py --highlight --format chat
-> a random Llama (the Swallow stand-in's tokenizer trained on the data, width 128, 2 layers) -> run_clm.py
--packing with an llm-jp-style --chat_template -> greedy questions for the held-out test conversations (prompt
rendered with add_generation_prompt, stopped at the template's eos) scored by char F1 against the reference.
A question about a held-out name is only right when the model copies the name from the context, and stopping only
works when the end-of-turn token was in the labels. The thresholds sit below every one of the measured runs
recorded in docs/training.md#chat-sft-run_clmpy-on-chat-jsonl (seeds 0, 1, 2); they were not loosened to pass.
"""

import json
import statistics
import sys
import time
from pathlib import Path

import pytest
import torch

from jaqg.cli import train_clm as run_clm
from jaqg.data.chat_sft import read_chat_file, tokenize_chat
from jaqg.data.clm_data import load_tokenizer
from jaqg.evaluation.metrics import char_f1, exact_match
from jaqg.models.standins import build_standin
from jaqg.training.evaluate import perplexity

N_TRAIN, N_TEST = 4000, 200
LLMJP_STYLE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '\\n\\n### 指示:\\n' + message['content'] }}{% elif message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ '\\n\\n### 応答:\\n' + message['content'] + eos_token }}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '\\n\\n### 応答:\\n' }}{% endif %}{% endfor %}")
TRAIN_FLAGS = ["--do_train", "--packing", "--block_size=256", "--per_device_train_batch_size=8",
               "--learning_rate=2e-3", "--warmup_steps=50", "--max_steps=1200", "--val_check_interval=400",
               "--accelerator=cpu", "--devices=1", "--weight_decay=0.0"]
# Measured (docs/training.md#chat-sft-run_clmpy-on-chat-jsonl), seeds 0 / 1 / 2: char F1 72.5 / 57.0 / 77.5, stopped
# 100 / 100 / 97 %, test loss 0.361 / 0.323 / 0.286 (6.7 untrained). Each threshold is below (above, for the loss) all
# three. The best CONSTANT question scores char F1 49.9 on this test set, so 55 still asks for more than a template.
MIN_CHAR_F1, MIN_STOPPED, MAX_TEST_LOSS = 55.0, 95.0, 0.40


def learn(work: Path, seed: int) -> dict:
    """One run from scratch; returns the held-out scores."""
    from transformers import LlamaConfig, LlamaForCausalLM

    import prepare_jsquad_aqg
    from jaqg.data.synthetic import write_synthetic_jsquad
    torch.set_num_threads(1)
    started = time.process_time()
    jsquad, data, model0, out = (work / d for d in ("jsquad", "data", "model0", "out"))
    write_synthetic_jsquad(jsquad, n_train=N_TRAIN, n_valid=N_TEST, seed=0, max_sentences=1)
    prepare_jsquad_aqg.main(["--highlight", "--format=chat", f"--train_file={jsquad / 'train-v1.3.json'}",
                             f"--valid_file={jsquad / 'valid-v1.3.json'}", f"--output_dir={data}",
                             "--system_prompt=", "--instruction_template={context}"])
    build_standin("tokyotech-llm/Swallow-7b-hf", model0, data_dir=jsquad)  # its tokenizer, trained on the data
    torch.manual_seed(seed)
    config = LlamaConfig.from_pretrained(model0)
    config.update(dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=4, head_dim=32))
    LlamaForCausalLM(config).save_pretrained(model0)
    (work / "template.jinja").write_text(LLMJP_STYLE, encoding="utf-8")
    assert run_clm.main([f"--model_name_or_path={model0}", f"--train_file={data / 'train.jsonl'}",
                         f"--validation_file={data / 'dev.jsonl'}", f"--output_dir={out}", f"--seed={seed}",
                         f"--chat_template={work / 'template.jinja'}", *TRAIN_FLAGS]) == 0
    scores = held_out_scores(out, data / "test.jsonl")
    scores["cpu_s"] = time.process_time() - started
    return scores


@torch.no_grad()
def held_out_scores(model_dir: Path, test_file: Path, batch_size: int = 50) -> dict:
    """Greedy questions for the test conversations: mean char F1 / EM against the references, the share that ended
    with the end-of-turn token, and the assistant-token loss (perplexity's log) on the test set."""
    from transformers import AutoModelForCausalLM
    tokenizer = load_tokenizer(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    examples, _ = read_chat_file(test_file)
    tokenizer.padding_side = "left"
    predictions, stopped = [], 0
    for i in range(0, len(examples), batch_size):
        chunk = examples[i: i + batch_size]
        prompts = [tokenizer.apply_chat_template(e.messages[:-1], tokenize=False, add_generation_prompt=True)
                   for e in chunk]
        batch = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        out = model.generate(**batch, max_new_tokens=40, do_sample=False, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            stopped += tokenizer.eos_token_id in row
            row = row[: row.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in row else row
            predictions.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    references = [e.messages[-1]["content"] for e in examples]
    loss, _ = perplexity(model, tokenizer, tokenize_chat(examples, tokenizer, 256, "test"), 50)
    return {"char_f1": 100 * statistics.mean(char_f1(p, r) for p, r in zip(predictions, references)),
            "exact_match": 100 * statistics.mean(exact_match(p, r) for p, r in zip(predictions, references)),
            "stopped": 100 * stopped / len(examples), "test_loss": loss, "n": len(examples),
            "sample": list(zip(predictions[:3], references[:3]))}


@pytest.mark.slow
def test_tiny_llama_learns_aqg_hl_with_chat_sft(tmp_path):
    scores = learn(tmp_path, seed=0)
    print(f"\nchat SFT learning test: {json.dumps(scores, ensure_ascii=False)}")
    assert scores["n"] == N_TEST
    assert scores["char_f1"] >= MIN_CHAR_F1 and scores["stopped"] >= MIN_STOPPED
    assert scores["test_loss"] <= MAX_TEST_LOSS


if __name__ == "__main__":  # the measured runs: PYTHONPATH=. python tests/training/test_learning_chat.py WORK SEED
    print(json.dumps(learn(Path(sys.argv[1]), int(sys.argv[2])), ensure_ascii=False))
