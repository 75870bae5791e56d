"""Answer spans of one text and their static hashed features (shape, context words, layout
among the text's dates, syntax): everything that does not change while an episode goes on."""

from __future__ import annotations

import re

import numpy as np

from tinker_explorer.data.tokens import TOKEN_RE
from tinker_explorer.policies.compact.features.rerank import span_props
from tinker_explorer.policies.compact.features.text import (
    CONNECTORS, MAX_SPAN_TOKENS, MONTHS, STOPWORDS, date_spans, first_paren, norm_words, rel_stem)

_ABBREV = frozenset("mr mrs ms dr st jr sr prof gen col lt sgt no vs etc co inc ltd mt ft".split())


def _tok_class(tok: str) -> str:
    if tok.isdigit():
        return "y" if len(tok) in (3, 4) else "d"
    if tok.lower() in MONTHS:
        return "m"
    if not tok[0].isalnum() and tok[0] != "_":
        return tok if tok in ",-'." else "p"
    if tok[0].isupper():
        return "C"
    return "c"


def _sentence_ids(toks: list[str]) -> list[int]:
    sid, out = 0, []
    for k, t in enumerate(toks):
        out.append(sid)
        if t in ".!?" and k > 0:
            prev = toks[k - 1]
            if not ((len(prev) == 1 and prev.isupper()) or prev.lower() in _ABBREV):
                sid += 1
    return out


def _is_cap(t: str) -> bool:
    return t[0].isupper() or t[0].isdigit()


def span_candidates(text: str) -> list[tuple[int, int, list[str], list[tuple[int, int]], int]]:
    """Plausible answer spans of one text: (start tok, end tok excl., tokens, offsets, sentence id).

    Entity-like spans (start and end capitalised or a number, inner tokens capitalised, numbers or
    connectors like 'of', ',', '-') and short lower-case phrases (1-2 words)."""
    ms = list(TOKEN_RE.finditer(text))
    toks = [m.group(0) for m in ms]
    offs = [(m.start(), m.end()) for m in ms]
    sids = _sentence_ids(toks)
    out = []
    n = len(toks)
    for i in range(n):
        t0 = toks[i]
        if not (t0[0].isalnum()):
            continue
        if _is_cap(t0):
            for j in range(i, min(n, i + MAX_SPAN_TOKENS)):
                tj = toks[j]
                if sids[j] != sids[i] and not (tj == "." ):
                    break
                if j > i and not (_is_cap(tj) or tj.lower() in CONNECTORS):
                    break
                if tj == "." and not (len(toks[j - 1]) == 1 and toks[j - 1].isupper()):
                    break
                if _is_cap(tj):
                    out.append((i, j + 1, toks[i:j + 1], offs, sids[i]))
        elif t0.lower() not in STOPWORDS:
            words = 0
            for j in range(i, min(n, i + 5)):
                tj = toks[j]
                if tj == "-":
                    continue
                if not tj[0].isalpha() or _is_cap(tj) or sids[j] != sids[i]:
                    break
                words += 1
                if words > 2:
                    break
                if tj.lower() not in STOPWORDS:
                    out.append((i, j + 1, toks[i:j + 1], offs, sids[i]))
    return out


def layout_features(a: int, b: int, dates: list[tuple[int, int]], paren: tuple[int, int]) -> list[str]:
    """Where a span (characters a..b) sits among the text's dates: which date it is (dord: the
    first date of a biography is usually the birth, the second the death) or which date comes just
    before it (adate: '1751 in Moscow'), and whether it is inside the lead parenthesis."""
    dord = next((k for k, (ds, de) in enumerate(dates) if ds < b and a < de), None)
    adate = next((k for k in range(len(dates) - 1, -1, -1) if dates[k][1] <= a), None)
    if adate is not None and a - dates[adate][1] > 25:
        adate = None
    inpar = paren[0] < a and b <= paren[1]
    return [f"dord={'-' if dord is None else min(dord, 2)}", f"adate={'-' if adate is None else min(adate, 2)}",
            f"par={inpar}"]


def span_features(text, src, role, tnorm, title_set, qset, qrel, lexicon, lexicon_lower, ctxvocab, cv,
                   static_hashes, syn=None) -> list[tuple[str, list[int], np.ndarray]]:
    """(surface, hashed features, rerank properties) of every span of one chunk's visible text:
    everything but the features that depend on the heuristic's current answer. ``syn``: the
    text's parse (syntax.py)."""
    out = []
    dates = date_spans(text)
    paren = first_paren(text)
    for (s, e, toks, offs, sid) in span_candidates(text):
        surf = text[offs[s][0]:offs[e - 1][1]]
        lay = layout_features(offs[s][0], offs[e - 1][1], dates, paren)
        low = [t.lower() for t in toks]
        shape = re.sub(r"(.)\1+", r"\1+", "".join(_tok_class(t) for t in toks))
        nw = [w for w in low if w[0].isalnum()]
        inq = sum(w in qset for w in nw) / max(1, len(nw))
        before = text[max(0, offs[s][0] - 60):offs[s][0]]
        after = text[offs[e - 1][1]:offs[e - 1][1] + 40]
        lt, rt = TOKEN_RE.findall(before)[-2:], TOKEN_RE.findall(after)[:2]
        l1 = cv(lt[-1].lower()) if lt else "<s>"
        l2 = " ".join(cv(w.lower()) for w in lt) or "<s>"
        r1 = cv(rt[0].lower()) if rt else "</s>"
        r2 = " ".join(cv(w.lower()) for w in rt) or "</s>"
        span_norm = " ".join(nw)
        lwin = [w for w in norm_words(before)[-5:] if w in ctxvocab and w not in STOPWORDS]
        rwin = [w for w in norm_words(after)[:3] if w in ctxvocab and w not in STOPWORDS]
        win = [f"lw={w}" for w in lwin] + [f"rw={w}" for w in rwin]
        wide = norm_words(text[max(0, offs[s][0] - 90):offs[s][0]])[-10:]
        dist = next((d for d, w in enumerate(reversed(wide)) if rel_stem(w) in qrel), None)
        rmatch = sum(rel_stem(w) in qrel for w in norm_words(after)[:5])
        qm = f"qrel={'none' if dist is None else min(dist // 2, 4)}{min(rmatch, 1)}"
        win.append(qm)
        any_title = span_norm in title_set
        base = ["k=span", f"src={src}", f"role={role}", f"shape={shape}", f"len={min(len(nw), 6)}",
                f"sid={min(sid, 3)}", f"inq={round(inq * 2)}", f"istitle={span_norm == tnorm}",
                f"l1={l1}", f"r1={r1}",
                f"lex={any(t in lexicon for t in toks)}", f"anytitle={any_title}"] + win
        conj = ["k=span", f"shape={shape}", f"role={role}", f"src={src}", f"l1={l1}", f"l2={l2}",
                f"r1={r1}", f"r2={r2}", f"inq={round(inq * 2)}", f"sid={min(sid, 3)}",
                f"rs={role}{src}{min(sid, 2)}", f"lex={any(t in lexicon for t in toks)}",
                f"istitle={span_norm == tnorm}", f"anytitle={any_title}"]
        if span_norm in lexicon_lower:  # nationality/country words: a learned prior per word
            base.append(f"w={span_norm}")
        base += lay
        conj += [f"{f}|{role}" for f in lay]
        sx = syn.span_features(offs[s][0], offs[e - 1][1]) if syn is not None else []
        base += sx
        conj += sx
        out.append((surf, static_hashes(base, conj, [f"shape={shape}", f"l1={l1}", f"r1={r1}",
                                                     f"rs={role}{src}{min(sid, 2)}",
                                                     f"lex={any(t in lexicon for t in toks)}",
                                                     f"anytitle={any_title}"] + win + lay + sx),
                    span_props(sx, qrel)))
    return out
