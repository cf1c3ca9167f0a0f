"""The multitask learning test: one tiny T5 learns answer extraction (AE), question generation (AQG-HL) and QA on
synthetic data, and generate_qa.py on held-out paragraphs then keeps pairs whose answers are real spans, mostly the
gold answers, and whose round trip holds.

synthetic JSQuAD (--all_questions: every fact of a sentence is annotated, so AE targets are complete; held-out
names) -> prepare_jsquad_aqg.py --task multi -> make_tiny_model.py -> train.py (one thread) -> generate_qa.py on the
valid JSON -> score_qag.py. The recipe is the QA learning test's (docs/learning_from_scratch.md) with fewer steps.
Thresholds sit below the values measured here (see the note at THRESHOLDS).
"""

import json
import resource
import time

import pytest

from jaqg.core.normalize import normalize
from jaqg.data.jsquad import load_paragraphs

N_TRAIN, N_VALID, STEPS = 6000, 150, 1000
TRAIN_FLAGS = ["--train_batch_size", "32", "--eval_batch_size", "64", "--learning_rate", "1e-3",
               "--warmup_steps", "50", "--max_steps", str(STEPS), "--val_check_interval", "500",
               "--max_target_length", "32", "--seed", "0", "--max_eval_samples", "150", "--eval_tokenizers", "char"]
# Measured on this machine with this recipe (1,000 steps; train.py took 179-212 CPU-seconds with its evaluation), four
# runs: this test as written, twice (main moved between them; the results moved too); training seed 1; n_valid 200 (the
# character vocabulary, hence the initial weights, depends on the data). On the first 150 test examples:
#   QA exact match 84.4 / 89.1 / 81.2 / 89.1; AQG-HL char F1 87.6 / 89.5 / 90.7 / 92.9; AE char F1 92.0 / 92.4 / 94.2 /
#   96.4; generate_qa kept 20% / 29% / 34% / 31% of the candidates; 100% / 100% / 100% / 98% of the kept answers are
#   gold answers; score_qag QA-aligned F1 34.3 / 51.5 / 51.8 / 51.3.
# Each bound sits well below the lowest value (the kept share and QA-aligned F1 vary most between runs); an untrained
# or broken chain scores about 0 on every one of them.
THRESHOLDS = dict(qa_em=70, qg_char_f1=75, ae_char_f1=80, kept_share=0.10, kept_gold_share=0.85, qag_f1=20)


@pytest.mark.slow
def test_tiny_multitask_t5_learns_to_generate_qa_pairs(tmp_path, run):
    jsquad, data, model0, model = (tmp_path / d for d in ("jsquad", "data", "model0", "model"))
    started = time.time()
    from jaqg.data.synthetic import write_synthetic_jsquad
    write_synthetic_jsquad(jsquad, n_train=N_TRAIN, n_valid=N_VALID, seed=0, max_sentences=1, all_questions=True)
    run("prepare_jsquad_aqg.py", "--task", "multi", "--jsquad_dir", jsquad, "--output_dir", data, check=True)
    run("make_tiny_model.py", "--data_dir", data, "--output_dir", model0, check=True)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run("train.py", "--do_train", "--do_eval", "--model_name_or_path", model0, "--data_dir", data,
        "--output_dir", model, *TRAIN_FLAGS, check=True, timeout=1800, env={"OMP_NUM_THREADS": "1"})
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    train_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    valid = jsquad / "valid-v1.3.json"
    run("generate_qa.py", "--model_name_or_path", model, "--input_file", valid, "--output_file", tmp_path / "qa.jsonl",
        "--threads", "1", check=True, env={"OMP_NUM_THREADS": "1"})
    run("score_qag.py", "--predictions", tmp_path / "qa.jsonl", "--references_json", valid,
        "--output", tmp_path / "qag.json", check=True)

    by_task = json.loads((model / "metrics.json").read_text(encoding="utf-8"))["by_task"]
    records = [json.loads(line) for line in (tmp_path / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    summary = json.loads((tmp_path / "qa.summary.json").read_text(encoding="utf-8"))
    qag = json.loads((tmp_path / "qag.json").read_text(encoding="utf-8"))
    gold = {p.id: {normalize(a) for _, answers in p.qas for a in answers} for p in load_paragraphs(valid)}
    kept = [r for r in records if r["kept"]]
    kept_gold = sum(r["answer"] in gold[r["id"]] for r in kept)
    print(f"\nmultitask learning test: {time.time() - started:.0f}s wall, train.py {train_cpu:.0f} CPU-s\n"
          + "".join(f"{t}: n={m['n']} exact_match {m['exact_match']:.1f} char_f1 {m['char_f1']:.1f}\n"
                    for t, m in by_task.items())
          + f"generate_qa: {summary['candidates']} candidates, {len(kept)} kept ({summary['dropped']}), "
            f"{kept_gold} kept answers are gold answers\n"
          + f"score_qag: QA-aligned F1 {qag['qa_aligned_f1']:.1f} (P {qag['qa_aligned_precision']:.1f}, "
            f"R {qag['qa_aligned_recall']:.1f}), answer recall {qag['answer_recall']:.1f}")

    for r in kept:  # what the pipeline guarantees for every kept pair
        assert r["answer"] in r["passage"] and r["question"]
        assert r["roundtrip_f1"] >= 0.8 and not r["hallucinated_words"]
    assert summary["inputs_over_limit"] == 0
    # What the model learned (measured values and margins at THRESHOLDS).
    assert by_task["qa"]["exact_match"] >= THRESHOLDS["qa_em"]
    assert by_task["aqg_hl"]["char_f1"] >= THRESHOLDS["qg_char_f1"]
    assert by_task["ae"]["char_f1"] >= THRESHOLDS["ae_char_f1"]
    assert len(kept) >= max(10, THRESHOLDS["kept_share"] * summary["candidates"])
    assert kept_gold >= THRESHOLDS["kept_gold_share"] * len(kept)
    assert qag["qa_aligned_f1"] >= THRESHOLDS["qag_f1"]
