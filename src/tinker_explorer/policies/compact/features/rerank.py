"""Second-stage (rerank) features: the question's answer kinds crossed with each candidate's
properties (entity type, governing relation, demonym siblings)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tinker_explorer.policies.compact.features.observation import CUES, ObsInfo, question_cues

# --------------------------------------------------------------------------- second-stage features
# Why a second stage: the linear scorer above learns one weight per hashed feature with plain SGD,
# which keeps rare features' weights small (good against memorising, bad for rare but reliable
# signals: "the question asks for a country and the text names both 'Hungary' and 'Hungarian'").
# The rerank features are few and dense (question kind x candidate property), so a second,
# separately regularised linear layer over [first-stage score, these] can give them their weight.
QKINDS = ("any", "nation", "place", "date", "person")
PROPS = ("parsed", "ner_place", "ner_person", "ner_norp", "ner_date", "ner_org",
         "gov_rel", "gov_other", "dem_sib", "base_sib")
N_RERANK = len(QKINDS) * len(PROPS)
_NER = {"GPE": "ner_place", "LOC": "ner_place", "FAC": "ner_place", "PERSON": "ner_person", "NORP": "ner_norp",
        "DATE": "ner_date", "ORG": "ner_org"}
# lemma of a governing word -> the relation stem (rel_stem) of the question words that ask for it
_GOV_REL = {"bear": "born", "die": "die", "kill": "die", "bury": "buried", "inter": "buried", "marry": "married",
            "wed": "married", "study": "studied", "educate": "studied", "graduate": "studied", "attend": "studied",
            "found": "founded", "establish": "founded", "direct": "directed", "compose": "composed",
            "perform": "performed", "sing": "performed", "produce": "produced", "win": "award", "award": "award",
            "receive": "award", "work": "work", "employ": "work"}
_DEMONYM_END = ("an", "ish", "ese", "ine", "ic", "ch", "i")
_PROP_IX = {p: k for k, p in enumerate(PROPS)}


def span_props(sx: list[str], qrel: set[str]) -> np.ndarray:
    """The candidate properties a span's syntax features give (entity type, governing relation)."""
    pr = np.zeros(len(PROPS), np.float32)
    if not sx or sx == ["syn=none"]:
        return pr
    pr[_PROP_IX["parsed"]] = 1.0
    f = dict(x.split("=", 1) for x in sx)
    if f.get("ner") in _NER:
        pr[_PROP_IX[_NER[f["ner"]]]] = 1.0
    rel = _GOV_REL.get(f.get("gov", ""))
    if rel is not None:
        pr[_PROP_IX["gov_rel" if rel in qrel else "gov_other"]] = 1.0
    return pr


def question_kinds(qnorm: str) -> np.ndarray:
    """Which answer kind the question asks for (several may hold; 'any' always does)."""
    cue = dict(zip((n for n, _ in CUES), question_cues(qnorm)))
    nation = cue["nation"] > 0
    return np.array([1.0, nation, cue["where"] > 0 and not nation, cue["when"] > 0, cue["who"] > 0], np.float32)


def sibling_roles(texts: Sequence[str], where: Sequence[int]) -> list[str | None]:
    """For one-word span candidates that share their first four letters with another one
    ("Hungarian" / "Hungary", "Swedish" / "Sweden"): 'dem_sib' for the demonym-like form (its
    ending), 'base_sib' for the other; None when there is no such sibling."""
    key = [t[:4].lower() if len(t) >= 4 and t.isalpha() and t[0].isupper() and w >= 0 else None
           for t, w in zip(texts, where)]
    forms: dict[str, set[str]] = {}
    for t, k in zip(texts, key):
        if k:
            forms.setdefault(k, set()).add(t.lower())
    dem = lambda w: w.endswith(_DEMONYM_END)
    out: list[str | None] = []
    for t, k in zip(texts, key):
        me = t.lower()
        others = forms[k] - {me} if k else set()
        if not others:
            out.append(None)
        elif dem(me) and any(not dem(o) or len(o) < len(me) for o in others):
            out.append("dem_sib")
        elif any(dem(o) and (not dem(me) or len(me) < len(o)) for o in others):
            out.append("base_sib")
        else:
            out.append(None)
    return out


def rerank_features(info: ObsInfo, texts: Sequence[str], where: Sequence[int],
                    props: Sequence[np.ndarray | None]) -> np.ndarray:
    """[candidates, N_RERANK]: the outer product of the question's kinds and each candidate's properties."""
    pr = np.zeros((len(texts), len(PROPS)), np.float32)
    for k, p in enumerate(props):
        if p is not None:
            pr[k] = p
    for k, r in enumerate(sibling_roles(texts, where)):
        if r:
            pr[k, _PROP_IX[r]] = 1.0
    qk = question_kinds(info.qnorm)
    return (qk[None, :, None] * pr[:, None, :]).reshape(len(texts), N_RERANK)
