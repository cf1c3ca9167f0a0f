"""The learning test: the whole chain must teach a from-scratch model the synthetic QA task.

synthetic JSQuAD (held-out names in valid) -> prepare_jsquad.py -> make_tiny_model.py -> train.py --do_train
--do_eval -> metrics.json. Exact match >= 80 on test is only reachable when labels, masking, padding, decoding
and the best-model export are all right. The recipe (and why) is in docs/learning_from_scratch.md.
"""

import json
import time

import pytest

from jaqg.experiment import read_log

# The recipe of docs/learning_from_scratch.md. --num_train_epochs is only an upper bound: --max_steps decides.
N_TRAIN, N_TEST, MAX_SENTENCES = 8000, 300, 1
TRAIN_FLAGS = ["--train_batch_size", "32", "--eval_batch_size", "64", "--learning_rate", "1e-3",
               "--warmup_steps", "50", "--max_steps", "2000", "--num_train_epochs", "100",
               "--val_check_interval", "500", "--max_target_length", "16", "--seed", "0"]


@pytest.mark.slow
def test_tiny_t5_learns_synthetic_qa(tmp_path, run):
    jsquad, data, model0, out = (tmp_path / d for d in ("jsquad", "data", "model0", "out"))
    started = time.time()
    from jaqg.synthetic import write_synthetic_jsquad
    write_synthetic_jsquad(jsquad, n_train=N_TRAIN, n_valid=N_TEST, seed=0, max_sentences=MAX_SENTENCES)
    run("prepare_jsquad.py", "--train_file", jsquad / "train-v1.3.json", "--valid_file", jsquad / "valid-v1.3.json",
        "--output_dir", data, check=True)
    run("make_tiny_model.py", "--data_dir", data, "--output_dir", model0, check=True)
    proc = run("train.py", "--do_train", "--do_eval", "--model_name_or_path", model0, "--data_dir", data,
               "--output_dir", out, *TRAIN_FLAGS, check=True, timeout=1800)  # ~2.5 min alone; more on a busy CPU
    elapsed = time.time() - started
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    log = read_log(out / "logs" / "metrics.csv")
    curve = " ".join(f"{s}:{v:.3f}" for s, v in log["val_loss"])
    print(f"\nlearning test: {elapsed:.0f}s, test exact_match {metrics['exact_match']:.1f} "
          f"char_f1 {metrics['char_f1']:.1f} (n={metrics['n']})\nval_loss by step: {curve}")
    assert metrics["n"] == N_TEST
    assert log["val_loss"][-1][0] >= 1999  # trained the full schedule (the last validation is at the end)
    assert metrics["exact_match"] >= 80, proc.stdout[-3000:]
