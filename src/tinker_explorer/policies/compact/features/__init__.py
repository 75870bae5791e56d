"""Features for the compact policy, computed from an :class:`Observation` only (never gold).

Two kinds:
- *chunk features*: a small dense vector per chunk is its title named in the question? is it named in text already opened, i.e. a bridge entity? how long is it? ... plus a global vector
  for the STOP decision. Dense and tiny, so the open/stop scorer is a small MLP.
- *answer candidates*: every plausible answer string the observation offers spans of opened text and of previews, yes/no, the entities the question names with hashed sparse features span words, shape, context words, where it comes from, comparison facts, scored by a linear model.

Why hand features rather than an encoder: the decisions in ExplorerEnv hinge on string facts
(title mentions, dates, nationality words) that are cheap to compute exactly and hard for a tiny
encoder to learn from 1,349 tasks; the *weights* on them are learned, never set by hand.

Modules: ``text`` (normalisation, hashing, dates), ``observation`` (one parse of an observation),
``chunks`` (open/stop features), ``spans`` and ``candidates`` (answer candidates), ``rerank``
(second-stage features), ``vocab`` (vocabularies learned from training tasks).
"""

from tinker_explorer.policies.compact.features.candidates import Candidates, answer_candidates, question_direction
from tinker_explorer.policies.compact.features.chunks import N_CHUNK_FEATS, N_GLOBAL_FEATS, chunk_features
from tinker_explorer.policies.compact.features.observation import (
    CUES, ObsInfo, analyse, heuristic_proposals, question_cues)
from tinker_explorer.policies.compact.features.rerank import (
    N_RERANK, PROPS, QKINDS, question_kinds, rerank_features, sibling_roles, span_props)
from tinker_explorer.policies.compact.features.spans import layout_features, span_candidates, span_features
from tinker_explorer.policies.compact.features.text import (
    CONNECTORS, MAX_SPAN_TOKENS, MONTHS, N_BUCKETS, STOPWORDS, date_spans, first_paren, norm_str, norm_words,
    parse_dates, preview_head, rel_stem, stable_hash, strip_title)
from tinker_explorer.policies.compact.features.vocab import build_ctxvocab, build_lexicon, build_qvocab

__all__ = ["CONNECTORS", "CUES", "MAX_SPAN_TOKENS", "MONTHS", "N_BUCKETS", "N_CHUNK_FEATS", "N_GLOBAL_FEATS",
           "N_RERANK", "PROPS", "QKINDS", "STOPWORDS", "Candidates", "ObsInfo", "analyse", "answer_candidates",
           "build_ctxvocab", "build_lexicon", "build_qvocab", "chunk_features", "date_spans", "first_paren",
           "heuristic_proposals", "layout_features", "norm_str", "norm_words", "parse_dates", "preview_head",
           "question_cues", "question_direction", "question_kinds", "rel_stem", "rerank_features",
           "sibling_roles", "span_candidates", "span_features", "span_props", "stable_hash", "strip_title"]
