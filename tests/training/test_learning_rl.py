"""The reinforcement learning test: scst on a short-trained AQG-HL model raises the round trip and the share of
questions generate_qa would keep on held-out synthetic data, without more hallucinated or degenerate questions.

synthetic JSQuAD (held-out names) -> a QA model (the demo's recipe) and a supervised AQG-HL model (200 steps: room
to improve) -> train.py --loss scst (the default reward mix, val_reward picks the best), and a control (the start
trained 100 more steps on the supervised loss) -> predict.py on test.tsv -> score.py --compare (A = scst, B = the
start, then the control) --qa_model: paired bootstrap of the round trip (qa_char_f1) and of ``hallucinated``; the
kept share is generate_qa's rule (round-trip F1 >= 0.8 and no hallucinated word, MeCab) on the same questions, with
its own paired bootstrap on the same resamples; degenerate: jaqg.training.rewards. The criterion is asserted
against the start (the issue's); the control comparison is printed.

Measured values: docs/training.md (six runs of the scst stage, four supervised starts).
"""

import json
import os
import time

import pytest

from jaqg.core.io import prediction_text, read_examples, read_predictions
from jaqg.evaluation.breakdowns import example_fields
from jaqg.evaluation.hallucination import find_hallucinations
from jaqg.evaluation.significance import PairedMetric, compare
from jaqg.training.rewards import RewardItem, degenerate

N_TRAIN, N_TEST = 8000, 1000  # 300 questions left a 4-point kept gain at p 0.1-0.2 in some runs
COMMON = ["--train_batch_size", "32", "--eval_batch_size", "64", "--learning_rate", "1e-3", "--warmup_steps", "50",
          "--eval_tokenizers", "char"]
SCST = ["--loss", "scst", "--num_samples", "4", "--train_batch_size", "16", "--eval_batch_size", "64",
        "--learning_rate", "3e-4", "--max_steps", "100", "--val_check_interval", "50", "--max_target_length", "48",
        "--metric_for_best_model", "val_reward", "--log_every_n_steps", "5", "--mle_weight", "1.0",
        "--kl_coef", "0.1"]  # the MLE anchor: without it (mle 0, kl 0.05) names got cut, the round trip did not rise
CONTROL = ["--train_batch_size", "16", "--eval_batch_size", "64", "--learning_rate", "3e-4", "--max_steps", "100",
           "--val_check_interval", "50", "--max_target_length", "48", "--log_every_n_steps", "5",
           "--eval_tokenizers", "char"]
# other seeds for measuring the spread: each row of docs/training.md's table is one pair of them
START_SEED = int(os.environ.get("JAQG_RL_START_SEED", "0"))  # the supervised start's --seed
SCST_SEED = int(os.environ.get("JAQG_RL_SEED", "0"))  # scst's and the control's --seed
SUPERVISED_STEPS = 200  # 150: names too garbled for sampling to find them (2 of 4 starts: no kept gain); 250: the
# round trip near its ceiling (gains +2.9 to +4.5)
# Measured here over six runs (supervised seeds 0-3 with scst seed 0, scst seeds 1-2 from the weakest start; the
# chain is deterministic on one machine), scst - start on the 1,000 held-out questions, p-values 0.001 unless given:
# round trip +3.19 (p 0.007) to +15.50, kept share +6.70 to +18.10, hallucinated -6.20 to -17.10, degenerate -5.60
# (p 0.002) to -34.70 points. The thresholds sit under every run:
THRESHOLDS = dict(qa_f1_gain=2.0, kept_gain=3.0, p_value=0.05, hallucinated_rise=0.0, degenerate_rise=0.0)


def kept_and_degenerate(questions, fields, rows):
    """Per question: generate_qa's keep rule (round-trip char F1 >= 80 of 100, no hallucinated word; MeCab), and
    the degenerate check of the scst reward."""
    found = find_hallucinations(questions, [f.context for f in fields], tokenizer="mecab")
    kept = [100.0 * (r["char_f1"] >= 80 and not words) for r, words in zip(rows, found)]
    bad = [100.0 * degenerate(q, RewardItem(f.answer, f.context, f.question)) for q, f in zip(questions, fields)]
    return kept, bad


@pytest.mark.slow
def test_scst_raises_round_trip_and_kept_share_on_held_out_data(tmp_path, run):
    from jaqg.data.synthetic import write_synthetic_jsquad
    from jaqg.evaluation.roundtrip import load_qa_model, qa_based_scores
    started = time.time()
    env = {"OMP_NUM_THREADS": "1"}
    jsquad, qa_data, hl_data = tmp_path / "jsquad", tmp_path / "data_qa", tmp_path / "data_hl"
    write_synthetic_jsquad(jsquad, n_train=N_TRAIN, n_valid=N_TEST, seed=0, max_sentences=1)
    run("prepare_jsquad.py", "--jsquad_dir", jsquad, "--output_dir", qa_data, check=True)
    run("prepare_jsquad_aqg.py", "--highlight", "--jsquad_dir", jsquad, "--output_dir", hl_data, check=True)
    for data, name in ((qa_data, "tiny_qa"), (hl_data, "tiny_hl")):
        run("make_tiny_model.py", "--data_dir", data, "--output_dir", tmp_path / name, check=True)
    run("train.py", "--do_train", "--model_name_or_path", tmp_path / "tiny_qa", "--data_dir", qa_data,
        "--output_dir", tmp_path / "qa", "--max_steps", "2000", "--val_check_interval", "500",
        "--max_target_length", "16", *COMMON, "--seed", "0", check=True, timeout=3600, env=env)
    run("train.py", "--do_train", "--model_name_or_path", tmp_path / "tiny_hl", "--data_dir", hl_data,
        "--output_dir", tmp_path / "sup", "--max_steps", SUPERVISED_STEPS, "--val_check_interval", SUPERVISED_STEPS,
        "--max_target_length", "48", *COMMON, "--seed", str(START_SEED), check=True, timeout=3600, env=env)
    run("train.py", "--do_train", "--model_name_or_path", tmp_path / "sup", "--data_dir", hl_data,
        "--output_dir", tmp_path / "scst", "--qa_model", tmp_path / "qa", *SCST, "--seed", str(SCST_SEED),
        check=True, timeout=3600, env=env)
    # the control: the start trained as many more steps on the supervised loss alone (scst's batch and rate)
    run("train.py", "--do_train", "--model_name_or_path", tmp_path / "sup", "--data_dir", hl_data,
        "--output_dir", tmp_path / "mle", *CONTROL, "--seed", str(SCST_SEED), check=True, timeout=3600, env=env)
    test = hl_data / "test.tsv"
    for name in ("sup", "scst", "mle"):
        run("predict.py", "--model_name_or_path", tmp_path / name, "--input_file", test,
            "--output_file", tmp_path / f"{name}.tsv", check=True, env=env)
    examples = read_examples(test)
    fields = [example_fields(e.input, e.target, "aqg_hl") for e in examples]
    qa = load_qa_model(str(tmp_path / "qa"), device="cpu")
    per = {}
    for name in ("scst", "sup", "mle"):
        # read as score.py reads them: an empty generation is "" (written as <empty>), not that literal text
        questions = {row[0]: prediction_text(row[1]) for row in read_predictions(tmp_path / f"{name}.tsv")}
        qs = [questions[e.id] for e in examples]
        _, rows = qa_based_scores(qa, qs, [f.context for f in fields], [f.answer for f in fields])
        per[name] = kept_and_degenerate(qs, fields, rows)

    def scst_against(baseline: str) -> dict:
        run("score.py", "--predictions", tmp_path / "scst.tsv", "--compare", tmp_path / f"{baseline}.tsv",
            "--references", test, "--qa_model", tmp_path / "qa", "--tokenizers", "mecab",
            "--output", tmp_path / f"compare_{baseline}.json", check=True, env=env)
        comparison = json.loads((tmp_path / f"compare_{baseline}.json").read_text(encoding="utf-8"))["comparison"]
        shares = compare({"kept": PairedMetric.mean(per["scst"][0], per[baseline][0]),
                          "degenerate": PairedMetric.mean(per["scst"][1], per[baseline][1])}, len(examples))
        return {"qa_char_f1": comparison["qa_char_f1"], "kept": shares["kept"],
                "hallucinated": comparison["hallucinated"], "degenerate": shares["degenerate"],
                "mecab_bleu": comparison["mecab_bleu"]}

    against = {baseline: scst_against(baseline) for baseline in ("sup", "mle")}
    print(f"\nrl learning test (start seed {START_SEED}, scst seed {SCST_SEED}): {time.time() - started:.0f}s wall")
    for baseline, rows in against.items():  # mle: the control, reported (the criterion is against sup)
        print(f"scst against {baseline}:\n" + "".join(
            f"  {name}: scst {c['a']:.2f} {baseline} {c['b']:.2f} diff {c['difference']:+.2f} p {c['p_value']:.4f}\n"
            for name, c in rows.items()))
    rt, kept, hal, bad = (against["sup"][k] for k in ("qa_char_f1", "kept", "hallucinated", "degenerate"))
    assert rt["difference"] > THRESHOLDS["qa_f1_gain"] and rt["p_value"] < THRESHOLDS["p_value"]
    assert kept["difference"] > THRESHOLDS["kept_gain"] and kept["p_value"] < THRESHOLDS["p_value"]
    assert hal["difference"] <= THRESHOLDS["hallucinated_rise"]
    assert bad["difference"] <= THRESHOLDS["degenerate_rise"]
