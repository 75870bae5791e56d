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


def test_open_with_thousands_of_digits_is_a_parse_error_not_an_exception():
    # int() of more than 4300 digits raises ValueError (Python's int-string limit)
    for text in ("OPEN " + "9" * 5000, "OPEN " + "0" * 5000 + "3", "open(-" + "1" * 5000 + ")",
                 "OPEN " + "7" * 10):
        assert parse_action(text).kind is ActionKind.PARSE_ERROR
    assert parse_action("OPEN 000000003").chunk == 3


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["OPEN ", "open(", "**OPEN** #", "Open chunk ["]), st.integers(0, 6000),
       st.text(alphabet="0123456789", min_size=1, max_size=20), st.text(max_size=20))
def test_never_raises_on_long_numbers(prefix, n_digits, head, tail):
    a = parse_action(prefix + head + "1" * n_digits + tail)
    assert a.kind in (ActionKind.OPEN, ActionKind.PARSE_ERROR, ActionKind.ANSWER, ActionKind.SUMMARIZE)
    if a.kind is ActionKind.OPEN:
        assert 0 <= a.chunk < 10 ** 9


def test_a_task_whose_n_tokens_disagrees_with_its_text_is_refused_on_load(tmp_path):
    import json

    import pytest

    from conftest import make_task
    from tinker_explorer.data.schema import TaskFileError, load_tasks, save_tasks
    path = tmp_path / "tasks.jsonl"
    save_tasks([make_task("a"), make_task("b")], path)
    assert len(load_tasks(path)) == 2
    lines = path.read_text().splitlines()
    d = json.loads(lines[1])
    d["chunks"][2]["n_tokens"] = 1  # a cheap chunk that is really 12 tokens long
    path.write_text(lines[0] + "\n" + json.dumps(d) + "\n")
    with pytest.raises(TaskFileError, match=r"tasks.jsonl:2: .*chunk 2 says n_tokens 1"):
        load_tasks(path)
