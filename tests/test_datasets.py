"""HotpotQA / MuSiQue builders and pool padding, on tiny made-up fixtures in each official schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinker_explorer.cli import main
from tinker_explorer.data.official import split_of
from tinker_explorer.data.pools import pad_pools
from tinker_explorer.data.schema import Chunk, Task, load_tasks
from tinker_explorer.env.explorer import gold_answers
from tinker_explorer.data.answers import best_f1


# ---- fixtures (invented text, official layouts) ---------------------------------------------------

def hotpot_record(k: int, typ: str = "bridge") -> dict:
    titles = [f"Zorvik {k}", f"Plenta {k}", f"Quarn {k}", f"Miltow {k}"]
    context = [[t, [f"{t} is an invented place number {j}.", f" It has {j + 3} bridges."]]
               for j, t in enumerate(titles)]
    return {"_id": f"hp{k:03d}", "type": typ, "level": ["easy", "medium", "hard"][k % 3],
            "question": f"How many bridges does the town next to Zorvik {k} have?", "answer": str(k + 4),
            "context": context, "supporting_facts": [[titles[0], 0], [titles[2], 1]]}


def musique_record(k: int, hops: int = 2, prefix: str | None = None, answerable: bool = True,
                   aliases: tuple[str, ...] = ()) -> dict:
    paras = [{"idx": j, "title": f"Fenwold {k}-{j}", "paragraph_text": f"Fenwold {k}-{j} was founded in {1800 + j}.",
              "is_supporting": j < hops} for j in range(20)]
    decomp = [{"id": 100 * k + h, "question": f"step {h}", "answer": f"a{h}", "paragraph_support_idx": h}
              for h in range(hops)]
    rid = f"{prefix or f'{hops}hop'}__{k}_{k + 1}" if prefix != "" else f"q{k}"
    return {"id": rid, "question": f"When was the sister town of Fenwold {k} founded?", "answer": f"{1800 + k}",
            "answer_aliases": list(aliases), "answerable": answerable, "paragraphs": paras,
            "question_decomposition": decomp}


def write_json(path: Path, recs: list[dict]) -> Path:
    path.write_text(json.dumps(recs), encoding="utf-8")
    return path


def write_jsonl(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def build(*args: str) -> int:
    return main(["data", "build", *args])


@pytest.fixture
def hotpot_dir(tmp_path: Path) -> Path:
    d = tmp_path / "hotpot"
    d.mkdir()
    write_json(d / "hotpot_train_v1.1.json", [hotpot_record(0), hotpot_record(1, "comparison"), hotpot_record(2)])
    write_json(d / "hotpot_dev_distractor_v1.json", [hotpot_record(10), hotpot_record(11, "comparison")])
    return d


# ---- HotpotQA ----------------------------------------------------------------------------------

def test_split_of_official_names():
    assert split_of(Path("hotpot_train_v1.1.json")) == "train"
    assert split_of(Path("hotpot_dev_distractor_v1.json")) == "dev"
    assert split_of(Path("musique_ans_v1.0_train.jsonl")) == "train"
    assert split_of(Path("dev.jsonl")) == "dev" and split_of(Path("train2.json")) == "train"
    assert split_of(Path("musique_ans_v1.0_test.jsonl")) is None
    assert split_of(Path("my_developers.json")) is None  # "dev" must be a word of its own when not a prefix


def test_hotpotqa_build(hotpot_dir: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert build("--source", "hotpotqa", "--input", str(hotpot_dir), "--out", str(out)) == 0
    train, val = load_tasks(out / "train.jsonl"), load_tasks(out / "val.jsonl")
    assert [t.id for t in train] == ["hp000", "hp001", "hp002"] and [t.id for t in val] == ["hp010", "hp011"]
    t = train[1]
    assert t.type == "comparison" and t.source == "hotpotqa" and t.meta["level"] == "medium"
    assert len(t.chunks) == 4 and t.gold_ids == [0, 2]
    assert t.chunks[0].text == "Zorvik 1 is an invented place number 0. It has 3 bridges."  # sentences re-joined
    assert t.meta["supporting_facts"] == [["Zorvik 1", 0], ["Quarn 1", 1]]
    assert [x.type for x in val] == ["bridge", "comparison"]

    out2 = tmp_path / "out2"
    assert build("--source", "hotpotqa", "--input", str(hotpot_dir), "--out", str(out2)) == 0
    for name in ("train.jsonl", "val.jsonl", "manifest.json"):
        assert (out / name).read_bytes() == (out2 / name).read_bytes()


def test_hotpotqa_hub_layout():
    from tinker_explorer.data.hotpotqa import record_to_task
    rec = hotpot_record(3)
    rec["context"] = {"title": [c[0] for c in rec["context"]], "sentences": [c[1] for c in rec["context"]]}
    rec["supporting_facts"] = {"title": [s[0] for s in rec["supporting_facts"]],
                               "sent_id": [s[1] for s in rec["supporting_facts"]]}
    assert record_to_task(rec).gold_ids == [0, 2]


def test_malformed_file_is_a_clear_error(hotpot_dir: Path, tmp_path: Path, capsys):
    bad = hotpot_dir / "hotpot_dev_distractor_v1.json"
    bad.write_text('[{"_id": "x", ', encoding="utf-8")
    assert build("--source", "hotpotqa", "--input", str(hotpot_dir), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not valid JSON" in err and "Traceback" not in err

    rec = hotpot_record(5)
    rec["context"] = "not a list of paragraphs"
    write_json(bad, [rec])
    assert build("--source", "hotpotqa", "--input", str(hotpot_dir), "--out", str(tmp_path / "o")) == 2
    assert str(bad) in capsys.readouterr().err


# ---- MuSiQue -----------------------------------------------------------------------------------

def test_musique_build_draws_disjoint_val_from_train(tmp_path: Path, capsys):
    d = tmp_path / "musique"
    d.mkdir()
    recs = [musique_record(0, 2, aliases=("eighteen hundred",)), musique_record(1, 3, prefix="3hop1"),
            musique_record(2, 4, prefix="4hop3"), musique_record(3, 3, prefix=""),  # type from decomposition
            musique_record(4, 2, answerable=False), musique_record(5, 2), musique_record(6, 2)]
    write_jsonl(d / "musique_ans_v1.0_train.jsonl", recs)
    out = tmp_path / "out"
    assert build("--source", "musique", "--input", str(d), "--out", str(out), "--n-val", "2", "--seed", "3") == 0
    err = capsys.readouterr().err
    assert "validation split of 2 tasks from train" in err and "skipped 1 unanswerable" in err
    train, val = load_tasks(out / "train.jsonl"), load_tasks(out / "val.jsonl")
    assert len(train) == 4 and len(val) == 2
    ids_tr, ids_val = {t.id for t in train}, {t.id for t in val}
    assert not ids_tr & ids_val
    answerable = {r["id"] for r in recs if r["answerable"]}
    assert ids_tr | ids_val == answerable
    manifest = json.loads((out / "manifest.json").read_text())
    assert any("drew a validation split" in n for n in manifest["notes"])

    by_id = {t.id: t for t in train + val}
    assert by_id["2hop__0_1"].type == "2hop" and by_id["3hop1__1_2"].type == "3hop"
    assert by_id["4hop3__2_3"].type == "4hop" and by_id["4hop3__2_3"].meta["hop_shape"] == "4hop3"
    assert by_id["q3"].type == "3hop" and "hop_shape" not in by_id["q3"].meta
    t0 = by_id["2hop__0_1"]
    assert t0.source == "musique" and len(t0.chunks) == 20 and t0.gold_ids == [0, 1]
    assert len(t0.meta["question_decomposition"]) == 2
    assert best_f1("eighteen hundred", gold_answers(t0)) == 1.0  # aliases are scored

    out2 = tmp_path / "out2"
    assert build("--source", "musique", "--input", str(d), "--out", str(out2), "--n-val", "2", "--seed", "3") == 0
    assert (out / "val.jsonl").read_bytes() == (out2 / "val.jsonl").read_bytes()
    assert (out / "train.jsonl").read_bytes() == (out2 / "train.jsonl").read_bytes()


def test_musique_dev_file_is_used_when_present(tmp_path: Path):
    d = tmp_path / "musique"
    d.mkdir()
    write_jsonl(d / "musique_ans_v1.0_train.jsonl", [musique_record(k) for k in range(3)])
    write_jsonl(d / "musique_ans_v1.0_dev.jsonl", [musique_record(9)])
    out = tmp_path / "out"
    assert build("--source", "musique", "--input", str(d), "--out", str(out)) == 0
    assert len(load_tasks(out / "train.jsonl")) == 3 and [t.id for t in load_tasks(out / "val.jsonl")] == ["2hop__9_10"]
    assert not any("drew" in n for n in json.loads((out / "manifest.json").read_text())["notes"])


def test_2wiki_file_as_musique_is_a_clear_error(tmp_path: Path, capsys):
    twowiki = {"_id": "w1", "type": "comparison", "question": "Which is older?", "answer": "A",
               "context": [["A", ["A is old."]], ["B", ["B is new."]]], "supporting_facts": [["A", 0]],
               "evidences": []}
    f = write_jsonl(tmp_path / "train.jsonl", [twowiki])
    assert build("--source", "musique", "--input", str(f), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert str(f) in err and "look like 2WikiMultiHopQA" in err and "--source 2wiki" in err


@pytest.mark.parametrize("source", ["2wiki", "musique"])
def test_hotpotqa_files_under_another_source_name_the_dataset(source: str, hotpot_dir: Path, tmp_path: Path, capsys):
    assert build("--source", source, "--input", str(hotpot_dir), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "look like HotpotQA" in err and "--source hotpotqa" in err


def test_musique_files_as_2wiki_name_the_dataset(tmp_path: Path, capsys):
    f = write_jsonl(tmp_path / "train.jsonl", [musique_record(k) for k in range(3)])
    assert build("--source", "2wiki", "--input", str(f), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "look like MuSiQue" in err and "--source musique" in err


# ---- pool padding ------------------------------------------------------------------------------

def tiny_task(k: int, n: int = 4, gold: tuple[int, ...] = (0, 2)) -> Task:
    chunks = tuple(Chunk.make(j, f"T{k}-{j}", f"Paragraph {j} of task {k} says something.", is_gold=j in gold)
                   for j in range(n))
    return Task(id=f"t{k}", question=f"q{k}", answer="a", type="bridge", chunks=chunks)


def test_pad_pools_sizes_gold_and_titles():
    tasks = [tiny_task(k) for k in range(6)]
    tasks.append(Task(id="shared", question="q", answer="a", type="x",  # a distractor titled like t0's own chunk
                      chunks=(Chunk.make(0, "T0-1", "same title as a chunk of t0"), Chunk.make(1, "S", "s"))))
    padded = pad_pools(tasks, 9, seed=0)
    golds = {(c.title, c.text) for t in tasks for c in t.chunks if c.is_gold}
    for orig, t in zip(tasks, padded):
        assert len(t.chunks) == 9 and [c.id for c in t.chunks] == list(range(9))
        own = [c for c in t.chunks if c.title in {o.title for o in orig.chunks} and c.text in {o.text for o in orig.chunks}]
        assert [(c.title, c.is_gold) for c in own] == [(c.title, c.is_gold) for c in orig.chunks]  # order + flags kept
        extra = [c for c in t.chunks if c not in own]
        assert len(extra) == 9 - len(orig.chunks) and not any(c.is_gold for c in extra)
        assert not any((c.title, c.text) in golds for c in extra)  # never another task's gold chunk
        assert len({c.title for c in t.chunks}) == 9  # no duplicate titles
        assert t.id == orig.id and t.question == orig.question and t.meta == orig.meta


def test_pad_pools_deterministic_and_order_independent():
    tasks = [tiny_task(k) for k in range(8)]
    a = pad_pools(tasks, 12, seed=1)
    assert a == pad_pools(tasks, 12, seed=1)
    b = {t.id: t for t in pad_pools(list(reversed(tasks)), 12, seed=1)}
    assert all(t == b[t.id] for t in a)  # a task's pool depends on the seed and its id, not the file order
    c = pad_pools(tasks, 12, seed=2)
    assert any(x.chunks != y.chunks for x, y in zip(a, c))


def test_pad_pools_leaves_large_pools_and_notes_short_ones():
    tasks = [tiny_task(0, n=6), tiny_task(1, n=3)]
    notes: list[str] = []
    out = pad_pools(tasks, 5, seed=0, notes=notes)
    assert out[0] == tasks[0]  # already >= pool_size: unchanged
    assert len(out[1].chunks) == 5
    notes = []
    out = pad_pools(tasks, 20, seed=0, notes=notes)
    assert len(out[1].chunks) == 3 + 4  # only t0's 4 non-gold chunks exist as distractors
    assert notes and "could not be padded to 20" in notes[0]


def test_build_with_pool_size(hotpot_dir: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert build("--source", "hotpotqa", "--input", str(hotpot_dir), "--out", str(out), "--pool-size", "6") == 0
    for t in load_tasks(out / "train.jsonl") + load_tasks(out / "val.jsonl"):
        assert len(t.chunks) == 6 and len(t.gold_ids) == 2


# ---- every policy on every dataset, unchanged ------------------------------------------------------
@pytest.mark.parametrize("source", ["hotpotqa", "musique"])
def test_every_policy_runs_on_the_dataset(source: str, hotpot_dir: Path, tmp_path: Path):
    pytest.importorskip("torch")
    from tinker_explorer.train.compact import CompactTrainConfig, train_compact
    if source == "hotpotqa":
        src = hotpot_dir
    else:
        src = tmp_path / "musique"
        src.mkdir()
        write_jsonl(src / "musique_ans_v1.0_train.jsonl", [musique_record(k, 2 + k % 3) for k in range(8)])
    out = tmp_path / "out"
    assert build("--source", source, "--input", str(src), "--out", str(out), "--n-val", "2") == 0
    train = load_tasks(out / "train.jsonl")
    run = tmp_path / "compact"
    train_compact(CompactTrainConfig(answer_epochs=2, warm_epochs=5, steps=1, group_size=2, batch_size=2,
                                     budget_mix=(60,)), train, None, run, progress=False)
    for policy in (["random"], ["heuristic"], ["compact", "--checkpoint", str(run)], ["llm", "--model", "tiny"]):
        res = tmp_path / f"{policy[0]}.json"
        assert main(["eval", "--policy", *policy, "--tasks", str(out / "val.jsonl"), "--json", str(res),
                     "--quiet"]) == 0
        assert json.loads(res.read_text())["n_tasks"] == 2
