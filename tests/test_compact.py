"""The compact learned policy: budget/step discipline, determinism, checkpoints, training records,
resume, and the answer extractor learning span boundaries. Tiny made-up tasks only (seconds)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinker_explorer.data.schema import Chunk, Task  # noqa: E402
from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv  # noqa: E402
from tinker_explorer.env.types import Action  # noqa: E402
from tinker_explorer.eval.runner import run_episodes  # noqa: E402
from tinker_explorer.policies import get_policy  # noqa: E402
from tinker_explorer.policies.compact import load_compact_policy  # noqa: E402
from tinker_explorer.policies.compact.features import analyse, answer_candidates  # noqa: E402
from tinker_explorer.policies.compact.model import CompactPolicy, new_policy  # noqa: E402
from tinker_explorer.train.compact import CompactTrainConfig, train_compact  # noqa: E402
from tinker_explorer.policies.compact.warm import fit_answer  # noqa: E402
from tinker_explorer.train.oracle import oracle_states  # noqa: E402

FILMS = ["Blue Harbor", "Silent Creek", "Iron Valley", "Paper Moon Road", "Glass River", "Stone Garden",
         "Red Lantern", "Quiet Field"]
PEOPLE = [("John Carver", "Missoula, Montana"), ("Anna Weiss", "Salem, Oregon"), ("Paul Durand", "Lyon, France"),
          ("Maria Rossi", "Turin, Italy"), ("Ken Ito", "Osaka, Japan"), ("Lena Berg", "Bergen, Norway"),
          ("Omar Haddad", "Tripoli, Libya"), ("Ruth Klein", "Austin, Texas")]


def make_task(k: int) -> Task:
    film, (person, place) = FILMS[k % len(FILMS)], PEOPLE[k % len(PEOPLE)]
    other = PEOPLE[(k + 3) % len(PEOPLE)]
    texts = [
        (f"{film} (film)", f"{film} is a {1950 + k} drama film directed by {person}. It was shot in winter."),
        (person, f"{person} (born {1920 + k}) was a film director. {person} was born in {place} and worked in "
                 f"theatre for many years before moving to film."),
        (other[0], f"{other[0]} was a painter born in {other[1]}. The painter lived in a small village."),
        ("Harbor Lights", "Harbor Lights is a song recorded by a band in the summer of that year."),
        ("Old Mill", "Old Mill is a building of the nineteenth century, later turned into a museum."),
    ]
    gold = {0, 1}
    chunks = tuple(Chunk.make(i, t, x, is_gold=i in gold) for i, (t, x) in enumerate(texts))
    return Task(id=f"t{k}", question=f"Where was the director of film {film} born?", answer=place,
                type="compositional", chunks=chunks, source="test",
                meta={"evidences": [[film, "director", person], [person, "country of citizenship", "American"]]})


TASKS = [make_task(k) for k in range(8)]
TINY = dict(answer_epochs=8, answer_lr=1.0, warm_epochs=20, steps=2, group_size=2, batch_size=2, eval_every=1,
            budget_mix=(60,), answer_folds=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("compact") / "run"
    path = train_compact(CompactTrainConfig(**TINY), TASKS[:6], TASKS[6:], run, progress=False)
    return run, path


def test_training_leaves_the_callers_thread_count(tmp_path):
    """The trainer caps itself at two torch threads, and gives the caller its own count back."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        train_compact(CompactTrainConfig(**{**TINY, "grpo": False}), TASKS[:6], None, tmp_path / "r", progress=False)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_policy_acts_within_budget_and_steps(trained):
    _, path = trained
    policy = load_compact_policy(path)
    for budget, max_steps in ((0, 1), (30, 2), (60, 3), (2000, 10)):
        for sample in (False, True):
            policy.sample = sample
            trajs = run_episodes(policy, TASKS, EnvConfig(budget=budget, max_steps=max_steps), seed=3)
            for t in trajs:
                assert t.tokens_read <= budget
                assert len(t.steps) <= max_steps
                assert t.answer is not None and t.n_parse_errors == 0
                assert all(s.status.startswith(("Opened", "Answered")) for s in t.steps)  # no refused opens
    policy.sample = False


def test_untrained_policy_is_deterministic_given_seed():
    policy = new_policy(frozenset({"American"}), frozenset({"where", "born", "director"}), seed=1)
    policy.sample = True
    a = run_episodes(policy, TASKS, EnvConfig(budget=200), seed=7)
    b = run_episodes(policy, TASKS, EnvConfig(budget=200), seed=7, batch_size=3)
    assert [(t.opened, t.answer) for t in a] == [(t.opened, t.answer) for t in b]


def test_save_load_keeps_every_answer_weight_exactly(trained, tmp_path):
    """Small hashed answer weights survive a checkpoint (float16 flushed those below 6e-8 to zero and
    rounded the rest), so a loaded policy decides as the trained one did."""
    _, path = trained
    p1 = load_compact_policy(path)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights of the size a few SGD updates leave on rare features
        p1.answer_net.emb.weight.add_(1e-3 * torch.randn(p1.answer_net.emb.weight.shape, generator=g))
        p1.answer_net.emb.weight[:1000] = 1e-8
    p2 = CompactPolicy.load(p1.save(tmp_path / "copy.pt"))
    assert torch.equal(p1.answer_net.emb.weight, p2.answer_net.emb.weight)
    for sample in (False, True):
        p1.sample = p2.sample = sample
        a = run_episodes(p1, TASKS, EnvConfig(budget=150), seed=5)
        b = run_episodes(p2, TASKS, EnvConfig(budget=150), seed=5)
        assert [(t.opened, t.answer) for t in a] == [(t.opened, t.answer) for t in b]
    assert (tmp_path / "copy.pt").stat().st_size < 4_000_000


def test_training_writes_records(trained):
    run, path = trained
    assert path.name == "final.pt" and path.exists()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["policy"] == "compact" and cfg["reward"]["name"] == "shaped"
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2]
    for key in ("reward_mean", "reward_std", "f1", "em", "answer_rate", "avg_opens", "avg_tokens_read",
                "skipped_groups", "seconds"):
        assert key in metrics[1]
    ckpts = [json.loads(x) for x in (run / "checkpoints.jsonl").read_text().splitlines()]
    assert ckpts[-1]["name"] == "final" and (run / "warm.pt").exists()
    assert all((run / c["path"]).is_file() for c in ckpts)  # superseded step checkpoints: line and file gone
    assert get_policy("compact", checkpoint=str(run)).name == "compact"


def _state(path):
    st = torch.load(path, map_location="cpu", weights_only=True)
    return {**{f"chunk.{k}": v for k, v in st["chunk_net"].items()}, "answer": st["answer_weight"],
            "rerank": st["rerank"]}


def _lines(run, name):
    drop = ("seconds", "elapsed_s", "warm_seconds")
    return [{k: v for k, v in json.loads(x).items() if k not in drop} for x in (run / name).read_text().splitlines()]


def test_a_run_killed_anywhere_and_resumed_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    """Killed in the warm start (after its fold scorers) and again in GRPO step 3, then resumed:
    the final weights and the metrics lines are those of a run never interrupted, and the warm
    start's finished pieces are not fitted again."""
    from tinker_explorer.train import compact as ctrain
    from tinker_explorer.policies.compact import warm as cwarm
    cfg = CompactTrainConfig(**{**TINY, "steps": 4})
    a = train_compact(cfg, TASKS[:6], TASKS[6:], tmp_path / "a", progress=False)

    class Killed(BaseException):
        pass

    def die(*a, **k):
        raise Killed
    real_rerank, real_step, real_fit = cwarm.fit_rerank, ctrain.grpo_step, cwarm.fit_answer
    monkeypatch.setattr(cwarm, "fit_rerank", die)
    with pytest.raises(Killed):
        train_compact(cfg, TASKS[:6], TASKS[6:], tmp_path / "b", progress=False)
    monkeypatch.setattr(cwarm, "fit_rerank", real_rerank)
    fits = []
    monkeypatch.setattr(cwarm, "fit_answer", lambda *a, **k: (fits.append(k.get("desc")), real_fit(*a, **k)))
    monkeypatch.setattr(ctrain, "grpo_step", lambda *a: die() if a[-1] == 3 else real_step(*a))
    with pytest.raises(Killed):
        train_compact(cfg, TASKS[:6], TASKS[6:], tmp_path / "b", resume=True, progress=False)
    assert fits == [None]  # only the final answer scorer: both fold scorers came from their checkpoints
    monkeypatch.setattr(ctrain, "grpo_step", real_step)
    b = train_compact(cfg, TASKS[:6], TASKS[6:], tmp_path / "b", resume=True, progress=False)
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert _lines(tmp_path / "a", "metrics.jsonl") == _lines(tmp_path / "b", "metrics.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "b" / "checkpoints.jsonl").read_text().splitlines()]
    assert all((tmp_path / "b" / r["path"]).is_file() for r in rows) and rows[-1]["name"] == "final"


def test_one_update_raises_the_probability_of_a_positive_advantage_decision():
    """A sign error in the policy gradient (or its advantages) cannot pass: after one step the
    decision of the episode with advantage +1 is more probable, that of the one with -1 less."""
    from tinker_explorer.train.compact import policy_gradient_step
    policy = new_policy(frozenset(), frozenset({"where", "born", "director"}), seed=0, use_heuristic=False)
    obs = ExplorerEnv(EnvConfig()).reset(TASKS[0])
    (d,) = policy.decide([obs], [np.random.default_rng(0)])
    good, bad = dataclasses.replace(d, choice=1), dataclasses.replace(d, choice=len(obs.chunks))  # OPEN 1 vs STOP

    def probs():
        from tinker_explorer.policies.compact.model import stack_rows
        with torch.no_grad():
            p = torch.softmax(policy.chunk_net(*stack_rows([(d.cf, d.g, d.valid)])), 1)[0]
        return float(p[1]), float(p[-1])
    before = probs()
    opt = torch.optim.SGD(policy.chunk_net.parameters(), lr=0.1)
    policy_gradient_step(policy, opt, [[good], [bad]], np.array([1.0, -1.0]))
    after = probs()
    assert after[0] > before[0] and after[1] < before[1]


def test_cli_resume_continues_the_run_as_started_and_refuses_a_contradiction(tmp_path, capsys):
    from tinker_explorer.cli import main
    from tinker_explorer.data.schema import save_tasks
    save_tasks(TASKS[:6], tmp_path / "train.jsonl")
    run = tmp_path / "run"
    base = ["train", "grpo", "--policy", "compact", "--tasks", str(tmp_path / "train.jsonl"), "--run-dir", str(run)]
    assert main(base + ["--reward", "f1", "--steps", "1", "--warm-epochs", "5", "--answer-epochs", "2",
                        "--group-size", "2", "--batch-size", "2"]) == 0
    assert main(base + ["--resume", "--steps", "2"]) == 0  # a bare resume: the run's own reward and sizes
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["reward"]["name"] == "f1" and cfg["steps"] == 2 and cfg["group_size"] == 2
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2]
    assert metrics[-1]["reward_mean"] == metrics[-1]["f1"]  # pure F1, not the shaped default
    capsys.readouterr()
    assert main(base + ["--resume", "--steps", "3", "--reward", "shaped"]) == 2
    err = capsys.readouterr().err
    assert "--reward shaped contradicts the run being resumed" in err and err.count("\n") == 1
    for flag in (["--model", "tiny"], ["--temperature", "0.7"], ["--init", str(run)], ["--lora-rank", "4"]):
        assert main(base + ["--steps", "1"] + flag) == 2
        assert f"{flag[0]} is an option of --policy llm" in capsys.readouterr().err


def test_answer_extractor_learns_span_boundaries():
    """After a tiny fit, 'Missoula, Montana' (not 'Missoula' nor 'Montana') is picked on an unseen task."""
    train, test = TASKS[1:], TASKS[0]
    policy = new_policy(frozenset(), frozenset({"where", "born", "director", "film", "of", "was"}), use_heuristic=False)
    states = oracle_states(policy, train, budget=2000, max_steps=10)
    fit_answer(policy, states, epochs=10, lr=1.0, seed=0)
    env = ExplorerEnv(EnvConfig())
    obs = env.reset(test)
    for i in test.gold_ids:
        obs = env.step(Action.open(i)).observation
    cands = answer_candidates(analyse(obs), policy.lexicon, policy.qvocab)
    assert {"Missoula", "Montana", "Missoula, Montana"} <= set(cands.texts)
    scores = policy.answer_net.score(cands).detach().numpy()
    assert cands.texts[int(np.argmax(scores))] == "Missoula, Montana"


def test_training_on_pools_of_different_sizes_stays_finite(tmp_path):
    """HotpotQA/MuSiQue pools differ in size: the warm start's STOP target must be the padded batch's
    STOP column, not the row's own pool size (which once made the loss infinite and the weights NaN)."""
    import dataclasses
    tasks = [dataclasses.replace(t, chunks=t.chunks[:3 + k % 3]) for k, t in enumerate(make_task(k) for k in range(8))]
    path = train_compact(CompactTrainConfig(**TINY), tasks[:6], tasks[6:], tmp_path / "run", progress=False)
    policy = CompactPolicy.load(path)
    assert all(torch.isfinite(p).all() for p in policy.chunk_net.parameters())
    trajs = run_episodes(policy, tasks, EnvConfig(budget=2000), seed=0)
    assert all(t.answer is not None for t in trajs)


def test_init_from_reuses_a_warm_start(trained, tmp_path):
    """GRPO from another run's warm start: its warm weights and fold answer scorers are copied, not retrained."""
    from tinker_explorer.errors import UserError
    run, _ = trained
    cfg = CompactTrainConfig(**{**TINY, "init_from": str(run)})
    path = train_compact(cfg, TASKS[:6], None, tmp_path / "grpo", progress=False)
    src, dst = torch.load(run / "warm.pt", weights_only=True), torch.load(tmp_path / "grpo" / "warm.pt", weights_only=True)
    assert torch.equal(src["answer_weight"], dst["answer_weight"]) and path.name == "final.pt"
    assert sorted(p.name for p in (tmp_path / "grpo").glob("answer_fold*.pt")) == ["answer_fold0.pt", "answer_fold1.pt"]
    with pytest.raises(UserError, match="no warm.pt"):
        train_compact(CompactTrainConfig(**{**TINY, "init_from": str(tmp_path / "nothing")}), TASKS[:6], None,
                      tmp_path / "x", progress=False)


def test_layout_features_place_spans_among_a_biographys_dates():
    from tinker_explorer.policies.compact.features import date_spans, first_paren, layout_features
    text = "Ada Moor (3 January 1803 in Kessa - 12 September 1871 in Tallmere) was a painter. She died in 1871."
    dates, paren = date_spans(text), first_paren(text)
    assert [text[a:b] for a, b in dates] == ["3 January 1803", "12 September 1871", "1871"]

    def lay(span: str, nth: int = 0) -> list[str]:
        a = -1
        for _ in range(nth + 1):
            a = text.index(span, a + 1)
        return layout_features(a, a + len(span), dates, paren)

    assert lay("3 January 1803") == ["dord=0", "adate=-", "par=True"]  # the birth date
    assert lay("12 September 1871") == ["dord=1", "adate=0", "par=True"]  # the death date
    assert lay("Kessa") == ["dord=-", "adate=0", "par=True"]  # the place right after the first date
    assert lay("Tallmere") == ["dord=-", "adate=1", "par=True"]  # ... and after the second one
    assert lay("1871", 1) == ["dord=2", "adate=-", "par=False"]
    assert lay("She") == ["dord=-", "adate=-", "par=False"]  # too far from any date
    assert first_paren("No parenthesis here.") == (-1, -1)


def test_warm_start_key_changes_with_the_code_and_the_tasks(monkeypatch, tmp_path):
    """A cached warm start (the leaves harness shares one) is never reused after any change of the
    package's code (features, heuristic, trainer: no version number to forget to bump) or of the tasks."""
    import shutil

    from tinker_explorer.train import compact as ctrain
    from tinker_explorer import records
    pkg = tmp_path / "pkg"
    shutil.copytree(records.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(records, "PACKAGE_DIR", pkg)
    monkeypatch.setattr(records.src_hash, "__defaults__", (pkg,))
    cfg = CompactTrainConfig()
    before = ctrain.warm_key(cfg, TASKS)
    assert before == ctrain.warm_key(CompactTrainConfig(steps=3, lr=0.1), TASKS)  # GRPO settings: same warm start
    assert ctrain.warm_key(cfg, TASKS[:-1]) != before
    with open(pkg / "policies" / "heuristic.py", "a") as f:  # a heuristic edit, no version bump anywhere
        f.write("\n# changed\n")
    assert ctrain.warm_key(cfg, TASKS) != before


def test_old_checkpoint_version_is_a_clear_user_error(trained, tmp_path):
    from tinker_explorer.errors import UserError
    st = torch.load(trained[1], map_location="cpu", weights_only=True)
    st["version"] = 1
    torch.save(st, tmp_path / "old.pt")
    with pytest.raises(UserError, match="train it again"):
        CompactPolicy.load(tmp_path / "old.pt")


def test_grpo_learns_from_chosen_decisions_only_never_from_forced_stops():
    """An episode whose only move is a forced stop (nothing affordable, or the last step) gives GRPO no
    decision to learn from; a free first step does."""
    from tinker_explorer.eval.runner import run_lockstep
    from tinker_explorer.train.compact import trained_decisions
    policy = new_policy(frozenset(), frozenset({"where", "born", "director"}), seed=0, use_heuristic=False)

    def actor(idx, obs, rngs, turn):
        return [(d.action, d) for d in policy.decide(obs, rngs)]
    broke, last, free = run_lockstep(actor, TASKS[:3], [EnvConfig(budget=1), EnvConfig(max_steps=1), EnvConfig()])
    assert len(broke.steps) == 1 and len(last.steps) == 1  # both forced to answer at once
    assert trained_decisions(broke) == [] and trained_decisions(last) == []
    assert trained_decisions(free)[0] is free.steps[0].record
