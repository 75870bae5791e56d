from hypothesis import given, settings, strategies as st

from tinker_explorer.env import ActionKind, parse_action


def test_plain_forms():
    assert parse_action("OPEN 3").chunk == 3
    assert parse_action("open(12)").chunk == 12
    assert parse_action("  Open chunk [4] please").chunk == 4
    a = parse_action("ANSWER: Missoula, Montana")
    assert a.kind is ActionKind.ANSWER and a.text == "Missoula, Montana"
    s = parse_action("SUMMARIZE: Lynch directed it; born in Missoula.")
    assert s.kind is ActionKind.SUMMARIZE and s.text.startswith("Lynch")


def test_markdown_prose_and_thinking():
    assert parse_action("**OPEN** #7").chunk == 7
    assert parse_action("I should read the director's page first.\n\nOPEN 2").chunk == 2
    a = parse_action("<think>maybe OPEN 5? no.</think>\n**Answer:** \"Nice\".")
    assert a.kind is ActionKind.ANSWER and a.text == "Nice"
    a = parse_action("Final answer: 12 June 1516\nThanks")
    assert a.kind is ActionKind.ANSWER and a.text == "12 June 1516"


def test_malformed_inputs_are_parse_errors_with_reasons():
    for bad in ["", "   ", None, "OPEN", "open the door", "ANSWER:", "SUMMARIZE:", "OPEN -2", "hello world",
                "ANSWER: " + "x" * 500]:
        a = parse_action(bad)
        assert a.kind is ActionKind.PARSE_ERROR, bad
        assert a.text  # a reason


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_hostile_text(s):
    a = parse_action(s)
    assert a.kind in set(ActionKind)
    if a.kind is ActionKind.OPEN:
        assert a.chunk >= 0
    if a.kind is ActionKind.ANSWER:
        assert a.text and len(a.text) <= 200


def test_canonical_text_round_trips():
    for t in ["OPEN 3", "ANSWER: Nice", "SUMMARIZE: a; b"]:
        assert parse_action(t).to_text() == t
