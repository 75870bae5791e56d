#!/usr/bin/env bash
# Learning evidence on a 2-core CPU: SmolLM2-135M-Instruct (local engine), SFT warm-start on
# heuristic demonstrations, then 30 GRPO steps on synthetic tasks (4-chunk pools), then a
# paired before/after evaluation on 60 held-out synthetic tasks. Sized to finish in about an
# hour on a shared 2-core machine; --frozen-prompt is the CPU speed option (see engines/local.py).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # 2 threads on a shared 2-core machine oversubscribe: 10x slower
DATA=${DATA:-data_out/synthetic_pool4}
SFT=${SFT:-runs/llm_sft_synth}
RUN=${RUN:-runs/llm_grpo_synth}
N_VAL=${N_VAL:-60}
[ -f "$DATA/train.jsonl" ] || tinker-explorer data build --source synthetic --out "$DATA" --pool-size 4 --n-train 400 --n-val 100
COMMON=(--lora-rank 8 --max-steps 4 --system-prompt short --frozen-prompt)
[ -f "$SFT/checkpoints.jsonl" ] || tinker-explorer train sft --tasks "$DATA/train.jsonl" --run-dir "$SFT" \
  --episodes 120 --epochs 2 --min-f1 0.5 --batch-size 8 --lr 3e-4 "${COMMON[@]}"
mkdir -p "$RUN"
[ -f "$RUN/eval_sft.json" ] || tinker-explorer eval --policy llm --engine local --checkpoint "$SFT" \
  --tasks "$DATA/val.jsonl" --n-tasks "$N_VAL" --max-steps 4 --json "$RUN/eval_sft.json" --quiet
RESUME=(); [ -f "$RUN/checkpoints.jsonl" ] && RESUME=(--resume)
tinker-explorer train grpo --policy llm --engine local --init "$SFT" --tasks "$DATA/train.jsonl" --run-dir "$RUN" \
  --steps 30 --batch-size 2 --group-size 4 --lr 5e-5 --max-tokens 20 --save-every 10 --reward f1 "${COMMON[@]}" "${RESUME[@]}"
tinker-explorer eval --policy llm --engine local --checkpoint "$RUN" --tasks "$DATA/val.jsonl" --n-tasks "$N_VAL" \
  --max-steps 4 --json "$RUN/eval_grpo.json" --quiet
tinker-explorer eval --compare "$RUN/eval_grpo.json" "$RUN/eval_sft.json" | tee "$RUN/compare.txt"
