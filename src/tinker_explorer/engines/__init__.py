"""Training/sampling engines behind one protocol: ``local`` (torch + peft) and ``tinker`` (cloud SDK)."""

from tinker_explorer.engines.base import LOSSES, AdamParams, Datum, Engine, FwdBwdResult, SampledSequence, make_datum
from tinker_explorer.engines.registry import make_engine

__all__ = ["LOSSES", "AdamParams", "Datum", "Engine", "FwdBwdResult", "SampledSequence", "make_datum",
           "make_engine"]
