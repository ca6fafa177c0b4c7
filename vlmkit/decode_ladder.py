"""The decode ladder: the same answer decoded four ways, each rung removing more per-token overhead.

1. ``generate``, eager, dynamic cache (what every notebook of the book times);
2. ``generate`` with ``use_compile`` (a static cache and transformers' own compilation);
3. :class:`vlmkit.decode_loop.DecodeLoop` with an eager step (static cache, no per-token host sync);
4. the same loop with its step compiled whole (``reduce-overhead``: replayed as a CUDA graph).

Each rung reports tokens per second, the share of the measured copy bandwidth its decode reaches (weight bytes
each token reads / time per token) and its warm-up (the first answer, compilation included). A rung that cannot
run here says why instead of a number.

Taught in ``notebooks/09_decode_ladder.ipynb``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from vlmkit.decode_loop import DecodeLoop
from vlmkit.inference import VLMInference
from vlmkit.loading import LoadedModel
from vlmkit.roofline import Ceilings, decode_step_work


@dataclass(frozen=True)
class Rung:
    """One way of decoding, measured: median decode time per token over the repeats, after the warm-up."""

    name: str
    decode_s_per_token: float | None
    tokens_per_s: float | None
    bandwidth_share: float | None
    warmup_s: float | None
    repeats: int
    note: str = ""

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return asdict(self)


def _rung(name: str, warmup_s: float, per_token: list[float], step_bytes: int, ceilings: Ceilings) -> Rung:
    median = float(np.median(per_token))
    return Rung(name, median, 1 / median, step_bytes / median / ceilings.bandwidth, warmup_s, len(per_token))


def climb(loaded: LoadedModel, ceilings: Ceilings, *, image_size: int, new_tokens: int, repeats: int,
          compile_backend: str = "inductor") -> list[Rung]:
    """Decode one fixed-length answer about a random ``image_size`` px image on every rung of the ladder.

    ``compile_backend`` is TorchInductor for real measurements; ``"eager"`` checks on a CPU that every rung runs
    (compiled graphs without generated code). Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    if new_tokens < 2:
        raise ValueError(f"decode time per token needs at least 2 new tokens, got {new_tokens}")
    step_bytes = decode_step_work(loaded.report.weights)[1]
    image = (np.random.default_rng(0).random((image_size, image_size, 3)) * 255).astype(np.uint8)
    question = "What is in the image? Describe it."
    rungs = []
    for name, use_compile in (("generate, eager, dynamic cache", False), ("generate, use_compile=True", True)):
        vlm = VLMInference.from_loaded(loaded, use_compile=use_compile, static_cache_tokens=1024)
        calls = [vlm.ask(image, question, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
                 for _ in range(repeats + 1)]
        rung = _rung(name, calls[0].stats.total_s, [c.stats.decode_s_per_token for c in calls[1:]], step_bytes,
                     ceilings)
        graphs = calls[0].stats.compiled_graphs
        rungs.append(rung if graphs is None else
                     Rung(**{**rung.as_dict(), "note": f"{graphs} graph(s) compiled in the first call"}))
    inputs = dict(VLMInference.from_loaded(loaded).encode([image], [question]))
    for name, mode in (("static-cache loop, eager step", None), ("static-cache loop, compiled step", "reduce-overhead")):
        mode = mode if loaded.model.device.type == "cuda" or mode is None else "default"  # CUDA graphs need CUDA
        loop = DecodeLoop(loaded.model, max_tokens=inputs["input_ids"].shape[1] + new_tokens, compile_mode=mode,
                          compile_backend=compile_backend)
        start = time.perf_counter()
        loop.generate(inputs, new_tokens)
        warmup = time.perf_counter() - start
        per_token = [loop.generate(inputs, new_tokens).decode_s_per_token for _ in range(repeats)]
        rung = _rung(name, warmup, per_token, step_bytes, ceilings)
        rungs.append(rung if mode is None else Rung(**{**rung.as_dict(), "note": f"torch.compile mode={mode}, "
                                                                                 f"backend={compile_backend}"}))
        del loop
    return rungs
