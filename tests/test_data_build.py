import json

import pytest

from tinker_explorer.cli import main
from tinker_explorer.data.schema import SCHEMA_VERSION, TaskFileError, load_tasks, save_tasks
from tinker_explorer.data.tokens import count_tokens, first_tokens


def _record(i: int) -> dict:
    """A made-up record in the official 2WikiMultiHopQA schema."""
    return {
        "_id": f"fake{i}", "type": "compositional",
        "question": f"Who directed film Alpha{i}?",
        "context": [[f"Alpha{i}", [f"Alpha{i} is a film.", " It was directed by Bo Rank."]],
                    ["Bo Rank", ["Bo Rank (born 1900) was a director."]],
                    ["Other", ["Unrelated text here."]]],
        "supporting_facts": [[f"Alpha{i}", 1]],
        "evidences": [[f"Alpha{i}", "director", "Bo Rank"]],
        "answer": "Bo Rank",
    }


@pytest.fixture
def wiki_dir(tmp_path):
    d = tmp_path / "2wiki"
    d.mkdir()
    (d / "train.jsonl").write_text("".join(json.dumps(_record(i)) + "\n" for i in range(5)))
    (d / "dev.json").write_text(json.dumps([_record(100 + i) for i in range(3)]))  # a JSON array works too
    return d


def test_token_unit():
    assert count_tokens("Missoula, Montana (1946)") == 6
    assert first_tokens("one two, three", 2) == "one two"
    assert first_tokens("short", 10) == "short"


def test_build_2wiki_counts_gold_and_idempotence(wiki_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["data", "build", "--source", "2wiki", "--input", str(wiki_dir), "--out", str(out),
            "--n-train", "3", "--n-val", "10"]
    assert main(args) == 0
    assert "asked for 10 tasks, 3 exist" in capsys.readouterr().err
    train, val = load_tasks(out / "train.jsonl"), load_tasks(out / "val.jsonl")
    assert len(train) == 3 and len(val) == 3
    t = val[0]
    assert t.gold_ids == [0] and t.chunks[0].text == "Alpha100 is a film. It was directed by Bo Rank."
    assert t.chunks[0].preview.startswith("Alpha100: Alpha100 is a film")
    assert t.meta["evidences"][0][1] == "director"
    first = {f: (out / f).read_bytes() for f in ("train.jsonl", "val.jsonl", "manifest.json")}
    assert main(args) == 0
    assert first == {f: (out / f).read_bytes() for f in first}
    m = json.loads(first["manifest.json"])
    assert m["files"]["train.jsonl"]["count"] == 3 and len(m["files"]["val.jsonl"]["sha256"]) == 64


def test_missing_split_gives_empty_file_and_warning(wiki_dir, tmp_path, capsys):
    (wiki_dir / "dev.json").unlink()
    assert main(["data", "build", "--input", str(wiki_dir), "--out", str(tmp_path / "o")]) == 0
    assert "no dev split" in capsys.readouterr().err
    assert load_tasks(tmp_path / "o" / "val.jsonl") == []


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"_id": "x"}\n')
    assert main(["data", "build", "--input", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "lacks field" in capsys.readouterr().err
    bad.write_text("{not json\n")
    assert main(["data", "build", "--input", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"{bad}:1" in capsys.readouterr().err
    assert main(["data", "build", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2


def test_task_file_errors_name_file_and_line(tmp_path, task):
    p = tmp_path / "t.jsonl"
    save_tasks([task, task], p)
    assert len(load_tasks(p)) == 2
    lines = p.read_text().splitlines()
    d = json.loads(lines[1]); d["schema"] = SCHEMA_VERSION + 1
    p.write_text(lines[0] + "\n" + json.dumps(d) + "\n")
    with pytest.raises(TaskFileError, match=r"t.jsonl:2: task schema version"):
        load_tasks(p)
    p.write_text(lines[0] + "\n[1, 2]\n")
    with pytest.raises(TaskFileError, match=r"t.jsonl:2"):
        load_tasks(p)
    with pytest.raises(TaskFileError, match="no such task file"):
        load_tasks(tmp_path / "missing.jsonl")


def test_default_counts_keep_every_task_without_a_warning(wiki_dir, tmp_path, capsys):
    out = tmp_path / "all"
    assert main(["data", "build", "--source", "2wiki", "--input", str(wiki_dir), "--out", str(out)]) == 0
    assert "asked for" not in capsys.readouterr().err  # the user asked for no count
    assert len(load_tasks(out / "train.jsonl")) == 5 and len(load_tasks(out / "val.jsonl")) == 3
    assert json.loads((out / "manifest.json").read_text())["notes"] == []


def test_2wiki_records_under_another_source_name_the_dataset(wiki_dir, tmp_path, capsys):
    assert main(["data", "build", "--source", "hotpotqa", "--input", str(wiki_dir), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "look like 2WikiMultiHopQA" in err and "--source 2wiki" in err
    assert not (tmp_path / "o" / "train.jsonl").exists()
