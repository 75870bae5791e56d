"""`tinker-explorer report` on a tiny fake run directory and two hand-made eval JSONs."""

import json
import re

import pytest

from tinker_explorer.cli import main
from tinker_explorer.report.inputs import load_inputs
from tinker_explorer.report.plots import pareto_front, run_panels
from tinker_explorer.errors import UserError


def _eval(policy, f1s, tokens, types=("comparison", "compositional")):
    rows = [{"task_id": f"t{i}", "type": types[i % len(types)], "f1": f, "em": float(f == 1.0),
             "answered": True, "answer": "x", "gold": "x", "opens": 2, "tokens_read": t, "reward": f}
            for i, (f, t) in enumerate(zip(f1s, tokens))]
    return {"policy": policy, "n_tasks": len(rows), "f1": sum(f1s) / len(f1s), "per_task": rows, "per_type": {}}


@pytest.fixture
def inputs(tmp_path):
    run = tmp_path / "run_a"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"lr": 1e-4, "group_size": 8, "nested": {"x": 1}}))
    lines = [json.dumps({"step": s, "reward_mean": 0.1 * s, "reward_std": 0.05, "f1": 0.08 * s,
                         "avg_opens": 2 + s / 10, "tokens_read": 100 + 5 * s, "seconds": 1.5}) for s in range(6)]
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 6, "rew')  # torn last line: still readable
    (run / "checkpoints.jsonl").write_text(json.dumps({"name": "final", "step": 5, "path": "ckpt.pt"}) + "\n")
    heur = tmp_path / "heur.json"
    heur.write_text(json.dumps(_eval("heuristic", [1, 1, 0, 1, 1, 0, 1, 1], [200] * 8)))
    rand = tmp_path / "rand.json"
    rand.write_text(json.dumps(_eval("random", [0, 1, 1, 0, 0.5, 0, 0, 0], [80] * 8)))
    return run, heur, rand


def test_report_writes_pngs_and_markdown_with_cis(tmp_path, inputs, capsys):
    run, heur, rand = inputs
    out = tmp_path / "rep"
    assert main(["report", str(run), str(heur), str(rand), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"figures/pareto.png", "figures/per_type.png", "figures/paired_vs_heuristic.png",
            "figures/run_run_a.png"} <= set(links)
    for link in links:  # every embedded figure exists, is a PNG and is not blank-sized
        data = (out / link).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, link
    # the numbers come from the per-task rows: heuristic 6/8 = 0.750, random 2.5/8 = 0.3125
    assert "| heuristic | 8 | 0.750 [" in md and re.search(r"\| random \| 8 \| 0\.31[23] \[", md)
    # paired: random - heuristic on the 8 shared tasks = (2.5 - 6) / 8 = -0.4375: 1 task higher, 5 lower, 2 tied
    assert re.search(r"\| random \| f1 \| -0\.43[78] \| \[-[0-9.]+, [-+][0-9.]+\] \| 8 \| 1 / 5 / 2 \|", md)
    assert "| random | tokens_read | -120.0 |" in md
    assert "| comparison | 4 |" in md and "| compositional | 4 |" in md
    assert "Last logged step (5)" in md and "reward_mean 0.5" in md
    assert "heuristic" in capsys.readouterr().out


def test_report_without_heuristic_says_so(tmp_path, inputs):
    _, _, rand = inputs
    assert main(["report", str(rand), "--out", str(tmp_path / "r")]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "No heuristic result" in md and "paired_vs_heuristic.png" not in md


def test_bad_paths_exit_2_with_one_line(tmp_path, capsys):
    not_a_run = tmp_path / "empty_dir"
    not_a_run.mkdir()
    no_rows = tmp_path / "x.json"
    no_rows.write_text('{"policy": "random"}')
    for p in (not_a_run, no_rows, tmp_path / "missing.json"):
        assert main(["report", str(p), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tinker-explorer: error:") and str(p) in err and "Traceback" not in err


def test_run_dir_eval_jsons_are_picked_up_and_labels_unique(tmp_path, inputs):
    run, heur, _ = inputs
    (run / "eval_val.json").write_text(heur.read_text())
    inp = load_inputs([run, heur])
    assert [e.label for e in inp.evals] == ["heuristic@run_a", "heuristic"]
    with pytest.raises(UserError):
        load_inputs([tmp_path / "nope"])


def test_run_panels_plot_only_what_exists():
    titles = [t for t, _, _ in run_panels([{"step": 0, "reward": 0.2}, {"step": 1, "reward": 0.3}])]
    assert titles == ["Training reward"]
    assert run_panels([{"step": 0}]) == []
    panels = run_panels([{"step": 0, "reward_mean": 1, "reward_std": 0.1, "opens": 2, "avg_opens": 2,
                          "eval_f1": 0.4, "loss": 3.0}])
    assert [p[0] for p in panels] == ["Training reward", "Chunks opened", "Held-out answer quality", "Loss"]
    assert panels[0][2] == ["reward_mean", "±reward_std"] and panels[1][2] == ["opens"]


def test_pareto_front():
    pts = [(100, 0.5), (200, 0.7), (150, 0.4), (300, 0.7), (50, 0.1)]
    assert pareto_front(pts) == [4, 0, 1]


def test_no_inputs_and_no_runs_dir_is_a_user_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    assert "no inputs" in capsys.readouterr().err


def test_report_has_a_leaves_section_from_the_ledger(tmp_path, inputs):
    from tinker_explorer.experiments.ledger import LEDGER_COLUMNS
    leaves = tmp_path / "leaves"
    (leaves / "results").mkdir(parents=True)
    rows = ["\t".join(LEDGER_COLUMNS)]
    for leaf, base in (("f1_honest", 0.6), ("shaped_honest", 0.4)):
        for seed in range(3):
            f1s = [base + 0.1 * ((i + seed) % 3) for i in range(10)]
            (leaves / "results" / f"{leaf}_s{seed}.json").write_text(json.dumps(
                {"per_task": [{"task_id": f"t{i}", "f1": f} for i, f in enumerate(f1s)]}))
            m = sum(f1s) / 10
            rows.append("\t".join(["abc", leaf, str(seed), f"{m:.4f}", "0", "1", "0.5", "100", "9", "keep", leaf]))
    (leaves / "results.tsv").write_text("\n".join(rows) + "\n")
    run, heur, rand = inputs
    out = tmp_path / "rep"
    assert main(["report", str(heur), "--out", str(out), "--leaves", str(leaves)]) == 0
    md = (out / "report.md").read_text()
    assert "## Ablation leaves" in md and "| shaped_honest | abc | - | 3 |" in md  # '-': rows without a source hash
    assert re.search(r"\| shaped_honest \| abc \| - \| 3 \| [0-9.]+ \([0-9.]+\) \| 100 \| - \| -0\.200 \[-0\.200, -0\.200\] \|", md)
    assert (out / "figures" / "leaves.png").stat().st_size > 5000
    # no run records here, so no training rewards: the finding needs them and is left out
    assert "**Finding.**" not in md
    # no ledger: no section, no error
    assert main(["report", str(heur), "--out", str(tmp_path / "rep2"), "--leaves", str(tmp_path / "none")]) == 0
    assert "Ablation leaves" not in (tmp_path / "rep2" / "report.md").read_text()


def test_leaves_finding_says_whether_the_lowest_training_reward_wins():
    from tinker_explorer.report.markdown import leaves_finding
    rows = [{"leaf": "f1", "seeds": 3, "f1_mean": 0.72, "train_reward": 0.81},
            {"leaf": "shaped", "seeds": 3, "f1_mean": 0.69, "train_reward": 0.70, "diff_vs_baseline": -0.03,
             "diff_ci": [-0.047, -0.012]}]
    text = " ".join(leaves_finding(rows, "f1"))
    assert "lowest training reward is `shaped`'s (0.700)" in text and "-0.030 [-0.047, -0.012]" in text
    assert "does not hold here" in text
    rows[1]["f1_mean"] = 0.75
    assert "holds here." in " ".join(leaves_finding(rows, "f1"))


def test_report_without_out_writes_an_untracked_folder(tmp_path, inputs, monkeypatch):
    _, heur, rand = inputs
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs" / "report").mkdir(parents=True)
    assert main(["report", str(heur), str(rand)]) == 0
    assert (tmp_path / "report_out" / "report.md").is_file()
    assert list((tmp_path / "docs" / "report").iterdir()) == []
