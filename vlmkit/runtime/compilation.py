"""What TorchDynamo did during a call, and where compiled kernels are cached.

transformers compiles the decoding forward of a static-cache ``generate`` by itself where its own rules allow
it. Whether anything compiled, how often a function was compiled again and why, is read off TorchDynamo's graph
counter and its compile events during the call (:func:`watch_compiles`), never predicted from a copy of
transformers' rules. ``VLMInference(use_compile=True)`` reports through it.

Taught in ``notebooks/05_compile.ipynb``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch._dynamo.utils import (
    clear_compilation_metrics,
    counters,
    get_compilation_metrics,
)
from torch._inductor.utils import fresh_inductor_cache
from transformers import PreTrainedModel

COMPILE_CACHES = ("fresh", "machine")


def compile_cache(kind: str) -> contextlib.AbstractContextManager[None]:
    """Where compiled kernels go while a variant runs: ``"fresh"`` or ``"machine"``.

    ``"fresh"``: an empty TorchInductor and Triton cache (PyTorch's ``fresh_inductor_cache``), so a warm-up
    time is a first compilation; ``"machine"``: the machine's on-disk cache, which a later process reuses
    (its warm-up then mostly loads kernels compiled before). Taught in ``notebooks/05_compile.ipynb``.
    """
    if kind not in COMPILE_CACHES:
        raise ValueError(f"unknown compile cache {kind!r}; choose one of {COMPILE_CACHES}")
    return fresh_inductor_cache() if kind == "fresh" else contextlib.nullcontext()


def quiet_compiler() -> None:
    """Keep TorchDynamo's and TorchInductor's warnings (recompile limits, graph breaks) out of the outputs.

    What they would say is read off the compile events instead (:class:`CompileActivity`) and stated once
    where it matters. Taught in ``notebooks/05_compile.ipynb``.
    """
    torch._logging.set_logs(dynamo=logging.ERROR, inductor=logging.ERROR)


@dataclass(frozen=True)
class CompileEvent:
    """One compilation TorchDynamo attempted: the function, why it compiled again, and how it ended."""

    function: str
    recompile_reason: str | None  # the guard that failed, or None for a first compilation
    failure: str | None  # why the attempt gave up (e.g. the recompile limit), or None
    compiled: bool  # whether it installed compiled code


@dataclass
class CompileActivity:
    """What TorchDynamo did during a block: graphs compiled and every compile event, in order.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    graphs: int = 0
    events: list[CompileEvent] = field(default_factory=list)

    @property
    def recompiles(self) -> list[CompileEvent]:
        """The events that compiled a function again because a guard of an earlier compilation failed."""
        return [e for e in self.events if e.recompile_reason and not e.failure]

    @property
    def limit_hits(self) -> list[str]:
        """The functions TorchDynamo stopped compiling because they reached ``torch._dynamo.config.recompile_limit``
        (they run eagerly from then on)."""
        return sorted({e.function for e in self.events if e.failure and "recompile limit" in e.failure.lower()})

    def as_dict(self) -> dict:
        """Counts, the recompiled functions and the first few distinct recompile reasons, for records."""
        reasons = list(dict.fromkeys(e.recompile_reason for e in self.recompiles))
        per_function: dict[str, int] = {}
        for e in self.recompiles:
            per_function[e.function] = per_function.get(e.function, 0) + 1
        per_function = dict(sorted(per_function.items(), key=lambda kv: -kv[1]))
        return {"graphs": self.graphs, "compile_events": len(self.events), "recompiles": len(self.recompiles),
                "recompiles_per_function": per_function, "recompile_reasons": reasons[:8],
                "recompile_limit": int(torch._dynamo.config.recompile_limit), "limit_hits": self.limit_hits}


def _first_line(text: str | None) -> str | None:
    """The first line, without TorchDynamo's compile-id prefix (``"6/0: "``)."""
    return re.sub(r"^\[?\d+/\d+\]?:\s*", "", text.strip().splitlines()[0]) if text and text.strip() else None


def _frame(compile_id: object) -> str:
    """The frame part of a compile id (``"6"`` of ``"6/8"``): one function, however often it was compiled."""
    return str(compile_id).strip("[]").split("/")[0]


@contextlib.contextmanager
def watch_compiles() -> Iterator[CompileActivity]:
    """Observe TorchDynamo during the block: the graph counter's increase and the compile events it recorded.

    The events are TorchDynamo's own (``torch._dynamo.utils.get_compilation_metrics``: one per compilation it
    attempted, with the failed guard that made it compile again). Taught in ``notebooks/05_compile.ipynb``.
    """
    activity = CompileActivity()
    clear_compilation_metrics()
    before = int(counters["stats"]["unique_graphs"])
    try:
        yield activity
    finally:
        activity.graphs = int(counters["stats"]["unique_graphs"]) - before
        metrics = [m for m in get_compilation_metrics() if not getattr(m, "is_runtime", False)]
        # an attempt that gave up early (the recompile limit) carries no function name: take its frame's
        names = {_frame(m.compile_id): m.co_name for m in metrics if m.co_name}
        activity.events = [
            CompileEvent(m.co_name or names.get(_frame(m.compile_id), "?"),
                         _first_line(getattr(m, "recompile_reason", None)), _first_line(m.fail_reason),
                         bool(m.has_guarded_code))
            for m in metrics]


def why_nothing_compiled(model: PreTrainedModel, activity: CompileActivity) -> str | None:
    """Why a ``generate`` that transformers was allowed to compile ran eagerly, or ``None`` if it compiled.

    The fact is observed (no graph compiled during the call); the reason is added only where transformers states
    it: a quantizer whose ``is_compileable`` is False. Taught in ``notebooks/05_compile.ipynb``.
    """
    if activity.graphs:
        return None
    observed = f"transformers compiled nothing during a static-cache generate on {model.device.type} (observed: 0 graphs)"
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and not quantizer.is_compileable:
        return f"{observed}; transformers' {type(quantizer).__name__} says is_compileable=False"
    return observed
