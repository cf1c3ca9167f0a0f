"""The learning test: the whole chain must teach a from-scratch model the synthetic QA task.

synthetic JSQuAD (held-out names in valid) -> prepare_jsquad.py -> make_tiny_model.py -> train.py --do_train
--do_eval -> metrics.json. Exact match >= 80 on test is only reachable when labels, masking, padding, decoding
and the best-model export are all right. The recipe (and why) is in docs/learning_from_scratch.md.
"""

import json
import resource
import time

import pytest

from jaqg.training.log import read_log

# The recipe of docs/learning_from_scratch.md (--max_steps overrides the default 3 epochs, as in HF).
N_TRAIN, N_TEST, MAX_SENTENCES = 8000, 300, 1
TRAIN_FLAGS = ["--train_batch_size", "32", "--eval_batch_size", "64", "--learning_rate", "1e-3",
               "--warmup_steps", "50", "--max_steps", "2000",
               "--val_check_interval", "500", "--max_target_length", "16", "--seed", "0"]


@pytest.mark.slow
def test_tiny_t5_learns_synthetic_qa(tmp_path, run):
    jsquad, data, model0, out = (tmp_path / d for d in ("jsquad", "data", "model0", "out"))
    started = time.time()
    from jaqg.data.synthetic import write_synthetic_jsquad
    write_synthetic_jsquad(jsquad, n_train=N_TRAIN, n_valid=N_TEST, seed=0, max_sentences=MAX_SENTENCES)
    run("prepare_jsquad.py", "--train_file", jsquad / "train-v1.3.json", "--valid_file", jsquad / "valid-v1.3.json",
        "--output_dir", data, check=True)
    run("make_tiny_model.py", "--data_dir", data, "--output_dir", model0, check=True)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # One thread: the budget is CPU minutes, and two spinning threads on a busy 2-core machine run ~7x slower.
    proc = run("train.py", "--do_train", "--do_eval", "--model_name_or_path", model0, "--data_dir", data,
               "--output_dir", out, *TRAIN_FLAGS, check=True, timeout=1800, env={"OMP_NUM_THREADS": "1"})
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    train_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    elapsed = time.time() - started
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    log = read_log(out / "logs" / "metrics.csv")
    curve = " ".join(f"{s}:{v:.3f}" for s, v in log["val_loss"])
    print(f"\nlearning test: {elapsed:.0f}s wall in all, train.py {train_cpu:.0f} CPU-s, "
          f"test exact_match {metrics['exact_match']:.1f} char_f1 {metrics['char_f1']:.1f} (n={metrics['n']})\n"
          f"val_loss by step: {curve}")
    assert metrics["n"] == N_TEST
    assert log["val_loss"][-1][0] >= 1999  # trained the full schedule (the last validation is at the end)
    assert metrics["exact_match"] >= 80, proc.stdout[-3000:]
