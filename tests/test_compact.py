"""The compact learned policy: budget/step discipline, determinism, checkpoints, training records,
resume, and the answer extractor learning span boundaries. Tiny made-up tasks only (seconds)."""

from __future__ import annotations

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
from tinker_explorer.policies.compact.train import (CompactTrainConfig, fit_answer, oracle_states,  # noqa: E402
                                                    train_compact)

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


def test_save_load_round_trip_identical_decisions(trained, tmp_path):
    _, path = trained
    p1 = load_compact_policy(path)
    p2 = CompactPolicy.load(p1.save(tmp_path / "copy.pt"))
    for sample in (False, True):
        p1.sample = p2.sample = sample
        a = run_episodes(p1, TASKS, EnvConfig(budget=150), seed=5)
        b = run_episodes(p2, TASKS, EnvConfig(budget=150), seed=5)
        assert [(t.opened, t.answer) for t in a] == [(t.opened, t.answer) for t in b]
    assert (tmp_path / "copy.pt").stat().st_size < 2_000_000


def test_training_writes_records_and_resumes(trained):
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
    assert ckpts[0]["name"] == "warm" and ckpts[-1]["name"] == "final" and (run / "warm.pt").exists()
    # resume to 4 steps: steps 3 and 4 are added, nothing is repeated, and the run dir loads by name
    train_compact(CompactTrainConfig(**{**TINY, "steps": 4}), TASKS[:6], TASKS[6:], run, resume=True,
                  progress=False)
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2, 3, 4]
    policy = get_policy("compact", checkpoint=str(run))
    assert policy.name == "compact"


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
    policy.sample = False
    action = policy.act_batch([obs], [np.random.default_rng(0)])[0]
    assert action.kind.value in ("answer", "open")


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


def test_warm_start_key_changes_with_the_features(monkeypatch):
    """A cached warm start (the leaves harness shares one) is never reused across feature versions."""
    from tinker_explorer.policies.compact import train as ctrain
    cfg = CompactTrainConfig()
    before = ctrain.warm_key(cfg)
    assert before == ctrain.warm_key(CompactTrainConfig(steps=3, lr=0.1))  # GRPO settings: same warm start
    monkeypatch.setattr(ctrain, "CHECKPOINT_VERSION", ctrain.CHECKPOINT_VERSION + 1)
    assert ctrain.warm_key(cfg) != before


def test_old_checkpoint_version_is_a_clear_user_error(trained, tmp_path):
    from tinker_explorer.errors import UserError
    st = torch.load(trained[1], map_location="cpu", weights_only=True)
    st["version"] = 1
    torch.save(st, tmp_path / "old.pt")
    with pytest.raises(UserError, match="train it again"):
        CompactPolicy.load(tmp_path / "old.pt")
