"""Tinker-Explorer: learning what to read under a token budget.

Layout mirrors the system:
  data/      tasks (schema, token unit, builders for 2Wiki / synthetic / HotpotQA / MuSiQue)
  env/       ExplorerEnv, action parser, renderer, reward functions, protocol types
  eval/      the one metrics module (F1/EM/bootstrap) and the evaluation runner
  policies/  random, heuristic, compact (learned), llm
  engines/   the Tinker-shaped training/sampling protocol: `tinker` (cloud) and `local` (torch)
  train/     SFT + GRPO loops and run records
"""

__version__ = "0.1.0"
