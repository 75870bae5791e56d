"""LLMPolicy: an engine-backed language model acting in ExplorerEnv.

Each turn's prompt is the model's own chat template over ``[system prompt, observation text]``
(the observation is a full rendering of the state, so no chat history is needed). All live
episodes are sampled in one batched ``engine.sample`` call per step. The completion is decoded
and parsed with :func:`tinker_explorer.env.parser.parse_action`; malformed text becomes a
PARSE_ERROR action (costs a step), never an exception.

Thinking models (Qwen3): by default the chat template is asked for ``enable_thinking=False``
when it supports it, and any ``<think>...</think>`` block is stripped before parsing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tinker_explorer.env.parser import parse_action, strip_thinking
from tinker_explorer.env.types import Action, Observation
from tinker_explorer.errors import UserError
from tinker_explorer.policies.prompts import get_system_prompt


@dataclass
class Turn:
    """One sampled turn: what the model saw (prompt tokens) and produced (tokens, logprobs)."""

    prompt: list[int]
    tokens: list[int]
    logprobs: list[float]
    text: str
    action: Action
    stop_reason: str = "stop"


class LLMPolicy:
    name = "llm"

    def __init__(self, engine, max_tokens: int = 64, temperature: float = 0.0, system_prompt: str = "default",
                 disable_thinking: bool = True, strip_think: bool = True):
        self.engine = engine
        self.tokenizer = engine.tokenizer
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.system = get_system_prompt(system_prompt)
        self.disable_thinking = disable_thinking
        self.strip_think = strip_think
        template = getattr(self.tokenizer, "chat_template", None) or ""
        self._thinking_switch = "enable_thinking" in template
        if not template:
            raise UserError(f"model {getattr(engine, 'base_model', '?')} has no chat template; use an instruct model")

    # ---- text <-> tokens ---------------------------------------------------------------
    def prompt_text(self, obs: Observation | str) -> str:
        text = obs if isinstance(obs, str) else obs.text
        msgs = [{"role": "system", "content": self.system}, {"role": "user", "content": text}]
        kw = {"enable_thinking": False} if (self.disable_thinking and self._thinking_switch) else {}
        return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, **kw)

    def prompt_tokens(self, obs: Observation | str) -> list[int]:
        return list(self.tokenizer.encode(self.prompt_text(obs), add_special_tokens=False))

    def action_tokens(self, action_text: str) -> list[int]:
        """A demonstration's completion: the action text followed by the end-of-turn token."""
        eos = self.tokenizer.eos_token_id
        return list(self.tokenizer.encode(action_text, add_special_tokens=False)) + ([eos] if eos is not None else [])

    def decode(self, tokens: Sequence[int]) -> str:
        text = self.tokenizer.decode(list(tokens), skip_special_tokens=True)
        return strip_thinking(text) if self.strip_think else text

    # ---- acting --------------------------------------------------------------------------
    def sample_turns(self, observations: Sequence[Observation], seed: int | None = None,
                     temperature: float | None = None) -> list[Turn]:
        """One batched sample for all observations; returns the turns with parsed actions."""
        if not observations:
            return []
        prompts = [self.prompt_tokens(o) for o in observations]
        temp = self.temperature if temperature is None else temperature
        res = self.engine.sample(prompts, 1, self.max_tokens, temperature=temp, seed=seed)
        turns = []
        for p, group in zip(prompts, res):
            s = group[0]
            text = self.decode(s.tokens)
            turns.append(Turn(p, list(s.tokens), list(s.logprobs), text, parse_action(text), s.stop_reason))
        return turns

    def act_batch(self, observations: Sequence[Observation], rngs: Sequence[np.random.Generator]) -> list[Action]:
        """Greedy: one batched call. Sampling: each episode's turn is drawn with a seed from its own
        rng (one per task and turn), in a call of its own, so an episode's actions do not depend on
        which other episodes share its batch (the runner promises results independent of batch size;
        a sampler seeded once per batch would break that)."""
        seeds = [int(r.integers(2 ** 31)) for r in rngs]  # every rng advances once per turn either way
        if self.temperature <= 0 or not seeds:
            return [t.action for t in self.sample_turns(observations)]
        return [self.sample_turns([o], seed=s)[0].action for o, s in zip(observations, seeds)]


def llm_checkpoint(checkpoint: str | None, want: str = "sampler") -> tuple[str | None, dict]:
    """A checkpoint spec -> (path or URI, metadata). A run folder gives its ``final`` row
    (``want="sampler"``: the weights-only export, for evaluation; ``"state"``: weights + optimizer,
    to train on); the metadata is the folder's engine.json plus the run's prompt and base model."""
    if not checkpoint:
        return None, {}
    from tinker_explorer.records import is_uri
    from tinker_explorer.records import resolve_checkpoint as resolve
    ck = resolve(checkpoint)
    path = ck.pick(want)
    if is_uri(path):
        return path, _run_meta(ck.run_dir) if ck.run_dir else {}
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: checkpoint folder is missing (recorded in {ck.run_dir}/checkpoints.jsonl)")
    meta = json.loads((p / "engine.json").read_text()) if (p / "engine.json").is_file() else {}
    # <run>/checkpoints/<name>: the run that trained it says which prompt it was trained with
    for k, v in _run_meta(ck.run_dir or p.parent.parent).items():
        meta.setdefault(k, v)
    return path, meta


def _run_meta(run_dir: Path) -> dict:
    """What a run's config.json says about evaluating its weights: the prompt, dtype and tokens per
    turn it was trained with, and its base model."""
    cfg_path = Path(run_dir) / "config.json"
    if not cfg_path.is_file():
        return {}
    cfg = json.loads(cfg_path.read_text())
    out = {k: cfg[k] for k in ("system_prompt", "dtype", "max_tokens") if cfg.get(k) is not None}
    if cfg.get("base_model"):
        out["base_model"] = cfg["base_model"]
    return out


def load_llm_policy(engine: str = "local", model: str | None = None, checkpoint: str | None = None,
                    lora_rank: int | None = None, **kwargs) -> LLMPolicy:
    """The LLM policy for ``eval --policy llm``: greedy decoding, base model + optional LoRA checkpoint."""
    from tinker_explorer.engines.registry import make_engine
    path, meta = llm_checkpoint(checkpoint)
    model = model or meta.get("base_model")
    rank = lora_rank or meta.get("lora_rank") or 32
    from tinker_explorer.engines.registry import engine_options
    eng = make_engine(engine, model=model, lora_rank=rank, checkpoint=path,
                      **engine_options(engine, kwargs.get("base_url"), meta.get("dtype") if engine == "local" else None))
    keys = ("max_tokens", "temperature", "system_prompt", "disable_thinking", "strip_think")
    policy_kw = {k: meta[k] for k in keys if k in meta}
    policy_kw.update({k: kwargs[k] for k in keys if kwargs.get(k) is not None})
    return LLMPolicy(eng, **policy_kw)
