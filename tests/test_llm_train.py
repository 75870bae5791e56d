"""LLM training pieces: advantages, rollouts -> datums, the policy's prompting and parsing,
SFT and GRPO end to end on a tiny in-process model (records, resume determinism, CLI)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from llm_helpers import ScriptedPolicy, tiny_tasks  # noqa: E402

from tinker_explorer.env.parser import parse_action  # noqa: E402
from tinker_explorer.env.types import Action, ActionKind  # noqa: E402
from tinker_explorer.policies.llm import Turn  # noqa: E402
from tinker_explorer.train.advantages import grpo_advantages  # noqa: E402
from tinker_explorer.train.rollouts import episode_datums, episode_sequences  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")



# ---- advantages ---------------------------------------------------------------------------------
def test_grpo_advantages_center_groups_and_skip_constant_ones():
    adv, skipped = grpo_advantages([[1.0, 0.0, 0.5, 0.5], [0.3, 0.3, 0.3, 0.3]])
    assert adv[0].tolist() == [0.5, -0.5, 0.0, 0.0] and skipped.tolist() == [False, True]
    assert adv[1].tolist() == [0, 0, 0, 0]
    nadv, _ = grpo_advantages([[1.0, 0.0, 0.5, 0.5]], normalize_std=True)
    assert nadv[0] == pytest.approx(np.array([0.5, -0.5, 0, 0]) / np.std([1, 0, 0.5, 0.5]))


# ---- episode -> datums ----------------------------------------------------------------------------
def _turn(prompt, tokens, kind=ActionKind.OPEN):
    return Turn(list(prompt), list(tokens), [-0.1 * (i + 1) for i in range(len(tokens))], "", Action(kind, chunk=0))


def test_fresh_prompts_give_one_datum_per_turn():
    turns = [_turn([1, 2, 3], [7, 8]), _turn([1, 2, 4, 5], [9])]  # prompt 2 does not extend 1+2+3+7+8
    seqs = episode_sequences(turns)
    assert [s[0] for s in seqs] == [[1, 2, 3, 7, 8], [1, 2, 4, 5, 9]]
    ds = episode_datums(turns, "importance_sampling", advantage=0.25)
    assert ds[0].loss_fn_inputs["advantages"] == [0, 0, 0.25, 0.25]
    assert ds[0].loss_fn_inputs["logprobs"] == [0, 0, -0.1, -0.2]
    assert ds[1].loss_fn_inputs["target_tokens"] == [2, 4, 5, 9] and ds[1].loss_fn_inputs["advantages"] == [0, 0, 0, 0.25]


def test_extending_prompts_merge_and_a_rewrite_breaks_the_prefix():
    t1 = _turn([1, 2], [7, 8])
    t2 = _turn([1, 2, 7, 8, 3, 4], [9])  # history format: previous prompt + action + new observation
    t3 = _turn([1, 5], [6], ActionKind.SUMMARIZE)  # context rewritten: new datum
    seqs = episode_sequences([t1, t2, t3])
    assert len(seqs) == 2
    toks, mask, lps = seqs[0]
    assert toks == [1, 2, 7, 8, 3, 4, 9] and mask == [0, 0, 1, 1, 0, 0, 1]
    assert lps == [0, 0, -0.1, -0.2, 0, 0, -0.1]
    d = episode_datums([t1, t2, t3], "cross_entropy")[0]
    assert d.model_input == toks[:-1] and d.loss_fn_inputs["weights"] == mask[1:]


# ---- parsing realistic model output -----------------------------------------------------------
@pytest.mark.parametrize("text,kind,arg", [
    ("OPEN 3", ActionKind.OPEN, 3),
    ("<think>\nThe question asks about the director. Chunk 2 looks right.\n</think>\n\nOPEN 2", ActionKind.OPEN, 2),
    ("<think>I should open chunk 5 first... no, answer.</think>ANSWER: Missoula, Montana", ActionKind.ANSWER,
     "Missoula, Montana"),
    ("I will open chunk [4] to read about the film.", ActionKind.OPEN, 4),
    ("**ANSWER:** \"Paris\".\nThis is because the chunk says so.", ActionKind.ANSWER, "Paris"),
    ("Action: SUMMARIZE: Film X directed by Y (born 1950).", ActionKind.SUMMARIZE, "Film X directed by Y (born 1950)."),
    ("Based on the chunks, the answer is Lyon.", ActionKind.ANSWER, "Lyon"),
    ("I need more information about the film before deciding.", ActionKind.PARSE_ERROR, None),
    ("open the second chunk", ActionKind.PARSE_ERROR, None),
    ("<think>unfinished reasoning that never closes", ActionKind.PARSE_ERROR, None),
    ("", ActionKind.PARSE_ERROR, None),
])
def test_parser_on_model_like_output(text, kind, arg):
    a = parse_action(text)
    assert a.kind is kind
    if kind is ActionKind.OPEN:
        assert a.chunk == arg
    elif arg is not None:
        assert a.text == arg


# ---- the policy ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_engine():
    from tinker_explorer.engines.local import LocalEngine
    return LocalEngine(model="tiny", lora_rank=8, seed=0)


def test_policy_prompt_uses_chat_template_and_thinking_switch(tiny_engine):
    from tinker_explorer.env.explorer import ExplorerEnv
    from tinker_explorer.policies.llm import LLMPolicy
    pol = LLMPolicy(tiny_engine, system_prompt="short")
    obs = ExplorerEnv().reset(tiny_tasks(1)[0])
    text = pol.prompt_text(obs)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert obs.text in text and not pol._thinking_switch

    class QwenLikeTok:  # a template with Qwen3's switch: the policy must pass enable_thinking=False
        chat_template = "{% if enable_thinking is defined and not enable_thinking %}NOTHINK{% endif %}"
        eos_token_id = 0
        seen = {}

        def apply_chat_template(self, msgs, tokenize, add_generation_prompt, **kw):
            self.seen.update(kw)
            return "x"
    eng = type("E", (), {"tokenizer": QwenLikeTok(), "base_model": "qwen"})()
    LLMPolicy(eng).prompt_text(obs)
    assert QwenLikeTok.seen == {"enable_thinking": False}
    QwenLikeTok.seen.clear()
    LLMPolicy(eng, disable_thinking=False).prompt_text(obs)
    assert QwenLikeTok.seen == {}


def test_sampled_episodes_do_not_depend_on_the_batch_size(tiny_engine):
    """Each episode's turn is seeded by its own rng (task and turn), not once per batch."""
    from tinker_explorer.env.explorer import EnvConfig
    from tinker_explorer.eval.runner import run_episodes
    from tinker_explorer.policies.llm import LLMPolicy
    pol = LLMPolicy(tiny_engine, max_tokens=6, temperature=1.0, system_prompt="short")
    tasks = tiny_tasks(4)
    runs = [run_episodes(pol, tasks, EnvConfig(max_steps=2), seed=3, batch_size=b) for b in (1, 4)]
    raws = [[[s.action["raw"] for s in t.steps] for t in r] for r in runs]
    assert raws[0] == raws[1]
    assert len({str(x) for x in raws[0]}) > 1  # the random model does sample different texts


def test_one_grpo_update_moves_probability_towards_the_positive_advantage():
    """One importance-sampling step on the local engine (its public API, the tiny model): the
    completion with advantage +1 becomes more probable, the one with -1 less, so a sign error in
    the loss, the datums or the advantages cannot pass."""
    from tinker_explorer.engines.base import AdamParams
    from tinker_explorer.engines.local import LocalEngine
    from tinker_explorer.policies.llm import LLMPolicy
    eng = LocalEngine(model="tiny", lora_rank=8, seed=0)
    pol = LLMPolicy(eng, max_tokens=6, temperature=1.0, system_prompt="short")
    prompt = pol.prompt_tokens("Car of Ada?")
    good, bad = (s[0] for s in eng.sample([prompt, prompt], 1, 6, temperature=1.0, seed=1))
    assert good.tokens != bad.tokens
    turns = [Turn(prompt, list(s.tokens), list(s.logprobs), "", Action(ActionKind.OPEN, chunk=0)) for s in (good, bad)]

    def total_logprob(turn):
        (d,) = episode_datums([turn], "importance_sampling", 1.0)
        lp = eng.logprobs([d])[0]
        return float((lp * (torch.tensor(d.loss_fn_inputs["advantages"]) != 0)).sum())
    before = [total_logprob(t) for t in turns]
    datums = episode_datums([turns[0]], "importance_sampling", 1.0) + episode_datums([turns[1]], "importance_sampling", -1.0)
    eng.forward_backward_optim(datums, "importance_sampling", AdamParams(learning_rate=1e-2))
    after = [total_logprob(t) for t in turns]
    assert after[0] > before[0] and after[1] < before[1]


# ---- SFT + GRPO on the tiny model ----------------------------------------------------------------
SMALL = dict(model="tiny", lora_rank=8, max_steps=4, system_prompt="short")


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    from tinker_explorer.train.sft import SFTConfig, run_sft
    d = tmp_path_factory.mktemp("sft")
    cfg = SFTConfig(run_dir=str(d / "run"), episodes=16, epochs=12, batch_size=8, lr=1e-2, **SMALL)
    row = run_sft(cfg, tasks=tiny_tasks(8), demo=ScriptedPolicy(), progress=False)
    return d / "run", row


def test_sft_learns_the_action_format_and_writes_records(sft_run):
    run, row = sft_run
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert json.loads((run / "config.json").read_text())["episodes"] == 16
    assert metrics[-1]["loss"] < 0.5 * metrics[0]["loss"]
    assert row["kind"] == "sft" and (run / "checkpoints" / "final" / "adapter_model.safetensors").is_file()
    from tinker_explorer.policies.llm import load_llm_policy
    pol = load_llm_policy("local", checkpoint=str(run), max_tokens=16)  # base model + prompt from the run
    assert pol.system.startswith("Read chunks")
    from tinker_explorer.env.explorer import EnvConfig
    from tinker_explorer.eval.runner import run_episodes
    trajs = run_episodes(pol, tiny_tasks(4), EnvConfig(max_steps=4))
    assert np.mean([t.n_parse_errors == 0 for t in trajs]) >= 0.5  # greedy imitation mostly parses


def _grpo_cfg(run_dir, init, steps=3):
    from tinker_explorer.train.grpo import GRPOConfig
    return GRPOConfig(run_dir=str(run_dir), init=str(init), steps=steps, group_size=4, batch_size=2, lr=5e-3,
                      max_tokens=12, save_every=2, reward="shaped", **SMALL)


def test_grpo_resume_repeats_the_next_step_exactly(sft_run, tmp_path):
    from tinker_explorer.train.grpo import run_grpo
    tasks = tiny_tasks(8)
    full = run_grpo(_grpo_cfg(tmp_path / "a", sft_run[0]), tasks=tasks, progress=False)
    assert [m["step"] for m in full] == [0, 1, 2]
    assert any(m["n_datums"] > 0 for m in full), "shaped reward should give groups with variance"
    run_grpo(_grpo_cfg(tmp_path / "b", sft_run[0]), tasks=tasks, progress=False, stop_after=2)
    # a killed step 2: its state written, a torn metrics line, no checkpoint line
    with open(tmp_path / "b" / "metrics.jsonl", "a") as f:
        f.write('{"step": 2, "reward_me')
    resumed = run_grpo(_grpo_cfg(tmp_path / "b", sft_run[0]), tasks=tasks, progress=False, resume=True)
    assert [m["step"] for m in resumed] == [0, 1, 2]
    for key in ("reward_mean", "n_datums", "sampled_tokens", "loss"):
        assert resumed[2].get(key) == pytest.approx(full[2].get(key), rel=1e-5), key
    ckpts = [json.loads(x) for x in (tmp_path / "a" / "checkpoints.jsonl").read_text().splitlines()]
    assert [c["kind"] for c in ckpts] == ["kept", "kept"]  # the rolling step-0 line left with its folder
    # paths relative to the run folder, and the last step's row is the run's final one
    assert [c["path"] for c in ckpts] == [f"checkpoints/step_00000{k}" for k in (1, 2)]
    assert ckpts[-1]["name"] == "final" and ckpts[-1]["sampler_path"] == "checkpoints/step_000002"
    assert not (tmp_path / "a" / "checkpoints" / "step_000000").exists()  # rolling one pruned
    assert (tmp_path / "a" / "reward_curve.png").stat().st_size > 1000
    keys = {"reward_mean", "reward_std", "f1", "em", "answer_rate", "avg_opens", "avg_tokens_read",
            "parse_error_rate", "skipped_groups", "sample_seconds", "train_seconds"}
    assert keys <= set(full[0])


def test_training_refuses_a_temperature_other_than_one(tmp_path):
    from tinker_explorer.errors import UserError
    from tinker_explorer.train.grpo import GRPOConfig, run_grpo
    with pytest.raises(UserError, match="--temperature 0.7 cannot be trained on"):
        run_grpo(GRPOConfig(run_dir=str(tmp_path / "r"), temperature=0.7, **SMALL), tasks=tiny_tasks(2), progress=False)
    assert not (tmp_path / "r").exists()


def test_cli_resume_restores_the_config_and_the_base_model_of_an_init_run(sft_run, tmp_path, capsys):
    from tinker_explorer.cli import main
    from tinker_explorer.data.schema import save_tasks
    save_tasks(tiny_tasks(6), tmp_path / "tasks.jsonl")
    run = tmp_path / "run"
    # no --model: the base model is the --init checkpoint's (tiny), and config.json must keep it
    base = ["train", "grpo", "--tasks", str(tmp_path / "tasks.jsonl"), "--run-dir", str(run)]
    assert main(base + ["--init", str(sft_run[0]), "--lora-rank", "8", "--steps", "1", "--group-size", "2",
                        "--batch-size", "2", "--max-tokens", "6", "--max-steps", "2", "--system-prompt", "short",
                        "--reward", "shaped", "--lr", "1e-3"]) == 0
    assert json.loads((run / "config.json").read_text())["model"] == "tiny"
    assert main(base + ["--resume", "--steps", "2"]) == 0  # a bare resume: tiny, shaped, group 2
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"] == "tiny" and cfg["reward"] == "shaped" and cfg["steps"] == 2 and cfg["group_size"] == 2
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    capsys.readouterr()
    assert main(base + ["--resume", "--steps", "3", "--reward", "f1"]) == 2
    assert "--reward f1 contradicts the run being resumed" in capsys.readouterr().err
    assert main(base + ["--resume", "--steps", "3", "--warm-epochs", "3"]) == 2
    assert "--warm-epochs is an option of --policy compact" in capsys.readouterr().err


def test_cli_help_shows_the_defaults(capsys):
    from tinker_explorer.cli import main
    with pytest.raises(SystemExit):
        main(["train", "grpo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("training steps (default: llm 100, compact 80)", "(default: llm 16, compact 8)",
                 "learning rate (default: llm 5e-6", "--seed SEED seed of every random choice"):
        assert text in out, text


def test_cli_train_grpo_and_eval_llm(sft_run, tmp_path, capsys):
    from tinker_explorer.cli import main
    from tinker_explorer.data.schema import save_tasks
    save_tasks(tiny_tasks(6), tmp_path / "tasks.jsonl")
    run = tmp_path / "run"
    args = ["train", "grpo", "--policy", "llm", "--engine", "local", "--model", "tiny", "--lora-rank", "8",
            "--init", str(sft_run[0]), "--tasks", str(tmp_path / "tasks.jsonl"), "--run-dir", str(run),
            "--steps", "1", "--group-size", "2", "--batch-size", "2", "--max-tokens", "8", "--max-steps", "3",
            "--system-prompt", "short", "--lr", "1e-3"]
    assert main(args) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["group_size"] == 2 and cfg["lr"] == 1e-3 and cfg["loss"] == "importance_sampling"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert main(args) == 2  # the run exists: a one-line error, not a traceback
    assert "--resume" in capsys.readouterr().err
    out = tmp_path / "eval.json"
    assert main(["eval", "--policy", "llm", "--engine", "local", "--checkpoint", str(run), "--tasks",
                 str(tmp_path / "tasks.jsonl"), "--n-tasks", "3", "--max-steps", "3", "--json", str(out),
                 "--quiet"]) == 0
    res = json.loads(out.read_text())
    assert res["policy"] == "llm" and res["n_tasks"] == 3 and len(res["per_task"]) == 3
    assert main(["train", "grpo", "--tasks", str(tmp_path / "tasks.jsonl"), "--group-size", "1",
                 "--run-dir", str(tmp_path / "x")]) == 2
    sft = tmp_path / "sft"
    assert main(["train", "sft", "--model", "tiny", "--lora-rank", "4", "--tasks", str(tmp_path / "tasks.jsonl"),
                 "--episodes", "2", "--run-dir", str(sft), "--max-steps", "3", "--demo-policy", "random"]) == 0
    assert json.loads((sft / "config.json").read_text())["episodes"] == 2
    assert json.loads((sft / "checkpoints.jsonl").read_text().splitlines()[-1])["kind"] == "sft"


def test_cli_dtype_is_recorded_and_the_evaluation_uses_it(sft_run, tmp_path):
    """A local run trained with --dtype bfloat16 is evaluated in bfloat16 (sampler = learner dtype);
    eval's --max-tokens overrides the run's; --dtype is refused where it means nothing."""
    from tinker_explorer.cli import main
    from tinker_explorer.data.schema import save_tasks
    from tinker_explorer.policies.llm import load_llm_policy
    save_tasks(tiny_tasks(4), tmp_path / "tasks.jsonl")
    run = tmp_path / "run"
    base = ["train", "grpo", "--tasks", str(tmp_path / "tasks.jsonl"), "--steps", "1", "--group-size", "2",
            "--batch-size", "1", "--max-steps", "2"]
    assert main(base + ["--model", "tiny", "--lora-rank", "8", "--init", str(sft_run[0]), "--max-tokens", "6",
                        "--system-prompt", "short", "--dtype", "bfloat16", "--run-dir", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["dtype"] == "bfloat16"
    policy = load_llm_policy(engine="local", checkpoint=str(run), max_tokens=3)
    assert policy.engine.dtype == torch.bfloat16 and policy.max_tokens == 3
    assert load_llm_policy(engine="local", checkpoint=str(run)).max_tokens == 6
    assert main(base + ["--policy", "compact", "--dtype", "bfloat16", "--run-dir", str(tmp_path / "c")]) == 2
    assert main(base + ["--engine", "tinker", "--dtype", "bfloat16", "--run-dir", str(tmp_path / "t")]) == 2
