"""CLI: `data build` and `inspect`."""

from __future__ import annotations

import sys
from pathlib import Path

from tinker_explorer.console import HelpFormatter
from tinker_explorer.errors import UserError


def register(sub) -> None:
    data = sub.add_parser("data", help="build task files")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    b = dsub.add_parser("build", help="build train.jsonl / val.jsonl / manifest.json",
                        formatter_class=HelpFormatter,
                        description="Build task files from official-schema files (--input), a download "
                                    "(no --input; needs network), or the built-in synthetic generator.")
    b.add_argument("--source", choices=["2wiki", "synthetic", "hotpotqa", "musique"], default="2wiki",
                   help="dataset the --input files hold (checked against their fields)")
    b.add_argument("--input", help="official-schema file or directory with train*/dev* .json/.jsonl; "
                                   "omit to download (needs network)")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--n-train", type=int, default=None,
                   help="train tasks to keep, a seeded sample (default: all; synthetic: 5000)")
    b.add_argument("--n-val", type=int, default=None,
                   help="validation tasks to keep (default: all; synthetic: 200; MuSiQue without a dev file: "
                        "200 drawn from train)")
    b.add_argument("--seed", type=int, default=0, help="seed of the sampling and of the synthetic generator")
    b.add_argument("--pool-size", type=int, default=None,
                   help="synthetic: chunks per task (default 10); real data: pad each pool to this many "
                        "chunks with distractors from other tasks of the same split")
    b.add_argument("--preview-tokens", type=int, default=12, help="text tokens shown in a chunk preview")
    b.add_argument("--hub-id", default=None, help="dataset id to download when --input is omitted")
    b.set_defaults(func=cmd_build)

    i = sub.add_parser("inspect", help="show an episode as a policy sees it (and play it)",
                       formatter_class=HelpFormatter,
                       description="Print task ID's initial observation exactly as a policy sees it, then the "
                                   "gold information. Apply actions with --step, or play with --play.")
    i.add_argument("--id", default="0", help="task index in the file, or task id")
    i.add_argument("--tasks", required=True, help="task file written by `data build`, e.g. data_out/2wiki/val.jsonl")
    i.add_argument("--step", action="append", default=[], metavar="ACTION",
                   help='apply an action, e.g. --step "OPEN 3" --step "ANSWER: Paris" (repeatable)')
    i.add_argument("--play", action="store_true", help="interactive: type actions at a prompt")
    i.add_argument("--budget", type=int, default=2000, help="reading budget (tokens)")
    i.set_defaults(func=cmd_inspect)


def cmd_build(args) -> int:
    from tinker_explorer.data.build import BuildConfig, build
    cfg = BuildConfig(source=args.source, out=args.out, input=args.input, n_train=args.n_train, n_val=args.n_val,
                      seed=args.seed, preview_tokens=args.preview_tokens, pool_size=args.pool_size,
                      hub_id=args.hub_id)
    m = build(cfg)
    for note in m["notes"]:
        print(f"warning: {note}", file=sys.stderr)
    for name, f in m["files"].items():
        print(f"{Path(args.out) / name}: {f['count']} tasks")
    print(f"{Path(args.out) / 'manifest.json'}")
    return 0


def _find(tasks, key: str):
    for t in tasks:
        if t.id == key:
            return t
    try:
        return tasks[int(key)]
    except (ValueError, IndexError):
        raise UserError(f"no task {key!r}: give an index 0..{len(tasks) - 1} or a task id") from None


def cmd_inspect(args) -> int:
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.env import EnvConfig, ExplorerEnv, parse_action
    from tinker_explorer.env.render import ACTION_HELP
    tasks = load_tasks(args.tasks)
    task = _find(tasks, args.id)
    env = ExplorerEnv(EnvConfig(budget=args.budget))
    obs = env.reset(task)
    print(obs.text)
    done = False
    actions = list(args.step)
    while not done and (actions or args.play):
        if actions:
            text = actions.pop(0)
        else:
            try:
                text = input("\naction> ")
            except EOFError:
                break
        res = env.step(parse_action(text))
        print(f"\n--- {text!r} -> {res.info['status']} (cost {res.info['cost']})\n")
        done = res.done
        # once the episode is over there is nothing to reply to: drop the action prompt
        print(res.observation.text.replace(ACTION_HELP, "").rstrip() if done else res.observation.text)
        if done:
            print(f"\nEpisode over ({res.info['stop_reason']}); reward {res.reward:.3f}")
    print("\n=== gold (hidden from policies) ===")
    print(f"id: {task.id}   type: {task.type}   source: {task.source}")
    print(f"answer: {task.answer}")
    for c in task.chunks:
        if c.is_gold:
            print(f"gold chunk [{c.id}] {c.title} ({c.n_tokens} tok)")
    if task.meta.get("evidences"):
        print("evidence: " + "; ".join(" -> ".join(map(str, e)) for e in task.meta["evidences"]))
    return 0
