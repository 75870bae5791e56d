"""CLI: `eval` (one policy, or --compare two result files)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tinker_explorer.console import HelpFormatter
from tinker_explorer.errors import UserError

LOWER_IS_BETTER = {"tokens_read"}  # for these metrics a task "won" is one where A reads fewer tokens than B
COLUMNS = (("f1", "F1"), ("em", "EM"), ("answer_rate", "answered"), ("avg_opens", "opens"),
           ("avg_tokens_read", "tokens read"))


def register(sub) -> None:
    e = sub.add_parser("eval", help="evaluate a policy (or compare two eval JSONs)",
                       formatter_class=HelpFormatter,
                       description="Run a policy on tasks, print a table, write JSON with per-task rows. "
                                   "With --compare A.json B.json: paired bootstrap comparison of two results.")
    e.add_argument("--policy", default="heuristic", help="random | heuristic | compact | llm")
    e.add_argument("--tasks", help="task file written by `data build`, e.g. data_out/2wiki/val.jsonl (required "
                                   "unless --compare)")
    e.add_argument("--n-tasks", type=int, default=200, help="first N tasks of the file")
    e.add_argument("--budget", type=int, default=2000, help="reading budget (tokens)")
    e.add_argument("--max-steps", type=int, default=10, help="steps per episode before it ends unanswered")
    e.add_argument("--reward", default="f1", help="reward reported per episode: f1 | em | shaped")
    e.add_argument("--seed", type=int, default=0, help="seed of the policies' sampling")
    e.add_argument("--json", dest="json_out", help="write the result JSON here")
    e.add_argument("--trajectories", help="write every episode (JSONL) here")
    e.add_argument("--checkpoint", help="compact: checkpoint file or run dir; llm: adapter/state path")
    e.add_argument("--engine", default="local", help="llm: local | tinker")
    e.add_argument("--base-url", default=None,
                   help="llm, tinker engine: a Tinker-API server (e.g. self-hosted SkyRL) instead of Tinker cloud")
    e.add_argument("--model", default=None, help="llm: base model (default depends on the engine)")
    e.add_argument("--max-tokens", type=int, default=None,
                   help="llm: max sampled tokens per turn (default: the training run's, else 64)")
    e.add_argument("--batch-size", type=int, default=64, help="episodes stepped together")
    e.add_argument("--dishonest-status", action="store_true",
                   help="ablation only: replace the status line by an uninformative 'OK.'")
    e.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="paired comparison of two results")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_eval)


def policy_kwargs(args) -> dict:
    if args.policy == "compact":
        return {"checkpoint": args.checkpoint}
    if args.policy == "llm":
        return {"engine": args.engine, "model": args.model, "checkpoint": args.checkpoint, "base_url": args.base_url,
                "max_tokens": args.max_tokens}
    return {}


def checkpoint_used(args) -> str | None:
    """Which checkpoint ``--checkpoint`` names (a run folder: its ``final`` row), printed and recorded
    in the result, so a result always says what it evaluated."""
    if not args.checkpoint or args.policy not in ("compact", "llm"):
        return None
    from tinker_explorer.records import resolve_checkpoint
    ck = resolve_checkpoint(args.checkpoint)
    used = ck.pick("sampler" if args.policy == "llm" else "state")
    where = f" ({ck.name} checkpoint of {ck.run_dir}, step {ck.step})" if ck.run_dir else ""
    print(f"checkpoint: {used}{where}", file=sys.stderr)
    return used


def format_table(rows: list[dict], name_key: str = "policy") -> str:
    head = [name_key] + [h for _, h in COLUMNS] + ["F1 95% CI"]
    body = []
    for r in rows:
        cells = [str(r.get(name_key, ""))]
        for k, _ in COLUMNS:
            v = r.get(k)
            cells.append("" if v is None else (f"{100 * v:.1f}%" if k == "answer_rate" else
                                                f"{v:.1f}" if k == "avg_tokens_read" else
                                                f"{v:.2f}" if k == "avg_opens" else f"{v:.3f}"))
        ci = r.get("f1_ci")
        cells.append(f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
        body.append(cells)
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(c) for c in body])


def load_result(path: str) -> dict:
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{p}: no such result file") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{p}: not valid JSON ({e.msg})") from None
    if "per_task" not in d:
        raise UserError(f"{p}: no per_task rows; write it with `tinker-explorer eval --json`")
    return d


def compare(a: dict, b: dict, metric: str = "f1") -> dict:
    """Paired comparison on the tasks both results share."""
    from tinker_explorer.eval.metrics import paired_bootstrap
    rb = {r["task_id"]: r for r in b["per_task"]}
    shared = [r for r in a["per_task"] if r["task_id"] in rb]
    if not shared:
        raise UserError("the two results share no task ids")
    return paired_bootstrap([r[metric] for r in shared], [rb[r["task_id"]][metric] for r in shared])


def cmd_eval(args) -> int:
    if args.compare:
        a, b = (load_result(p) for p in args.compare)
        print(format_table([a, b]))
        for metric in ("f1", "em", "tokens_read"):
            c = compare(a, b, metric)
            wins, losses = (c["losses"], c["wins"]) if metric in LOWER_IS_BETTER else (c["wins"], c["losses"])
            better = " (fewer is better)" if metric in LOWER_IS_BETTER else ""
            print(f"{metric:12s} {a.get('policy')} - {b.get('policy')}: {c['diff']:+.3f}  "
                  f"95% CI [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]  (n={c['n']}, wins {wins}, "
                  f"losses {losses}, ties {c['ties']}){better}")
        return 0
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.env import EnvConfig, RewardConfig
    from tinker_explorer.eval.runner import run_episodes, summarize
    from tinker_explorer.policies import get_policy
    if not args.tasks:
        raise UserError("give --tasks FILE: a task file written by `tinker-explorer data build` "
                        "(e.g. data_out/2wiki/val.jsonl)")
    if args.n_tasks <= 0:
        raise UserError("--n-tasks must be positive")
    tasks = load_tasks(args.tasks, limit=args.n_tasks)
    if not tasks:
        raise UserError(f"{args.tasks}: no tasks")
    if len(tasks) < args.n_tasks:
        print(f"note: {args.tasks} has {len(tasks)} tasks; evaluating all of them", file=sys.stderr)
    used = checkpoint_used(args)
    policy = get_policy(args.policy, **policy_kwargs(args))
    cfg = EnvConfig(budget=args.budget, max_steps=args.max_steps, reward=RewardConfig(name=args.reward),
                    honest_status=not args.dishonest_status)
    t0 = time.perf_counter()
    trajs = run_episodes(policy, tasks, cfg, seed=args.seed, batch_size=args.batch_size,
                         progress=not args.quiet, record_observations=bool(args.trajectories))
    secs = time.perf_counter() - t0
    n_steps = sum(len(t.steps) for t in trajs)
    res = summarize(trajs, policy=policy.name, extra={
        "tasks_file": str(args.tasks), "budget": args.budget, "max_steps": args.max_steps, "seed": args.seed,
        "reward_name": args.reward, "checkpoint": args.checkpoint, "checkpoint_used": used, "seconds": secs,
        "env_steps_per_sec": n_steps / secs if secs > 0 else None})
    print(format_table([res]))
    print(f"{len(trajs)} tasks, {n_steps} env steps in {secs:.2f} s ({res['env_steps_per_sec']:.0f} steps/s)")
    if len(res["per_type"]) > 1:
        print(format_table([{"type": k, **v} for k, v in res["per_type"].items()], name_key="type"))
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(res, indent=1) + "\n")
        print(f"wrote {args.json_out}")
    if args.trajectories:
        Path(args.trajectories).parent.mkdir(parents=True, exist_ok=True)
        with open(args.trajectories, "w") as f:
            for t in trajs:
                f.write(json.dumps(t.to_json(), ensure_ascii=False) + "\n")
        print(f"wrote {args.trajectories}")
    return 0
