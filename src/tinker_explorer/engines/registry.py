"""Engines by name. Kept apart from the protocol (``base``) so that the protocol module imports
nothing concrete; the concrete engines are imported only when asked for (torch or the Tinker SDK)."""

from __future__ import annotations

from tinker_explorer.engines.base import Engine
from tinker_explorer.errors import UserError


DEFAULT_MODELS = {"tinker": "Qwen/Qwen3-8B", "local": "smollm2-135m"}
ENGINES = tuple(DEFAULT_MODELS)


def make_engine(engine: str = "local", model: str | None = None, lora_rank: int = 32, seed: int = 0,
                checkpoint: str | None = None, **kwargs) -> Engine:
    """Build an engine by name; ``checkpoint`` loads a saved state (or sampler weights)."""
    if engine == "local":
        from tinker_explorer.engines.local import LocalEngine
        return LocalEngine(model=model, lora_rank=lora_rank, seed=seed, checkpoint=checkpoint, **kwargs)
    if engine == "tinker":
        from tinker_explorer.engines.tinker_engine import TinkerEngine
        return TinkerEngine(model=model or DEFAULT_MODELS["tinker"], lora_rank=lora_rank, seed=seed,
                            checkpoint=checkpoint, **kwargs)
    raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def engine_options(engine: str, base_url: str | None, dtype: str | None = None) -> dict:
    """The engine-specific options given on the command line, for ``make_engine``; each is refused
    on the engine that does not have it (``dtype`` "auto" counts as not given)."""
    if base_url and engine != "tinker":
        raise UserError("--base-url is an option of --engine tinker")
    if dtype not in (None, "auto") and engine != "local":
        raise UserError("--dtype is an option of --engine local (the Tinker service picks its own)")
    out = {"base_url": base_url} if base_url else {}
    if dtype not in (None, "auto"):
        out["dtype"] = dtype
    return out

