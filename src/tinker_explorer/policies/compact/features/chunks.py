"""Open/stop features: a small dense vector per chunk (is its title named in the question? is it
named in text already opened, i.e. a bridge entity? how long is it? ...) plus a global vector
for the STOP decision."""

from __future__ import annotations

import math

import numpy as np

from tinker_explorer.policies.compact.features.observation import CUES, ObsInfo, question_cues
from tinker_explorer.policies.compact.features.text import STOPWORDS, WORD_RE, norm_words, parse_dates

N_CHUNK_FEATS = 14
N_GLOBAL_FEATS = 11 + len(CUES)


def chunk_features(info: ObsInfo, lexicon: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (per-chunk features [n, N_CHUNK_FEATS], global features [N_GLOBAL_FEATS],
    valid mask [n] = unopened and affordable)."""
    n = len(info.titles)
    qset = {w for w in info.qwords if w not in STOPWORDS}
    qc = set(info.qchunks)
    opened_text_words = set(" ".join(info.text_norm).split())
    cf = np.zeros((n, N_CHUNK_FEATS), dtype=np.float32)
    valid = np.zeros(n, dtype=bool)
    bridge_unopened = 0
    bridge_prev_year = 0
    for i in range(n):
        tw = [w for w in info.tnorm[i].split() if w not in STOPWORDS]
        hw = [w for w in norm_words(info.heads[i]) if w not in STOPWORDS]
        ms = info.mentions[i]
        in_q = i in qc
        ment_q = any(j in qc for j in ms)
        has_year = bool(parse_dates(info.heads[i], 1))
        cf[i] = (
            float(in_q),
            sum(w in qset for w in tw) / max(1, len(tw)),
            sum(w in qset for w in hw) / max(1, len(hw)),
            float(bool(ms)),
            float(ment_q),
            min(len(ms), 3) / 3,
            math.log1p(info.n_tokens[i]) / 6,
            min(2.0, info.n_tokens[i] / max(1, info.budget_left)),
            float(has_year),
            float(any(w in lexicon for w in WORD_RE.findall(info.heads[i]))),
            i / 10,
            sum(w in opened_text_words for w in tw) / max(1, len(tw)),
            float(info.opened[i]),
            float(info.heur_open == i),
        )
        valid[i] = (not info.opened[i]) and info.n_tokens[i] <= info.budget_left
        if ms and not info.opened[i] and not in_q:
            bridge_unopened += 1
            bridge_prev_year += has_year
    n_open = sum(info.opened)
    g = np.concatenate([np.array([
        n_open / 5,
        len(info.qchunks) / 3,
        sum(not info.opened[i] for i in info.qchunks) / 3,
        bridge_unopened / 3,
        float(bridge_unopened > 0 and bridge_prev_year == bridge_unopened),
        info.budget_left / max(1, info.budget),
        math.log1p(info.budget_left) / 8,
        info.steps_left / 10,
        float(valid.any()),
        len(info.qents) / 3,
        float(info.heur_open < 0 and info.heur_answer is not None),
    ], dtype=np.float32), question_cues(info.qnorm)])
    return cf, g, valid
