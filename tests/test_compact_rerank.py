"""The compact policy's second-stage answer scorer: its features (question kind x candidate
property, name forms that are siblings), its fit on out-of-fold scores, and checkpoints with and
without it. Hand-made candidates only (milliseconds)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinker_explorer.policies.compact.features import (N_RERANK, PROPS, QKINDS, Candidates,  # noqa: E402
                                                       question_kinds, rerank_features, sibling_roles)
from tinker_explorer.policies.compact.model import CompactPolicy, Reranker, new_policy  # noqa: E402
from tinker_explorer.policies.compact.warm import fit_rerank  # noqa: E402
from tinker_explorer.train.oracle import OracleState  # noqa: E402


def col(kind: str, prop: str) -> int:
    return QKINDS.index(kind) * len(PROPS) + PROPS.index(prop)


def test_sibling_roles_pair_a_demonym_with_its_base_form():
    texts = ["Hungarian", "Hungary", "Budapest", "yes", "Swedish", "Sweden", "Hungarian Army", "Iran", "Iranian"]
    where = [1, 1, 1, -1, 2, 2, 1, 3, 3]
    roles = sibling_roles(texts, where)
    assert roles[:6] == ["dem_sib", "base_sib", None, None, "dem_sib", "base_sib"]
    assert roles[6] is None  # two words: not a name form
    assert roles[7:] == ["base_sib", "dem_sib"]  # both end like demonyms: the longer one is
    assert sibling_roles(["Hungary", "Hungary"], [1, 2]) == [None, None]  # one form twice is no pair


def test_rerank_features_are_question_kind_times_property():
    q = "which country is the director of film blue harbor from"
    assert question_kinds(q)[QKINDS.index("nation")] == 1 and question_kinds(q)[QKINDS.index("place")] == 0
    from tinker_explorer.policies.compact.features import ObsInfo
    info = ObsInfo(question=q, qnorm=q, qwords=set(q.split()), titles=[], tnorm=[], texts=[], heads=[], opened=[],
                   n_tokens=[], qchunks=[], mentions=[], first_mention=[], qents=[], budget=2000,
                   budget_left=2000, steps_left=10)
    d = rerank_features(info, ["Hungarian", "Hungary", "yes"], [1, 1, -1], [None, None, None])
    assert d.shape == (3, N_RERANK)
    assert d[0, col("nation", "dem_sib")] == 1 and d[0, col("any", "dem_sib")] == 1
    assert d[1, col("nation", "base_sib")] == 1 and d[0, col("place", "dem_sib")] == 0
    assert not d[2].any()


def _cands(texts: list[str], dense: np.ndarray) -> Candidates:
    return Candidates(texts, np.zeros(len(texts), np.int32), np.ones(len(texts), np.int32), [1] * len(texts), dense)


def test_fit_rerank_learns_what_the_first_stage_misses():
    """First stage prefers the demonym by 1.0; in 30 of 40 states the answer is the base form:
    the second stage learns to turn the base form's sibling feature into a win, and only there."""
    rng = np.random.default_rng(0)
    states, cands, scores = [], [], []
    for k in range(40):
        dense = np.zeros((3, N_RERANK), np.float32)
        dense[0, col("nation", "dem_sib")] = dense[1, col("nation", "base_sib")] = 1
        f1 = np.array([0.0, 1.0, 0.0] if k < 30 else [1.0, 0.0, 0.0], np.float32)
        states.append(OracleState(k, None, 2, [], [], f1, 0))
        cands.append(_cands(["Hungarian", "Hungary", "Budapest"], dense))
        scores.append(np.array([2.0, 1.0, 0.5]) + rng.normal(0, 0.01, 3))
    rr = fit_rerank(scores, cands, states, l2=1e-4)
    with torch.no_grad():
        z = rr(torch.tensor(scores[0], dtype=torch.float32), torch.from_numpy(cands[0].dense)).numpy()
    assert int(np.argmax(z)) == 1
    assert abs(float(rr.w.detach()[col("place", "dem_sib")])) < 1e-6  # no signal, no weight
    strong = fit_rerank(scores, cands, states, l2=10.0)  # a strong penalty keeps the first stage's choice
    with torch.no_grad():
        z = strong(torch.tensor(scores[0], dtype=torch.float32), torch.from_numpy(cands[0].dense)).numpy()
    assert int(np.argmax(z)) == 0


def test_checkpoints_keep_the_second_stage_and_older_ones_load_without_it(tmp_path):
    policy = new_policy(frozenset(), frozenset({"country"}), use_heuristic=False)
    policy.rerank = Reranker()
    with torch.no_grad():
        policy.rerank.a.fill_(0.5)
        policy.rerank.w[col("nation", "base_sib")] = 3.0
    loaded = CompactPolicy.load(policy.save(tmp_path / "p.pt"))
    assert float(loaded.rerank.a.detach()) == 0.5 and float(loaded.rerank.w.detach()[col("nation", "base_sib")]) == 3.0
    dense = np.zeros((2, N_RERANK), np.float32)
    dense[1, col("nation", "base_sib")] = 1
    c = _cands(["Hungarian", "Hungary"], dense)
    assert np.allclose(loaded.answer_scores([c])[0], [0.0, 3.0])
    st = torch.load(tmp_path / "p.pt", map_location="cpu", weights_only=True)
    del st["rerank"]  # a checkpoint from before the second stage
    torch.save(st, tmp_path / "old.pt")
    old = CompactPolicy.load(tmp_path / "old.pt")
    assert old.rerank is None and np.allclose(old.answer_scores([c])[0], [0.0, 0.0])


def test_identity_second_stage_changes_no_score():
    policy = new_policy(frozenset(), frozenset(), use_heuristic=False)
    with torch.no_grad():
        policy.answer_net.emb.weight.normal_()
    dense = np.random.default_rng(1).integers(0, 2, (4, N_RERANK)).astype(np.float32)
    c = Candidates(["a", "b", "c", "d"], np.arange(8, dtype=np.int32), np.full(4, 2, np.int32), [0, 0, 1, 1], dense)
    before = policy.answer_scores([c])[0]
    policy.rerank = Reranker()
    assert np.allclose(policy.answer_scores([c])[0], before)


def test_second_stage_of_another_size_is_a_clear_user_error(tmp_path):
    from tinker_explorer.errors import UserError
    policy = new_policy(frozenset(), frozenset(), use_heuristic=False)
    policy.rerank = Reranker(n_feats=N_RERANK + 3)
    with pytest.raises(UserError, match="train it again"):
        CompactPolicy.load(policy.save(tmp_path / "p.pt"))
