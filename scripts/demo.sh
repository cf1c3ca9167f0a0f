#!/usr/bin/env bash
# make demo: the whole toolkit offline, from generated and hand-written data. Outputs go under demo_out/.
# The same commands serve real models and JSQuAD: only the model name and the data dir differ.
# DEMO_STEPS (default 2000) sets the QA model's training steps (AQG-HL, GPT-2 and the multitask model train for a
# fraction of it);
# DEMO_STEPS=200 gives a quick smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_OUT:-demo_out}
STEPS=${DEMO_STEPS:-2000}
EVERY=$(( STEPS < 500 ? STEPS : 500 ))
rm -rf "$OUT"
mkdir -p "$OUT"
# Each step's title shows the minutes:seconds since the demo began (bash's SECONDS), so a slow step is easy to find.
step() { printf '\n\033[1m== [%02d:%02d] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "1. Data preparation from the hand-written samples in examples/ (no download)"
python prepare_jsquad.py --jsquad_dir examples/jsquad --output_dir "$OUT/examples_qa"
python prepare_jsquad_aqg.py --highlight --jsquad_dir examples/jsquad --output_dir "$OUT/examples_aqg_hl"
python prepare_quiz_aqg.py --highlight --train_file examples/quiz/quiz_sample.json.gz \
  --test_file examples/quiz/quiz_sample.jsonl --output_dir "$OUT/quiz_aqg_hl"
head -n 2 "$OUT/examples_qa/train.tsv" "$OUT/examples_aqg_hl/train.tsv" "$OUT/quiz_aqg_hl/test.tsv"

step "2. Synthetic JSQuAD-format data (invented facts; test names never seen in training)"
python -m jaqg make-synthetic-jsquad --output_dir "$OUT/jsquad" --n_train 8000 --n_valid 300 --max_sentences 1
python prepare_jsquad.py --jsquad_dir "$OUT/jsquad" --output_dir "$OUT/data_qa"
python prepare_jsquad_aqg.py --jsquad_dir "$OUT/jsquad" --output_dir "$OUT/data_jsquad_aqg"
python prepare_jsquad_aqg.py --highlight --jsquad_dir "$OUT/jsquad" --output_dir "$OUT/data_jsquad_aqg_hl"
python prepare_jsquad_aqg.py --highlight --format gpt --jsquad_dir "$OUT/jsquad" --output_dir "$OUT/data_jsquad_aqg_hl_gpt"

# The recipe of docs/learning_from_scratch.md (the learning test's): EM ~88 on held-out names in ~3 CPU minutes.
TRAIN_FLAGS=(--train_batch_size 32 --eval_batch_size 64 --learning_rate 1e-3 --warmup_steps 50
             --val_check_interval "$EVERY" --seed 0)

step "3. QA: a tiny T5 built from scratch, trained with train.py, evaluated on held-out questions"
python make_tiny_model.py --data_dir "$OUT/data_qa" --output_dir "$OUT/tiny_t5_qa"
python train.py --do_train --do_eval --model_name_or_path "$OUT/tiny_t5_qa" --data_dir "$OUT/data_qa" \
  --output_dir "$OUT/model_qa" --max_steps "$STEPS" --max_target_length 16 "${TRAIN_FLAGS[@]}"

step "4. AQG-HL: the same for question generation from a highlighted answer"
python make_tiny_model.py --data_dir "$OUT/data_jsquad_aqg_hl" --output_dir "$OUT/tiny_t5_aqg_hl"
python train.py --do_train --do_eval --model_name_or_path "$OUT/tiny_t5_aqg_hl" --data_dir "$OUT/data_jsquad_aqg_hl" \
  --output_dir "$OUT/model_jsquad_aqg_hl" --max_steps $(( STEPS / 2 )) --max_target_length 48 "${TRAIN_FLAGS[@]}"

step "5. Scores across tokenizers, the hallucination check, JGLUE's metric, beam 1 vs 4, QA-based scoring"
M="$OUT/model_jsquad_aqg_hl"; D="$OUT/data_jsquad_aqg_hl"
python score.py --predictions "$M/predictions.tsv" --references "$D/test.tsv" \
  --tokenizers mecab sudachi_A sudachi_B sudachi_C t5 char --tokenizer_name_or_path "$M" \
  --output "$M/scores.json" --per_example_output "$M/scores.tsv"
python hallucination.py --predictions "$M/predictions.tsv" --sources "$D/test.tsv" --output "$M/hallucination.json"
# JGLUE's official JSQuAD EM/F1 of the QA run (raw gold answers: data_qa/test_references_raw.json)
python score.py --predictions "$OUT/model_qa/predictions.tsv" --references "$OUT/data_qa/test.tsv" \
  --tokenizers char --output "$OUT/model_qa/scores.json"
# Greedy (beam 1, train.py's predictions) against beam 4: paired bootstrap p-values and compare-mt's HTML report
python predict.py --model_name_or_path "$M" --input_file "$D/test.tsv" --output_file "$OUT/predict_aqg_hl_beam4.tsv" \
  --num_beams 4
python score.py --predictions "$M/predictions.tsv" --compare "$OUT/predict_aqg_hl_beam4.tsv" --references "$D/test.tsv" \
  --tokenizers mecab sudachi_C char --output "$OUT/compare_beam1_vs_beam4.json" \
  --report_dir "$OUT/report_beam1_vs_beam4"
# The CTranslate2 backend (converted once into ~/.cache/jaqg/ct2): float32 greedy writes train.py's predictions;
# int8 against float32, paired bootstrap: what quantization costs in EM / BLEU on this trained model
python predict.py --model_name_or_path "$M" --input_file "$D/test.tsv" --output_file "$OUT/predict_ct2_float32.tsv" \
  --backend ctranslate2
python predict.py --model_name_or_path "$M" --input_file "$D/test.tsv" --output_file "$OUT/predict_ct2_int8.tsv" \
  --backend ctranslate2 --ct2_compute_type int8
python score.py --predictions "$OUT/predict_ct2_float32.tsv" --compare "$OUT/predict_ct2_int8.tsv" \
  --references "$D/test.tsv" --tokenizers mecab char --output "$OUT/compare_ct2_float32_vs_int8.json"
python - "$M/predictions.tsv" "$OUT/predict_ct2_float32.tsv" <<'PY'
import sys
rows = [dict(line.split("\t")[:2] for line in open(path, encoding="utf-8")) for path in sys.argv[1:]]
same = sum(rows[1].get(k) == v for k, v in rows[0].items())
print(f"CTranslate2 float32 greedy vs transformers (train.py --do_eval): {same} of {len(rows[0])} predictions identical")
PY
# QA-based evaluation: the QA model of step 3 answers the generated (and the reference) questions
python score.py --predictions "$M/predictions.tsv" --references "$D/test.tsv" --qa_model "$OUT/model_qa" \
  --tokenizers mecab --output "$M/qa_based.json"

step "6. One-off question generation (the seed's recipes), with and without bad words, and an n-best"
python generate.py --model_name_or_path "$M" --answer 甲府市 --context 山梨県の県庁所在地は甲府市です。
python generate.py --model_name_or_path "$M" --answer 甲府市 --context 山梨県の県庁所在地は甲府市です。 \
  --bad_words 山梨 山梨県
python generate.py --model_name_or_path "$M" --answer 甲府市 --context 山梨県の県庁所在地は甲府市です。 \
  --num_beams 8 --num_beam_groups 4 --diversity_penalty 1.0 --num_return_sequences 4 --json
python predict.py --model_name_or_path "$M" --input_file "$D/test.tsv" --output_file "$OUT/predict_aqg_hl.tsv"

step "7. Reinforcement from QA feedback: scst on the AQG-HL model (the QA model as judge), compared with its start"
RL_STEPS=$(( STEPS / 50 > 2 ? STEPS / 50 : 2 ))
python train.py --do_train --loss scst --model_name_or_path "$M" --data_dir "$D" --output_dir "$OUT/model_scst" \
  --qa_model "$OUT/model_qa" --num_samples 4 --train_batch_size 16 --eval_batch_size 64 --learning_rate 3e-4 \
  --max_steps "$RL_STEPS" --val_check_interval "$RL_STEPS" --log_every_n_steps 5 --max_target_length 48 \
  --max_eval_samples 100 --metric_for_best_model val_reward --mle_weight 1.0 --kl_coef 0.1 --eval_tokenizers char \
  --seed 0
python predict.py --model_name_or_path "$OUT/model_scst" --input_file "$D/test.tsv" --output_file "$OUT/predict_scst.tsv"
python score.py --predictions "$OUT/predict_scst.tsv" --compare "$M/predictions.tsv" --references "$D/test.tsv" \
  --qa_model "$OUT/model_qa" --tokenizers char --output "$OUT/compare_scst_vs_supervised.json"

step "8. Causal LM: a tiny GPT-2 on the AQG-HL text files with run_clm.py (prompt tokens carry no loss)"
python make_tiny_model.py --arch gpt2 --data_dir "$OUT/data_jsquad_aqg_hl_gpt" --output_dir "$OUT/tiny_gpt2"
python run_clm.py --model_name_or_path="$OUT/tiny_gpt2" \
  --train_file="$OUT/data_jsquad_aqg_hl_gpt/train.txt" --validation_file="$OUT/data_jsquad_aqg_hl_gpt/dev.txt" \
  --do_train --do_eval --max_steps=$(( STEPS / 5 )) --save_steps=$(( STEPS / 10 )) --save_total_limit=2 \
  --per_device_train_batch_size=16 --per_device_eval_batch_size=32 --learning_rate=1e-3 \
  --max_eval_samples=64 --output_dir="$OUT/output_gpt"

step "9. Chat LLM: chat SFT of a tiny Qwen2.5 stand-in (loss on the assistant turn), then GRPO with the same rewards"
python prepare_jsquad_aqg.py --highlight --format chat --jsquad_dir "$OUT/jsquad" --output_dir "$OUT/data_jsquad_aqg_hl_chat"
python make_tiny_model.py --like Qwen/Qwen2.5-0.5B-Instruct --data_dir "$OUT/data_jsquad_aqg_hl" --output_dir "$OUT/tiny_qwen"
python run_clm.py --model_name_or_path "$OUT/tiny_qwen" --train_file "$OUT/data_jsquad_aqg_hl_chat/train.jsonl" \
  --validation_file "$OUT/data_jsquad_aqg_hl_chat/dev.jsonl" --do_train --do_eval --max_steps $(( STEPS / 20 )) \
  --per_device_train_batch_size 16 --per_device_eval_batch_size 32 --learning_rate 1e-3 --max_eval_samples 32 \
  --output_dir "$OUT/output_chat"
# TRL's GRPOTrainer with LoRA; a few steps to show the loop and its logged rewards, not to learn
python -m jaqg train-grpo --model_name_or_path "$OUT/output_chat" --data_dir "$OUT/data_jsquad_aqg_hl_chat" \
  --qa_model "$OUT/model_qa" --num_generations 4 --per_device_train_batch_size 8 --max_completion_length 32 \
  --max_steps 4 --logging_steps 2 --lora_r 8 --max_train_samples 64 --output_dir "$OUT/model_grpo"

step "10. Quiz generation: one multitask model (QA + AQG-HL + AE) -> filtered question-answer pairs from raw text"
python -m jaqg make-synthetic-jsquad --output_dir "$OUT/jsquad_all" --n_train 6000 --n_valid 200 --max_sentences 1 --all_questions
python prepare_jsquad_aqg.py --task multi --jsquad_dir "$OUT/jsquad_all" --output_dir "$OUT/data_multi"
python make_tiny_model.py --data_dir "$OUT/data_multi" --output_dir "$OUT/tiny_t5_multi"
python train.py --do_train --do_eval --model_name_or_path "$OUT/tiny_t5_multi" --data_dir "$OUT/data_multi" \
  --output_dir "$OUT/model_multi" --max_steps $(( STEPS / 2 )) --max_target_length 32 --max_eval_samples 300 \
  --eval_tokenizers char "${TRAIN_FLAGS[@]}"
python - "$OUT/model_multi/metrics.json" <<'PY'
import json, sys
for task, m in json.load(open(sys.argv[1]))["by_task"].items():
    print(f"{task:7s} n={m['n']:3d} exact_match={m['exact_match']:5.1f} char_f1={m['char_f1']:5.1f}")
PY
# A plain text file (held-out paragraphs' bodies, one per line) and the JSQuAD file itself (scored per paragraph).
python - "$OUT/jsquad_all/valid-v1.3.json" "$OUT/doc.txt" <<'PY'
import sys
from jaqg.data.jsquad import load_paragraphs
open(sys.argv[2], "w", encoding="utf-8").write("".join(p.body + "\n" for p in load_paragraphs(sys.argv[1])[:10]))
PY
# --max_input_length 128: passages of about one sentence, like the tiny model's training contexts (the default, the
# model's 512, packs all ten lines into one passage, which this model has never seen).
python generate_qa.py --model_name_or_path "$OUT/model_multi" --input_file "$OUT/doc.txt" --output_file "$OUT/qa_doc.jsonl" \
  --max_input_length 128 --passages_output "$OUT/qa_doc_passages.jsonl"
python - "$OUT/qa_doc.jsonl" <<'PY'
import json, sys
for r in map(json.loads, open(sys.argv[1], encoding="utf-8")):
    if r["kept"]:
        print(f"Q: {r['question']}  A: {r['answer']}")
PY
python generate_qa.py --model_name_or_path "$OUT/model_multi" --input_file "$OUT/jsquad_all/valid-v1.3.json" \
  --output_file "$OUT/qa_valid.jsonl"
python score_qag.py --predictions "$OUT/qa_valid.jsonl" --references_json "$OUT/jsquad_all/valid-v1.3.json" \
  --output "$OUT/qag_metrics.json"
python generate_qa.py --model_name_or_path "$OUT/model_multi" --answers ner --input_file "$OUT/doc.txt" \
  --output_file "$OUT/qa_doc_ner.jsonl" --max_input_length 128

step "11. The service: jaqg serve on the multitask model (127.0.0.1), one request, then stopped"
PORT=${DEMO_PORT:-8765}
python serve.py --model_name_or_path "$OUT/model_multi" --host 127.0.0.1 --port "$PORT" --log_level warning &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
python - "$PORT" <<'PY'
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(300):  # the models load first
    try:
        urllib.request.urlopen(url + "/health", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
body = {"text": "青葉町は山形県の南部にある町である。町を流れる白川は星野湖に注ぐ。", "options": {"answers": "ner"}}
req = urllib.request.Request(url + "/v1/generate_qa", json.dumps(body).encode(), {"Content-Type": "application/json"})
reply = json.load(urllib.request.urlopen(req, timeout=120))
print(f"POST /v1/generate_qa: {reply['summary']['candidates']} candidate(s), kept {reply['summary']['kept']}")
for p in reply["pairs"]:
    print(f"  {'kept' if p['kept'] else 'dropped (' + p['reason'] + ')'}: Q: {p['question']}  A: {p['answer']}")
PY
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true
trap - EXIT
echo "the page: python serve.py --model_name_or_path $OUT/model_multi, then open http://127.0.0.1:8000/"

step "Where things are"
cat <<EOF
QA model (best by val loss):   $OUT/model_qa            metrics: $OUT/model_qa/metrics.json
AQG-HL model:                  $OUT/model_jsquad_aqg_hl  predictions.tsv, metrics.json, scores.tsv, hallucination.json,
                               qa_based.json + qa_based_per_question.tsv
beam 1 vs beam 4:              $OUT/compare_beam1_vs_beam4.json  $OUT/report_beam1_vs_beam4/index.html
CTranslate2 float32 vs int8:   $OUT/compare_ct2_float32_vs_int8.json
loss curves:                   $OUT/model_qa/loss_curve.png  $OUT/model_jsquad_aqg_hl/loss_curve.png
scst vs its supervised start:  $OUT/compare_scst_vs_supervised.json  $OUT/model_scst/reward_curves.png
GPT-2 (run_clm.py):            $OUT/output_gpt
chat SFT, GRPO (tiny Qwen2.5): $OUT/output_chat  $OUT/model_grpo/reward_curves.png
multitask model:               $OUT/model_multi         metrics.json (by_task)
QA pairs:                      $OUT/qa_doc.jsonl  $OUT/qa_valid.jsonl (+ .summary.json)  $OUT/qag_metrics.json
EOF
