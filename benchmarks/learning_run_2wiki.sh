#!/usr/bin/env bash
# A real-data learning run on a 2-core CPU: SmolLM2-135M-Instruct on the local engine, SFT on heuristic
# demonstrations from the 2Wiki training file, then GRPO on 2Wiki training tasks, both evaluated on the
# 200 dev tasks, then a paired SFT-vs-GRPO comparison. The original recipe (Qwen3-8B, LoRA 32, group 16,
# batch 8, lr 5e-6) scaled to the machine: LoRA 32, group 8, batch 4, a larger lr for a 135M model and
# few steps, at most 3 env steps per episode (open, open, answer), the short system prompt, bfloat16 weights
# (AVX512_BF16). GRPO is evaluated on dev after each count of steps in GRPO_EVALS (the last is the run's length).
# Re-running continues where it stopped (each stage is skipped once its output exists).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
DATA=${DATA:-data_out/2wiki}
OUT=${OUT:-runs/llm_2wiki}
N_DEV=${N_DEV:-200}
SFT_EPISODES=${SFT_EPISODES:-120}
GRPO_EVALS=${GRPO_EVALS:-"10 40"}
[ -f "$DATA/train.jsonl" ] || tinker-explorer data build --source 2wiki --input ../shared/data/2wikimultihopqa --out "$DATA"
COMMON=(--lora-rank 32 --max-steps 3 --system-prompt short --dtype bfloat16)
SFT=$OUT/sft
GRPO=$OUT/grpo
mkdir -p "$OUT"
[ -f "$SFT/checkpoints.jsonl" ] || tinker-explorer train sft --tasks "$DATA/train.jsonl" --run-dir "$SFT" \
  --episodes "$SFT_EPISODES" --epochs 2 --min-f1 0.5 --batch-size 8 --lr 3e-4 "${COMMON[@]}"
[ -f "$OUT/eval_sft.json" ] || tinker-explorer eval --policy llm --checkpoint "$SFT" --tasks "$DATA/val.jsonl" \
  --n-tasks "$N_DEV" --max-steps 3 --max-tokens 24 --json "$OUT/eval_sft.json" --trajectories "$OUT/trajectories_sft.jsonl" --quiet
for S in $GRPO_EVALS; do
  [ -f "$OUT/eval_grpo_$S.json" ] && continue
  RESUME=()
  [ -f "$GRPO/checkpoints.jsonl" ] && RESUME=(--resume)
  tinker-explorer train grpo --policy llm --init "$SFT" --tasks "$DATA/train.jsonl" --run-dir "$GRPO" \
    --steps "$S" --batch-size 4 --group-size 8 --lr 4e-5 --max-tokens 24 --save-every 5 --reward f1 \
    "${COMMON[@]}" "${RESUME[@]}"
  tinker-explorer eval --policy llm --checkpoint "$GRPO" --tasks "$DATA/val.jsonl" --n-tasks "$N_DEV" --max-steps 3 \
    --max-tokens 24 --json "$OUT/eval_grpo_$S.json" --trajectories "$OUT/trajectories_grpo_$S.jsonl" --quiet
done
for S in $GRPO_EVALS; do
  echo "== GRPO after $S steps vs SFT"
  tinker-explorer eval --compare "$OUT/eval_grpo_$S.json" "$OUT/eval_sft.json"
done | tee "$OUT/compare.txt"
