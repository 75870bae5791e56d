"""The compact policy: a tiny open/stop scorer and a linear hashed-feature answer scorer with a
small second stage (``Reranker``) over a few dense features.

Decisions per step: a softmax over {each unopened, affordable chunk} + STOP (greedy at evaluation,
sampled with the episode rng during GRPO). On STOP the answer is the best-scoring answer candidate
(also in training: a supervised model of F1 already). Acts on :class:`Observation` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from tinker_explorer.env.types import Action, Observation
from tinker_explorer.errors import UserError
from tinker_explorer.policies.compact.features import (N_BUCKETS, N_CHUNK_FEATS, N_GLOBAL_FEATS, N_RERANK, Candidates,
                                                        ObsInfo, analyse, answer_candidates, chunk_features, norm_str)

# 2: span layout features and the heuristic's answer rule; version-1 answer weights mean other things
CHECKPOINT_VERSION = 2
N_ANSWER_FEATS = 3  # answer-model confidence features appended to the STOP input


class ChunkScorer(nn.Module):
    """logits over [chunk_0 .. chunk_{n-1}, STOP]; invalid chunks masked to -inf."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        g = N_GLOBAL_FEATS + N_ANSWER_FEATS
        self.chunk = nn.Sequential(nn.Linear(N_CHUNK_FEATS + g, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.stop = nn.Sequential(nn.Linear(g, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, cf: torch.Tensor, g: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b, n, _ = cf.shape
        x = torch.cat([cf, g[:, None, :].expand(b, n, g.shape[1])], dim=-1)
        lc = self.chunk(x).squeeze(-1).masked_fill(~valid, float("-inf"))
        return torch.cat([lc, self.stop(g)], dim=1)


class AnswerScorer(nn.Module):
    """Linear model over hashed candidate features: score = sum of the weights of its features."""

    def __init__(self, n_buckets: int = N_BUCKETS):
        super().__init__()
        self.emb = nn.EmbeddingBag(n_buckets, 1, mode="sum")
        nn.init.zeros_(self.emb.weight)

    def forward(self, idx: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.emb(idx, offsets).squeeze(-1)

    def score(self, cands: Candidates) -> torch.Tensor:
        idx, off = pack([cands])
        return self(idx, off)


class Reranker(nn.Module):
    """Second stage: score = a * first-stage score + w . rerank features (features.py says why).
    Starts as the identity (a = 1, w = 0)."""

    def __init__(self, n_feats: int = N_RERANK):
        super().__init__()
        self.a = nn.Parameter(torch.ones(()))
        self.w = nn.Parameter(torch.zeros(n_feats))

    def forward(self, s: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        return self.a * s + dense @ self.w


def pack_dense(cand_lists: Sequence[Candidates]) -> torch.Tensor:
    """The candidates' rerank features, stacked in pack()'s order."""
    mats = [c.dense if c.dense is not None else np.zeros((len(c.texts), N_RERANK), np.float32) for c in cand_lists]
    return torch.from_numpy(np.concatenate(mats)) if mats else torch.zeros((0, N_RERANK))


def pack(cand_lists: Sequence[Candidates]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten the candidates of several states into EmbeddingBag (indices, offsets)."""
    if not cand_lists:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    lens = np.concatenate([c.lens for c in cand_lists]).astype(np.int64)
    flat = np.concatenate([c.idx for c in cand_lists]).astype(np.int64)
    offsets = np.zeros(len(lens), dtype=np.int64)
    if len(lens):
        offsets[1:] = np.cumsum(lens)[:-1]
    return torch.from_numpy(flat), torch.from_numpy(offsets)


@dataclass
class Decision:
    """What act_batch decided for one observation, with what is needed to recompute its log-prob."""

    action: Action
    cf: np.ndarray
    g: np.ndarray
    valid: np.ndarray
    choice: int  # index into [chunks..., STOP]
    cands: Candidates | None = None
    answer_idx: int = -1


class CompactPolicy:
    """Policy protocol implementation. ``sample=False`` (evaluation) acts greedily; ``sample=True``
    draws from the softmax with the episode's rng (GRPO rollouts)."""

    name = "compact"

    def __init__(self, chunk_net: ChunkScorer, answer_net: AnswerScorer, lexicon: frozenset[str],
                 qvocab: frozenset[str], ctxvocab: frozenset[str] = frozenset(), sample: bool = False,
                 use_heuristic: bool = True, parser: str | None = None, rerank: Reranker | None = None):
        self.chunk_net = chunk_net
        self.answer_net = answer_net
        self.lexicon = lexicon
        self.qvocab = qvocab
        self.ctxvocab = ctxvocab
        self.use_heuristic = use_heuristic  # the rule-based reader's proposals as input features
        self.sample = sample
        self._cache: dict = {}
        self._span_cache: dict = {}  # per-chunk span features that do not change within an episode
        self._heuristic = None  # the rule-based reader whose proposals are features (made on first use)
        # the spaCy package whose parse gives opened spans syntax features (None: no syntax features)
        self.parser = parser
        self._syntax = None
        self.rerank = rerank  # the second-stage answer scorer (None: the linear scorer alone)

    def analyse(self, obs: Observation) -> ObsInfo:
        if self.use_heuristic and self._heuristic is None:
            from tinker_explorer.policies.heuristic import HeuristicPolicy
            self._heuristic = HeuristicPolicy()
        return analyse(obs, self._heuristic if self.use_heuristic else None)

    def syntax(self):
        """The parser behind the syntax features (loaded on first use), or None without them."""
        if self.parser and self._syntax is None:
            from tinker_explorer.policies.compact.syntax import Parser
            self._syntax = Parser(self.parser)
        return self._syntax

    def share_caches(self, other: "CompactPolicy") -> "CompactPolicy":
        """Use ``other``'s candidate cache and parser: training's views of one policy (other answer
        scorers, sampling on) see the same observations, so they compute and parse them once."""
        self._cache, self._syntax = other._cache, other.syntax()
        return self

    # ---- candidate cache: the same (task, visible texts) state recurs across GRPO samples
    def clear_cache(self) -> None:
        """Forget every cached computation (candidates, span features, parses): timing runs start cold."""
        self._cache.clear()
        self._span_cache.clear()
        if self._syntax is not None:
            self._syntax.clear()

    def candidates(self, obs: Observation, info: ObsInfo | None = None) -> Candidates:
        key = (obs.question, tuple((c.title, c.text is not None, len(c.preview)) for c in obs.chunks))
        c = self._cache.get(key)
        if c is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            c = answer_candidates(info or self.analyse(obs), self.lexicon, self.qvocab, self.ctxvocab,
                                  self._span_cache, self.syntax())
            self._cache[key] = c
        return c

    @torch.no_grad()
    def answer_scores(self, cands: Sequence[Candidates]) -> list[np.ndarray]:
        idx, off = pack(cands)
        if not len(off):
            s = np.zeros(0, np.float32)
        elif self.rerank is None:
            s = self.answer_net(idx, off).numpy()
        else:
            s = self.rerank(self.answer_net(idx, off), pack_dense(cands)).numpy()
        out, k = [], 0
        for c in cands:
            out.append(s[k:k + len(c.texts)])
            k += len(c.texts)
        return out

    def features(self, observations: Sequence[Observation]):
        infos = [self.analyse(o) for o in observations]
        cands = [self.candidates(o, i) for o, i in zip(observations, infos)]
        scores = self.answer_scores(cands)
        rows = []
        for info, sc in zip(infos, scores):
            cf, g, valid = chunk_features(info, self.lexicon)
            rows.append((cf, np.concatenate([g, answer_confidence(sc)]).astype(np.float32), valid))
        return infos, cands, scores, rows

    def decide(self, observations: Sequence[Observation], rngs: Sequence[np.random.Generator]) -> list[Decision]:
        infos, cands, scores, rows = self.features(observations)
        cf, g, valid = stack_rows(rows)
        must_stop = torch.tensor([o.steps_left <= 1 or not r[2].any() for o, r in zip(observations, rows)])
        with torch.no_grad():
            logits = self.chunk_net(cf, g, valid)
            logits[must_stop, :-1] = float("-inf")
            probs = torch.softmax(logits, dim=1).numpy()
        out = []
        for k, (obs, rng) in enumerate(zip(observations, rngs)):
            n = len(obs.chunks)
            p = probs[k, list(range(n)) + [probs.shape[1] - 1]]
            choice = int(rng.choice(len(p), p=p / p.sum())) if self.sample else int(np.argmax(p))
            if choice < n:
                out.append(Decision(Action.open(choice), rows[k][0], rows[k][1], rows[k][2], choice))
                continue
            sc = scores[k]
            if len(sc) == 0:
                out.append(Decision(Action.answer("yes"), rows[k][0], rows[k][1], rows[k][2], n))
                continue
            ai = best_answer(cands[k].texts, sc)
            text = cands[k].texts[ai].strip() or "yes"
            out.append(Decision(Action.answer(text), rows[k][0], rows[k][1], rows[k][2], n, cands[k], ai))
        return out

    def act_batch(self, observations: Sequence[Observation], rngs: Sequence[np.random.Generator]) -> list[Action]:
        return [d.action for d in self.decide(observations, rngs)]

    # ---- persistence
    def state(self) -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "hidden": self.chunk_net.chunk[0].out_features,
            "chunk_net": self.chunk_net.state_dict(),
            # float32: float16 flushes the many small hashed weights (< 6e-8) to zero and rounds the
            # rest, so a loaded policy could decide differently from the trained one; the file is small
            "answer_weight": self.answer_net.emb.weight.detach().squeeze(-1).to(torch.float32).clone(),
            "lexicon": sorted(self.lexicon),
            "qvocab": sorted(self.qvocab),
            "ctxvocab": sorted(self.ctxvocab),
            "use_heuristic": self.use_heuristic,
            "parser": self.parser,
            "rerank": (None if self.rerank is None
                       else torch.cat([self.rerank.a.detach()[None], self.rerank.w.detach()]).clone()),
        }

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """Write the checkpoint whole (temporary file, then rename); ``extra`` entries (a trainer's
        optimizer state) ride along and are ignored by :meth:`load`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save({**self.state(), **(extra or {})}, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def from_state(cls, st: dict, **kw) -> "CompactPolicy":
        if st.get("version") != CHECKPOINT_VERSION:
            raise UserError(f"compact checkpoint version {st.get('version')!r}, this code reads {CHECKPOINT_VERSION}: "
                            "its features changed since; train it again (tinker-explorer train grpo --policy compact)")
        chunk = ChunkScorer(hidden=int(st["hidden"]))
        chunk.load_state_dict(st["chunk_net"])
        w = st["answer_weight"].to(torch.float32)
        ans = AnswerScorer(n_buckets=w.shape[0])
        with torch.no_grad():
            ans.emb.weight.copy_(w[:, None])
        rr = st.get("rerank")  # absent in checkpoints from before the second stage
        rerank = None
        if rr is not None:
            if rr.shape[0] - 1 != N_RERANK:
                raise UserError(f"compact checkpoint with {rr.shape[0] - 1} second-stage features, this code has "
                                f"{N_RERANK}: train it again (tinker-explorer train grpo --policy compact)")
            rerank = Reranker(n_feats=rr.shape[0] - 1)
            with torch.no_grad():
                rerank.a.fill_(float(rr[0]))
                rerank.w.copy_(rr[1:].to(torch.float32))
        return cls(chunk, ans, frozenset(st["lexicon"]), frozenset(st["qvocab"]), frozenset(st["ctxvocab"]),
                   use_heuristic=bool(st.get("use_heuristic", False)), parser=st.get("parser"), rerank=rerank, **kw)

    @classmethod
    def load(cls, path: str | Path, **kw) -> "CompactPolicy":
        try:
            st = torch.load(Path(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise UserError(f"{path}: no such compact checkpoint") from None
        except Exception as e:  # not a torch file
            raise UserError(f"{path}: not a compact checkpoint ({type(e).__name__})") from None
        return cls.from_state(st, **kw)


def best_answer(texts: Sequence[str], scores: np.ndarray) -> int:
    """Index of the most probable answer *string*: one string is often reached by several candidates
    (a question entity, its span in a text, the heuristic's proposal), so their probabilities add."""
    p = np.exp(scores - scores.max())
    mass: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        key = norm_str(t)
        mass[key] = mass.get(key, 0.0) + float(p[i])
        if key not in first or scores[i] > scores[first[key]]:
            first[key] = i
    return first[max(mass, key=mass.get)]


def answer_confidence(scores: np.ndarray) -> np.ndarray:
    """[top probability, top-2 margin, normalised entropy] of the answer distribution: lets the
    STOP logit learn 'the answer is already clear, stop reading'."""
    if len(scores) == 0:
        return np.zeros(N_ANSWER_FEATS, dtype=np.float32)
    p = np.exp(scores - scores.max())
    p /= p.sum()
    top = np.sort(p)[::-1]
    ent = float(-(p * np.log(p + 1e-12)).sum() / math.log(len(p) + 1))
    return np.array([top[0], top[0] - (top[1] if len(top) > 1 else 0.0), ent], dtype=np.float32)


def stack_rows(rows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad per-observation (cf, g, valid) rows to one batch (pools may differ in size)."""
    n = max(r[0].shape[0] for r in rows)
    b = len(rows)
    cf = np.zeros((b, n, N_CHUNK_FEATS), np.float32)
    valid = np.zeros((b, n), bool)
    for k, (c, _, v) in enumerate(rows):
        cf[k, :c.shape[0]] = c
        valid[k, :v.shape[0]] = v
    g = np.stack([r[1] for r in rows])
    return torch.from_numpy(cf), torch.from_numpy(g), torch.from_numpy(valid)


def new_policy(lexicon: frozenset[str], qvocab: frozenset[str], ctxvocab: frozenset[str] = frozenset(),
               hidden: int = 32, seed: int = 0, use_heuristic: bool = True, parser: str | None = None) -> CompactPolicy:
    torch.manual_seed(seed)
    return CompactPolicy(ChunkScorer(hidden), AnswerScorer(), lexicon, qvocab, ctxvocab,
                         use_heuristic=use_heuristic, parser=parser)
