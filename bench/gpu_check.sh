#!/usr/bin/env bash
# The GPU check of issue 13, in one run (aimed at under 5 minutes on one GPU):
#   1. bf16 training of a random t5-base-shaped T5 against transformers' Seq2SeqTrainer: steps/s, MFU, peak memory
#      (bench/train_throughput.py, whole epochs of the same JSQuAD-length examples);
#   2. fp16 for T5: train.py --fp16 is either refused or stopped by the non-finite-loss guard, never a NaN model;
#   3. greedy and beam-4 generation against batched model.generate (bench/generate_throughput.py, t5-small shape);
#   4. LoRA (r=8, bf16) on a random gpt2-medium-shaped GPT-2 with run_clm.py: time, trainable share, peak memory;
#   5. chat SFT on the Qwen2.5 stand-in: DoRA with --packing, and QLoRA (--load_in_4bit; bitsandbytes needed, else
#      the one-line refusal is shown).
# Everything it writes goes to $OUT (default gpu_check_out/); the full log is $OUT/gpu_check.log.
#
#   bash bench/gpu_check.sh               # on a machine with a CUDA GPU
#   bash bench/gpu_check.sh --cpu-smoke   # tiny shapes on the CPU: checks the script itself, measures nothing
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-gpu_check_out}
SMOKE=0
[[ "${1:-}" == "--cpu-smoke" ]] && SMOKE=1
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
quiet='Loading weights|Writing model|Tip:|litlogger|TPU available|HPU available|train_runtime|estimate number'

if [[ $SMOKE == 1 ]]; then
  DEVICE=cpu; PREC=32; TRAIN_SIZE=tiny; GEN_SIZE=tiny; N_TRAIN=32; N_GEN=16; ROUNDS=1; THREADS=1; LORA_STEPS=4
  LIGHTNING_PREC=32
else
  if ! $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA GPU visible to torch here; run on a GPU machine, or pass --cpu-smoke to test the script"
    exit 2
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  DEVICE=cuda; PREC=bf16; TRAIN_SIZE=t5-base; GEN_SIZE=t5-small; N_TRAIN=512; N_GEN=256; ROUNDS=2; THREADS=0
  LORA_STEPS=40; LIGHTNING_PREC=bf16-mixed
fi
$PY -c 'import torch, transformers, pytorch_lightning as pl; print(f"torch {torch.__version__}, transformers \
{transformers.__version__}, lightning {pl.__version__}, cuda {torch.version.cuda}")'
WORK="$OUT/work"
start=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - start )) s] $*"; }

stamp "1. training: ours vs Seq2SeqTrainer, $TRAIN_SIZE shape, $PREC, $DEVICE"
$PY bench/train_throughput.py --device $DEVICE --precision $PREC --size $TRAIN_SIZE --batch_size 16 \
  --n_examples $N_TRAIN --rounds $ROUNDS --threads $THREADS --work_dir "$WORK" 2>&1 | grep -Ev "$quiet" || exit 1

stamp "2. fp16 with T5: refused or guarded"
[[ -f "$WORK/model_tiny_t5/config.json" ]] || \
  $PY make_tiny_model.py --data_dir "$WORK/data_qa" --output_dir "$WORK/model_tiny_t5" --arch t5 >/dev/null
if [[ $SMOKE == 1 ]]; then
  echo "(cpu smoke: fp16 mixed precision is a GPU mode; skipped)"
else
  set +e
  $PY train.py --do_train --model_name_or_path "$WORK/model_tiny_t5" --data_dir "$WORK/data_qa" \
    --output_dir "$OUT/fp16_run" --overwrite_output_dir --fp16 --max_steps 60 --val_check_interval 30 \
    --train_batch_size 16 --learning_rate 1e-3 --accelerator gpu --devices 1 > "$OUT/fp16_run.log" 2>&1
  status=$?
  set -e
  echo "train.py --fp16 on T5: exit status $status; last line: $(tail -n 1 "$OUT/fp16_run.log")"
  if [[ $status == 0 ]]; then
    $PY - "$OUT/fp16_run" <<'EOF'
import sys, torch
from safetensors.torch import load_file
weights = load_file(f"{sys.argv[1]}/model.safetensors")
bad = [k for k, v in weights.items() if not torch.isfinite(v).all()]
print("fp16 run finished; exported weights all finite:", not bad, bad[:3])
EOF
  fi
fi

stamp "3. generation: ours vs batched model.generate, $GEN_SIZE shape, greedy and beam 4, $DEVICE"
$PY bench/generate_throughput.py --device $DEVICE --precision $PREC --size $GEN_SIZE --n_inputs $N_GEN \
  --batch_size 32 --beams 1 4 --rounds $ROUNDS --threads $THREADS --output "$OUT/generate.json" 2>&1 \
  | grep -Ev "$quiet" || exit 1

stamp "4. LoRA r=8 on a gpt2-medium-shaped GPT-2 (run_clm.py, $LIGHTNING_PREC)"
GPT_DATA="$WORK/data_aqg_hl_gpt"
JSQUAD=../shared/jsquad/valid-v1.3.json
if [[ ! -f "$GPT_DATA/train.txt" ]]; then
  if [[ -f $JSQUAD ]]; then
    $PY prepare_jsquad_aqg.py --train_file $JSQUAD --valid_file $JSQUAD --highlight --format gpt \
      --output_dir "$GPT_DATA" >/dev/null
  else
    $PY -m jaqg make-synthetic-jsquad --output_dir "$WORK/jsquad_syn" --n_train 600 --n_valid 50 >/dev/null
    $PY prepare_jsquad_aqg.py --jsquad_dir "$WORK/jsquad_syn" --highlight --format gpt --output_dir "$GPT_DATA" >/dev/null
  fi
fi
[[ -f "$WORK/model_gpt2/config.json" ]] || \
  $PY make_tiny_model.py --data_dir "$GPT_DATA" --output_dir "$WORK/model_gpt2" --arch gpt2 >/dev/null
if [[ $SMOKE == 0 ]]; then  # the gpt2-medium shape: 24 layers, d 1024, 16 heads (random weights)
  $PY - "$WORK/model_gpt2" <<'EOF'
import sys, torch
from transformers import GPT2Config, GPT2LMHeadModel
config = GPT2Config.from_pretrained(sys.argv[1])
if config.n_layer != 24:
    config.update(dict(n_embd=1024, n_layer=24, n_head=16, n_positions=1024))
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(sys.argv[1])
EOF
fi
$PY - "$WORK" "$OUT" "$LIGHTNING_PREC" "$LORA_STEPS" "$DEVICE" <<'EOF'
import sys, time, torch
work, out, precision, steps, device = sys.argv[1:]
import run_clm
from jaqg.cli.args import run_cli
args = ["--model_name_or_path", f"{work}/model_gpt2", "--train_file", f"{work}/data_aqg_hl_gpt/train.txt",
        "--validation_file", f"{work}/data_aqg_hl_gpt/dev.txt", "--do_train", "--lora_r", "8", "--lora_alpha", "16",
        "--precision", precision, "--per_device_train_batch_size", "8", "--max_steps", steps,
        "--max_eval_samples", "64", "--output_dir", f"{out}/lora_run", "--overwrite_output_dir",
        "--accelerator", "gpu" if device == "cuda" else "cpu", "--devices", "1"]
start = time.perf_counter()
try:
    run_cli(lambda: run_clm.main(args), prog="run_clm.py")
except SystemExit as e:
    if e.code:
        raise
elapsed = time.perf_counter() - start
peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device == "cuda" else float("nan")
print(f"LoRA run: {steps} steps (plus loading, validation, export) in {elapsed:.1f} s wall; "
      f"peak GPU memory {peak:.2f} GiB")
EOF
stamp "5. chat SFT (run_clm.py on chat JSONL) on the Qwen2.5 stand-in: DoRA + --packing, then QLoRA --load_in_4bit"
CHAT_DATA="$WORK/data_aqg_hl_chat"
if [[ ! -f "$CHAT_DATA/train.jsonl" ]]; then
  if [[ -f $JSQUAD ]]; then
    $PY prepare_jsquad_aqg.py --train_file $JSQUAD --valid_file $JSQUAD --highlight --format chat \
      --output_dir "$CHAT_DATA" >/dev/null
  else
    $PY prepare_jsquad_aqg.py --jsquad_dir "$WORK/jsquad_syn" --highlight --format chat --output_dir "$CHAT_DATA" >/dev/null
  fi
fi
[[ -f "$WORK/model_qwen/config.json" ]] || $PY make_tiny_model.py --like Qwen/Qwen2.5-0.5B-Instruct \
  --data_dir examples/jsquad --output_dir "$WORK/model_qwen" >/dev/null
CHAT_FLAGS=(--model_name_or_path "$WORK/model_qwen" --train_file "$CHAT_DATA/train.jsonl"
  --validation_file "$CHAT_DATA/dev.jsonl" --do_train --lora_r 8 --lora_alpha 16 --precision "$LIGHTNING_PREC"
  --per_device_train_batch_size 8 --max_steps "$LORA_STEPS" --max_eval_samples 64 --block_size 2048
  --accelerator "$([[ $DEVICE == cuda ]] && echo gpu || echo cpu)" --devices 1 --overwrite_output_dir)
$PY run_clm.py "${CHAT_FLAGS[@]}" --use_dora --packing --output_dir "$OUT/chat_dora" 2>&1 \
  | grep -E "packing:|trainable|best checkpoint|error" || exit 1
set +e  # QLoRA: trains on a GPU with bitsandbytes; anywhere else it must stop with one line (exit 2)
$PY run_clm.py "${CHAT_FLAGS[@]}" --load_in_4bit --gradient_checkpointing --output_dir "$OUT/chat_qlora" \
  > "$OUT/chat_qlora.log" 2>&1
status=$?
set -e
echo "QLoRA (--load_in_4bit): exit status $status; $(grep -E 'trainable|best checkpoint|error' "$OUT/chat_qlora.log" \
  | tr '\n' ' ')"
stamp "done; log: $OUT/gpu_check.log"
