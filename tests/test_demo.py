"""`tinker-explorer demo` (the README's main job) on a tiny built task directory: the table it
prints, its records, reuse of a finished compact run, and retraining (never overwriting) when the
run was made by other features (another checkpoint version, without the parser or the second stage)."""

from __future__ import annotations

import pytest

from conftest import make_task
from tinker_explorer.cli import main
from tinker_explorer.data.schema import save_tasks

torch = pytest.importorskip("torch")


def test_demo_trains_reuses_and_retrains_a_stale_run(tmp_path, capsys, one_torch_thread):
    data = tmp_path / "data"
    data.mkdir()
    save_tasks([make_task(f"tr{i}", qtype="compositional") for i in range(6)], data / "train.jsonl")
    save_tasks([make_task(f"va{i}", qtype="compositional") for i in range(3)], data / "val.jsonl")
    out = tmp_path / "demo"
    args = ["demo", "--data", str(data), "--out", str(out), "--n-val", "3", "--train-minutes", "0.02"]
    assert main(args) == 0
    text = capsys.readouterr().out
    for name in ("random", "heuristic", "compact"):
        assert f"| {name}" in text and (out / f"eval_{name}.json").is_file()
    assert "compact - heuristic, F1:" in text and (out / "compact_run" / "checkpoints.jsonl").is_file()

    # a second run reuses the finished compact run
    before = (out / "compact_run" / "checkpoints.jsonl").read_text()
    assert main(args) == 0
    assert (out / "compact_run" / "checkpoints.jsonl").read_text() == before
    assert "cannot be reused" not in capsys.readouterr().out

    # a run whose checkpoint another feature version wrote is moved aside and trained again
    final = out / "compact_run" / "final.pt"
    st = torch.load(final, map_location="cpu", weights_only=True)
    st["version"] = 1
    torch.save(st, final)
    assert main(args) == 0
    assert "cannot be reused" in capsys.readouterr().out
    stale = [p for p in out.iterdir() if p.name.startswith("compact_run.stale-")]
    assert len(stale) == 1 and (stale[0] / "final.pt").is_file()
    assert torch.load(out / "compact_run" / "final.pt", map_location="cpu", weights_only=True)["version"] != 1

    # so is a run trained without the features the demo's config asks for (here: the parser's)
    st = torch.load(final, map_location="cpu", weights_only=True)
    assert st["parser"] is not None
    st["parser"] = None
    torch.save(st, final)
    assert main(args) == 0
    assert "cannot be reused" in capsys.readouterr().out
    assert len([p for p in out.iterdir() if p.name.startswith("compact_run.stale-")]) == 2

    # and a run from before the second-stage answer scorer (its checkpoint has none)
    st = torch.load(final, map_location="cpu", weights_only=True)
    assert st["rerank"] is not None
    st["rerank"] = None
    torch.save(st, final)
    assert main(args) == 0
    assert "cannot be reused" in capsys.readouterr().out
    assert len([p for p in out.iterdir() if p.name.startswith("compact_run.stale-")]) == 3
