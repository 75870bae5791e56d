"""The heuristic policy: replays the question's plan on the observation at every step."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tinker_explorer.env.types import Action, ChunkView, Observation
from tinker_explorer.policies.base import SimplePolicy
from tinker_explorer.policies.heuristic.attributes import EXTRACTORS, birth_date, death_date, fallback_value
from tinker_explorer.policies.heuristic.comparison import answer_choose, answer_same
from tinker_explorer.policies.heuristic.question import Plan, parse_question
from tinker_explorer.policies.heuristic.relations import related_entity
from tinker_explorer.policies.heuristic.text import NAME_RE, nationality_mentions, norm, parse_date
from tinker_explorer.policies.heuristic.titles import question_chunks, raw_variants, span_chunk, title_variants

_STOP = set("the a an of in on at to is was were are who what which when where why how did do does film song "
            "director composer performer father mother husband wife born die died from same country both "
            "and or s".split())


@dataclass
class _Need:
    """Result of replaying the plan for one entity: a chunk to open, or a value (maybe None)."""

    open: int | None = None
    value: str | None = None
    text: str = ""  # the text the value came from (for fallbacks)
    stuck: bool = False  # a chunk on the path was not found (worth opening a best-guess chunk)


class HeuristicPolicy(SimplePolicy):
    """Rule-based plan-and-extract reader (see the package docstring)."""

    name = "heuristic"

    def __init__(self, *, max_opens: int = 6, fallback_opens: int = 1):
        self.max_opens = max_opens  # never open more than this many chunks
        self.fallback_opens = fallback_opens  # best-overlap chunks to try when the plan finds no chunk

    # -- entry point -------------------------------------------------------------------
    def act(self, obs: Observation, rng: np.random.Generator | None = None) -> Action:
        plan, starts, needs = self._read(obs)
        nxt = self._next_open(obs, starts, needs)
        return Action.open(nxt) if nxt is not None else Action.answer(self._answer(plan, starts, needs, obs)[0])

    def propose(self, obs: Observation) -> tuple[int | None, str, str]:
        """(the chunk ``act`` would open now, or None; the answer it would give if it had to answer
        now; which rule gave that answer), from one reading of ``obs``: the compact policy's features."""
        plan, starts, needs = self._read(obs)
        return (self._next_open(obs, starts, needs),) + self._answer(plan, starts, needs, obs)

    def _read(self, obs: Observation) -> tuple[Plan, list[int], list[_Need]]:
        masked = [v for _, _, cid in question_chunks(obs.question, obs.chunks)
                  for v in raw_variants(obs.chunks[cid].title)]
        plan = parse_question(obs.question, masked)
        starts = self._start_chunks(plan, obs)
        return plan, starts, [self._replay(plan, sid, obs) for sid in starts]

    def _next_open(self, obs: Observation, starts: list[int], needs: list[_Need]) -> int | None:
        if obs.steps_left <= 1 or len(obs.opened_ids) >= self.max_opens:
            return None
        for nd in needs:
            if nd.open is not None and self._affordable(obs, nd.open):
                return nd.open
        if not starts or any(nd.stuck for nd in needs):
            return self._fallback_chunk(obs)
        return None

    # -- planning ------------------------------------------------------------------------
    def _start_chunks(self, plan: Plan, obs: Observation) -> list[int]:
        chunks = obs.chunks
        if plan.mode == "choose" and len(plan.spans) == 2:
            ids: list[int] = []
            for span in plan.spans:
                cid = span_chunk(span, chunks, set(ids))
                if cid is not None:
                    ids.append(cid)
            if len(ids) == 2:
                return ids
        hits = [cid for _, _, cid in question_chunks(obs.question, chunks)]
        want = 1 if plan.mode == "extract" else 2
        if plan.mode == "extract" and hits:
            # the question's subject is the longest title it mentions
            best = min(question_chunks(obs.question, chunks), key=lambda h: h[1])
            return [best[2]]
        if len(hits) >= want:
            return hits[:want]
        if not hits:
            best = self._overlap_ranked(obs)
            return best[:want]
        return hits

    def _overlap_ranked(self, obs: Observation) -> list[int]:
        qw = set(norm(obs.question).split()) - _STOP
        scored = []
        for c in obs.chunks:
            tw = set(norm(c.title).split()) - _STOP
            pw = set(norm(c.preview).split()) - _STOP
            scored.append((-(2 * len(qw & tw) + 0.5 * len(qw & pw)), c.id))
        return [cid for _, cid in sorted(scored)]

    def _affordable(self, obs: Observation, cid: int) -> bool:
        c = obs.chunks[cid]
        return c.opened or c.n_tokens <= obs.budget_left

    def _fallback_chunk(self, obs: Observation) -> int | None:
        tried = sum(1 for c in obs.chunks if c.opened)
        if tried >= self.fallback_opens + 2:
            return None
        for cid in self._overlap_ranked(obs):
            c = obs.chunks[cid]
            if not c.opened and c.n_tokens <= obs.budget_left:
                return cid
        return None

    def _replay(self, plan: Plan, start: int, obs: Observation) -> _Need:
        chunks = obs.chunks
        cur = chunks[start]
        if not cur.opened:
            return _Need(open=cur.id)
        text = cur.text or ""
        visited = {cur.id}
        for hop in plan.hops:
            name, nid = related_entity(text, hop, chunks, cur.id, cur.title, exclude=visited)
            if nid is None or nid in visited:
                return _Need(value=None, text=text, stuck=True)
            nxt = chunks[nid]
            if not nxt.opened:
                return _Need(open=nid)
            cur, text = nxt, nxt.text or ""
            visited.add(nid)
        return _Need(value=self._extract(plan.attr, text, cur, chunks, visited), text=text)

    def _extract(self, attr: str, text: str, cur: ChunkView, chunks, visited: set[int]) -> str | None:
        if attr.startswith("rel:"):
            name, cid = related_entity(text, attr[4:], chunks, cur.id, cur.title, exclude=visited,
                                       prefer_pooled=False)
            if cid is not None and name is not None and norm(name) in title_variants(chunks[cid].title):
                return re.sub(r"\s*\([^)]*\)\s*$", "", chunks[cid].title)
            return name
        if attr == "lifespan":
            b, d = birth_date(text), death_date(text)
            pb, pd = (parse_date(b) if b else None), (parse_date(d) if d else None)
            if pb and pd:
                return str((pd[0] - pb[0]) * 372 + (pd[1] - pb[1]) * 31 + (pd[2] - pb[2]))
            return None
        fn = EXTRACTORS.get(attr)
        if fn is None:
            return None
        if attr == "start_date":  # "Dilan 1991 is a 2019 film": the title's own year is no date
            for v in raw_variants(cur.title):
                text = text.replace(v, " ")
        return fn(text) or fallback_value(attr, text)

    # -- answering -----------------------------------------------------------------------
    def _answer(self, plan: Plan, starts: list[int], needs: list[_Need], obs: Observation) -> tuple[str, str]:
        """The answer and which rule gave it ("value": read off the plan's last paragraph, by the
        attribute's extractor or its catch-all pattern; "fallback", "name", ...: a guess when the
        plan found no value)."""
        if plan.mode == "same":
            return answer_same(plan, [nd.value for nd in needs], [nd.text for nd in needs])
        if plan.mode == "choose":
            options = list(plan.spans) if len(plan.spans) == 2 else [obs.chunks[s].title for s in starts]
            return answer_choose(plan, options, [nd.value for nd in needs])
        for nd in needs:
            if nd.value:
                return nd.value, "value"
        for nd in needs:
            if nd.text:
                v = fallback_value(plan.attr, nd.text) if not plan.attr.startswith("rel:") else None
                if v:
                    return v, "fallback"
        texts = [c.text for c in obs.chunks if c.text]
        for t in texts:
            v = fallback_value(plan.attr, t)
            if v:
                return v, "fallback_any"
        if not plan.attr.startswith("rel:") and plan.attr != "any":
            for t in texts:
                f = nationality_mentions(t)
                if f:
                    return f[0][0], "nationality"
        names = NAME_RE.findall(" ".join(texts)) if texts else []
        if names:
            return names[0], "name"
        return (obs.chunks[starts[0]].title if starts else "unknown"), "title"
