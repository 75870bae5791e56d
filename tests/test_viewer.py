"""`tinker-explorer view`: the page built from real episodes on tiny tasks, checked as a person
would see it in headless Chromium (rendered DOM after the scripts ran, and a screenshot)."""

import json
import re
import shutil
import subprocess
from dataclasses import replace

import pytest

from conftest import make_task
from tinker_explorer.cli import main
from tinker_explorer.env import EnvConfig
from tinker_explorer.env.types import Action
from tinker_explorer.eval.runner import run_episodes
from tinker_explorer.policies import get_policy
from tinker_explorer.policies.base import SimplePolicy
from tinker_explorer.report.viewer import load_viewer_data, render_page

EVIL = 'Who <img src=x onerror="document.title=\'pwned\'"> directed </script><b>Blue Harbor</b>?'


class Scripted(SimplePolicy):
    """Opens chunks 0 and 1, writes notes, answers from them: exercises OPEN, SUMMARIZE, ANSWER."""

    name = "scripted"

    def act(self, obs, rng):
        if obs.step == 0:
            return Action.open(0)
        if obs.step == 1:
            return Action.open(1)
        if obs.step == 2:
            return Action.summarize("Blue Harbor <- Orin Vasko; born in Kessa & Norland")
        return Action.answer("Tallmere" if "<img" in obs.question else "Kessa, Norland")  # one wrong answer


def _tasks():
    ts = [make_task(id=f"t{i}", qtype="comparison" if i % 2 else "compositional") for i in range(4)]
    ts[3] = replace(ts[3], question=EVIL)
    return ts


@pytest.fixture
def page(tmp_path):
    tasks = _tasks()
    files = []
    for pol in (get_policy("random"), Scripted()):
        p = tmp_path / f"{pol.name}.jsonl"
        p.write_text("".join(json.dumps(t.to_json()) + "\n" for t in run_episodes(pol, tasks, EnvConfig(), seed=0)))
        files.append(p)
    out = tmp_path / "view.html"
    assert main(["view", *map(str, files), "--out", str(out)]) == 0
    return out, files


def test_pool_and_texts_come_from_the_trajectory_structure_not_its_text(tmp_path):
    """Recorded without observation texts, a trajectory still gives the viewer the pool and the texts read."""
    task = make_task()
    traj = run_episodes(Scripted(), [task], EnvConfig(), record_observations=False)[0]
    assert all(s.observation == "" for s in traj.steps)
    assert [s.opened for s in traj.steps] == [[], [0], [0, 1], [0, 1]]
    assert [s.visible for s in traj.steps] == [[], [0], [0, 1], []]  # SUMMARIZE took the texts out of view
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(traj.to_json()) + "\n")
    data = load_viewer_data([p])
    pool = data.tasks[task.id]["pool"]
    assert [(r["id"], r["tokens"], r["preview"]) for r in pool] == [(c.id, c.n_tokens, c.preview) for c in task.chunks]
    assert data.episodes[0]["texts"] == {"0": task.chunks[0].text, "1": task.chunks[1].text}


def test_older_trajectories_with_titles_only_still_load(tmp_path):
    d = run_episodes(Scripted(), [make_task()], EnvConfig())[0].to_json()
    titles = [c["title"] for c in d.pop("pool")]
    d.pop("texts")
    p = tmp_path / "old.jsonl"
    p.write_text(json.dumps({**d, "chunk_titles": titles}) + "\n")
    data = load_viewer_data([p])
    assert [r["title"] for r in data.tasks[d["task_id"]]["pool"]] == titles and data.episodes[0]["texts"] == {}


@pytest.mark.parametrize("indent", [1, None])  # `eval --json` writes indent=1; a one-line result reads the same
def test_an_eval_result_json_is_named_and_the_expected_file_said(tmp_path, capsys, indent):
    res = tmp_path / "heuristic.json"
    res.write_text(json.dumps({"policy": "heuristic", "f1": 0.5, "per_task": [{"task_id": "t0"}]}, indent=indent))
    assert main(["view", str(res), "--out", str(tmp_path / "v.html")]) == 2
    err = capsys.readouterr().err
    assert "an evaluation result (`eval --json`)" in err and "eval --trajectories" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_page_is_self_contained_and_escapes_data(page):
    out, files = page
    html = out.read_text()
    assert not re.search(r"https?://|<link|<(script|iframe|img)[^>]*\ssrc=", html)  # nothing fetched at view time
    assert "<img" not in html and "</script><b>" not in html  # data cannot close the JSON script tag
    data = load_viewer_data(files)
    assert data.policies == ["random", "scripted"] and len(data.episodes) == 8
    scripted = [e for e in data.episodes if e["policy"] == "scripted"][0]
    assert scripted["opened"] == [0, 1] and set(scripted["texts"]) == {"0", "1"}
    assert render_page(data).count('<script type="application/json"') == 1


def test_bad_trajectory_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    assert main(["view", str(bad), "--out", str(tmp_path / "v.html")]) == 2
    assert "not a trajectory" in capsys.readouterr().err


def _chromium():
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def _run_chromium(tmp_path, args):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install -y chromium); CI installs it in .ci/run")
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome-profile'}", "--virtual-time-budget=5000"]
    r = subprocess.run(base + args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return re.sub(r"<script\b.*?</script>", "", r.stdout, flags=re.S)  # what is rendered, not the page's code


@pytest.mark.slow
def test_browser_side_by_side_shows_question_gold_notes_and_controls(page, tmp_path):
    out, _ = page
    dom = _run_chromium(tmp_path, ["--dump-dom", f"{out.as_uri()}#task=t1&a=random&b=scripted"])
    for control in ('id="filter-policy"', 'id="filter-type"', 'id="filter-wrong"', 'id="cmp-a"', 'id="cmp-b"'):
        assert control in dom
    assert '<h2 id="question">Where was the director of film Blue Harbor born?</h2>' in dom
    assert dom.count('class="col episode"') == 2  # side by side
    assert '<li data-task="t1" class="sel">' in dom
    assert 'data-policy="random"' in dom and 'data-policy="scripted"' in dom
    assert dom.count(">★ gold</span>") == 4  # 2 gold chunks in each of the two pools
    assert "Blue Harbor &lt;- Orin Vasko; born in Kessa &amp; Norland" in dom  # the notes, as text
    assert re.search(r'class="badge"[^>]*>#2<', dom)  # opening order
    assert 'class="gold-answer">Kessa, Norland<' in dom
    assert "4 tasks shown (side by side: random vs scripted)" in dom
    # the hostile question is listed as text, never as markup
    assert "&lt;img src=x" in dom and "<img" not in dom and "<b>Blue Harbor</b>" not in dom


@pytest.mark.slow
def test_browser_wrong_filter_lists_only_wrong_episodes(page, tmp_path):
    out, files = page
    data = load_viewer_data(files)
    n_wrong = sum(1 for e in data.episodes if not e["em"] >= 1)
    assert n_wrong >= 2  # random misses some; scripted misses only t3
    dom = _run_chromium(tmp_path, ["--dump-dom", f"{out.as_uri()}#wrong=1"])
    assert dom.count("<li data-task=") == n_wrong and f"{n_wrong} of 8 episodes shown" in dom
    dom = _run_chromium(tmp_path, ["--dump-dom", f"{out.as_uri()}#policy=scripted&wrong=1"])
    assert re.findall(r'<li data-task="([^"]+)"', dom) == ["t3"]
    dom = _run_chromium(tmp_path, ["--dump-dom", f"{out.as_uri()}#policy=scripted&type=comparison"])
    assert re.findall(r'<li data-task="([^"]+)"', dom) == ["t1", "t3"]


@pytest.mark.slow
def test_browser_screenshot_is_a_rendered_page(page, tmp_path):
    from PIL import Image
    out, _ = page
    shot = tmp_path / "shot.png"
    _run_chromium(tmp_path, [f"--screenshot={shot}", "--window-size=1280,900", f"{out.as_uri()}#task=t0"])
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 900)
    assert len(img.getcolors(1 << 20)) > 50  # text and tables, not a blank page
    r, g, b = img.getpixel((5, 5))  # the dark header bar is drawn
    assert r < 80 and g < 80 and b < 100


def test_two_files_of_one_policy_get_distinct_labels(tmp_path):
    tasks = _tasks()[:2]
    files = []
    for seed in (0, 1):
        p = tmp_path / f"seed{seed}.jsonl"
        p.write_text("".join(json.dumps(t.to_json()) + "\n" for t in run_episodes(get_policy("random"), tasks, seed=seed)))
        files.append(p)
    data = load_viewer_data(files)
    assert data.policies == ["random [seed0]", "random [seed1]"]
    assert sorted({e["policy"] for e in data.episodes}) == data.policies
