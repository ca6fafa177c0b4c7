"""A follow-up question answered from the conversation's KV cache versus by encoding everything again.

Taught in ``notebooks/04_kv_cache.ipynb``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vlmkit.core.device import resolve_device
from vlmkit.errors import ConfigurationError
from vlmkit.measure.records import Measurement
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, paired_speedup
from vlmkit.measure.speedup import Speedup
from vlmkit.models.images import ImageLike
from vlmkit.models.precisions import Precision, get_precision
from vlmkit.runtime.inference import Answer, VLMInference


@dataclass(frozen=True)
class FollowUpPair:
    """The same follow-up turn answered twice: from the cache and without it, and the cache's size."""

    cached: Answer
    uncached: Answer
    cache_bytes: int


def kv_cache_bytes(cache: object) -> int:
    """Bytes of the keys and values a transformers cache holds (every layer).

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    total = 0
    for layer in getattr(cache, "layers", []):
        for tensor in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if tensor is not None and hasattr(tensor, "numel"):
                total += tensor.numel() * tensor.element_size()
    return total


def follow_up_both_ways(vlm: VLMInference, image: ImageLike, first_question: str, follow_up: str,
                        first_tokens: int, answer_tokens: int, *, cached_first: bool = True) -> FollowUpPair:
    """Ask, then answer ``follow_up`` from the cache; ask again, then answer it with no cache (the other way round
    with ``cached_first=False``, so that pairs can alternate their order).

    Both conversations are identical (greedy decoding, fixed lengths), so the two
    follow-ups see the same token ids; only where their prefix comes from differs.
    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    def ask() -> None:
        vlm.ask(image, first_question, max_new_tokens=first_tokens, min_new_tokens=first_tokens)

    def cached() -> tuple[Answer, int]:
        ask()
        cache_bytes = kv_cache_bytes(vlm.kv_cache)
        return vlm.follow_up(follow_up, max_new_tokens=answer_tokens, min_new_tokens=answer_tokens), cache_bytes

    def uncached() -> Answer:
        ask()
        return vlm.follow_up_without_cache(follow_up, max_new_tokens=answer_tokens, min_new_tokens=answer_tokens)

    if cached_first:
        (with_cache, cache_bytes), without = cached(), uncached()
    else:
        without = uncached()
        with_cache, cache_bytes = cached()
    vlm.reset()
    return FollowUpPair(with_cache, without, cache_bytes)


@dataclass(frozen=True)
class KVCacheSettings:
    """Notebook 04's parameters, resolved: the model and precision, the image sides and follow-up answer lengths
    of the sweep (the headline's always among them), the timed pairs per cell, and the headline cell itself
    (the book's standard query: image side, answer tokens).

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """

    device: torch.device
    model: str
    precision: Precision
    sides: list[int]
    lengths: list[int]
    repeats: int
    headline: tuple[int, int]

    @property
    def cells(self) -> list[tuple[int, int]]:
        """Every (image side, answer tokens) of the sweep, side by side."""
        return [(side, n) for side in self.sides for n in self.lengths]

    def role(self, side: int, answer_tokens: int) -> str:
        """``"headline"`` for the book's query, ``"supporting"`` for every other cell."""
        return "headline" if (side, answer_tokens) == self.headline else "supporting"


def _numbers(text: str, what: str) -> set[int]:
    found = {int(n) for n in str(text).split(",")}
    if min(found) < 1:
        raise ConfigurationError(f"{what} must be comma-separated numbers >= 1, got {text!r}")
    return found


def kv_cache_settings(device: str | torch.device | None, headline: tuple[int, int], model: str = "auto",
                      precision: str = "bf16", image_sizes: str = "auto", answer_tokens: str = "auto",
                      repeats: int = 0) -> KVCacheSettings:
    """Resolve notebook 04's parameters around the ``headline`` cell (the standard query's side and answer length).

    ``model="auto"``: qwen3-vl-8b on CUDA, qwen3-vl-tiny on a CPU. ``image_sizes="auto"``: 224, 448, 896 and 1344 px
    on CUDA, 64, 128 and 256 on a CPU; ``answer_tokens="auto"``: 1 and 32 on CUDA, 1 and 8 on a CPU (the headline's
    side and length are always added). ``repeats`` 0: 3 timed pairs per cell.
    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    if repeats < 0:
        raise ConfigurationError(f"repeats must be 0 (the default, {MIN_PAIRS}) or a number of timed pairs, got {repeats}")
    sizes = image_sizes if image_sizes != "auto" else ("224,448,896,1344" if on_cuda else "64,128,256")
    answers = answer_tokens if answer_tokens != "auto" else ("1,32" if on_cuda else "1,8")
    return KVCacheSettings(
        device=dev, model=model if model != "auto" else ("qwen3-vl-8b" if on_cuda else "qwen3-vl-tiny"),
        precision=get_precision(precision), sides=sorted(_numbers(sizes, "image sizes") | {headline[0]}),
        lengths=sorted(_numbers(answers, "answer tokens") | {headline[1]}), repeats=repeats or MIN_PAIRS,
        headline=tuple(headline))


@dataclass(frozen=True)
class FollowUpCell:
    """One cell of notebook 04's sweep: a square image and a follow-up answer length, the untimed warm-up pair and
    the timed pairs (:func:`follow_up_both_ways`), and whether the cell is the headline.

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """

    side: int
    answer_tokens: int
    first_tokens: int
    role: str
    warm: FollowUpPair
    pairs: tuple[FollowUpPair, ...]

    def seconds(self, cached: bool, part: str = "total_s") -> list[float]:
        """Each timed follow-up's seconds, with the cache or without: its whole call (``"total_s"``) or its time to
        the first token (``"prefill_s"``)."""
        return [getattr((p.cached if cached else p.uncached).stats, part) for p in self.pairs]

    @property
    def cached_s(self) -> list[float]:
        """Each timed cached follow-up's whole call, in seconds."""
        return self.seconds(True)

    @property
    def uncached_s(self) -> list[float]:
        """Each timed follow-up without the cache, in seconds."""
        return self.seconds(False)

    @property
    def cached_ms(self) -> float:
        """The median cached follow-up, in ms."""
        return 1e3 * statistics.median(self.cached_s)

    @property
    def uncached_ms(self) -> float:
        """The median follow-up without the cache, in ms."""
        return 1e3 * statistics.median(self.uncached_s)

    @property
    def speedup(self) -> Speedup:
        """The follow-up without the cache over the cached one: the median paired ratio and its interval."""
        return paired_speedup(self.uncached_s, self.cached_s)

    @property
    def cached_ttft_s(self) -> list[float]:
        """Each timed cached follow-up's time to its first token (its prefill), in seconds."""
        return self.seconds(True, "prefill_s")

    @property
    def uncached_ttft_s(self) -> list[float]:
        """Each timed follow-up's time to its first token without the cache, in seconds."""
        return self.seconds(False, "prefill_s")

    @property
    def ttft_speedup(self) -> Speedup:
        """Time to first token without the cache over with it: what the cache saves before the answer starts."""
        return paired_speedup(self.uncached_ttft_s, self.cached_ttft_s)

    @property
    def visual_tokens(self) -> int:
        """The image's visual tokens, as the model got them."""
        return self.pairs[0].uncached.stats.visual_tokens

    @property
    def warmup_ratios(self) -> tuple[float, float]:
        """The warm-up pair's cached and uncached follow-ups over the timed medians."""
        return (self.warm.cached.stats.total_s / statistics.median(self.cached_s),
                self.warm.uncached.stats.total_s / statistics.median(self.uncached_s))

    @property
    def what(self) -> str:
        """What was timed, for the ``speed-claim`` record."""
        return (f"whole follow-up query, ms per query: {self.side} px image ({self.visual_tokens} visual tokens), "
                f"{self.answer_tokens}-token answer")

    @property
    def shapes(self) -> dict[str, Any]:
        """The record's shapes: image, visual tokens, answer and first-answer lengths."""
        return {"image": [self.side, self.side], "visual_tokens": self.visual_tokens,
                "answer_tokens": self.answer_tokens, "first_tokens": self.first_tokens}

    def row(self) -> dict[str, Any]:
        """The cell as a row of the sweep's table (times are medians in ms, ``cache`` in bytes)."""
        u, c, s = self.pairs[0].uncached.stats, self.pairs[0].cached.stats, self.speedup
        warm_cached, warm_uncached = self.warmup_ratios
        return {"image": self.side, "visual tokens": u.visual_tokens, "answer tokens": self.answer_tokens,
                "role": self.role, "tokens without cache": u.tokens_in, "tokens with cache": c.tokens_in,
                "cached tokens": c.tokens_cached, "cached (ms)": self.cached_ms, "no cache (ms)": self.uncached_ms,
                "speed-up": s.ratio, "low": s.low, "high": s.high,
                "TTFT cached (ms)": 1e3 * statistics.median(self.cached_ttft_s),
                "TTFT no cache (ms)": 1e3 * statistics.median(self.uncached_ttft_s),
                "TTFT speed-up": self.ttft_speedup.ratio, "cache": self.pairs[0].cache_bytes,
                "warm-up / timed, cached": warm_cached, "warm-up / timed, no cache": warm_uncached}


def follow_up_cell(vlm: VLMInference, image: ImageLike, side: int, first_question: str, follow_up: str,
                   first_tokens: int, answer_tokens: int, *, repeats: int, role: str) -> FollowUpCell:
    """:data:`vlmkit.measure.interleaved.MIN_WARMUPS` untimed warm-up pairs, then ``repeats`` timed pairs of
    :func:`follow_up_both_ways` on ``image``, the order within a pair alternating (cached first, then last).

    The warm-ups pay what the first follow-ups of a new cache length would pay alone (PyTorch's allocator
    reserving new memory); the first is kept to say how much slower it was, never judged.
    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    def pair(i: int) -> FollowUpPair:
        return follow_up_both_ways(vlm, image, first_question, follow_up, first_tokens, answer_tokens,
                                   cached_first=i % 2 == 0)

    warm = [pair(i) for i in range(MIN_WARMUPS)]
    pairs = tuple(pair(i) for i in range(repeats))
    return FollowUpCell(side, answer_tokens, first_tokens, role, warm[0], pairs)


@dataclass(frozen=True)
class KVCacheClaimMeasurement(Measurement):
    """Notebook 04's ``speed-claim`` record of one sweep cell: the seed's KV-cache claim judged on the whole
    follow-up (``vlmkit.verdicts.rules.judge_speed_claim``), with the timings (whole follow-ups and their times to
    first token, with the paired TTFT speed-up beside the whole one), the cache's bytes, the first warm-up pair and
    the tokens each follow-up pushed through the model.

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """

    EXPERIMENT = "speed-claim"
    claim: str
    claim_text: str
    claimed: list[float]
    what: str
    baseline: str
    variant: str
    role: str
    ratio: float
    low: float
    high: float
    verdict: str
    cached_s: list[float]
    uncached_s: list[float]
    cache_bytes: int
    warmup_cached_s: float
    warmup_uncached_s: float
    tokens_in_cached: int
    tokens_in_uncached: int
    method: str = "medians"
    pairs: int | None = None
    coverage: float | None = None
    note: str | None = None
    cached_ttft_s: list[float] | None = None
    uncached_ttft_s: list[float] | None = None
    ttft_speedup: dict[str, Any] | None = None

    @classmethod
    def of(cls, cell: FollowUpCell, judged: Mapping[str, Any]) -> KVCacheClaimMeasurement:
        """The record of ``cell``, whose claim was judged as ``judged`` (``judge_speed_claim``'s metrics)."""
        first = cell.pairs[0]
        return cls(**judged, cached_s=cell.cached_s, uncached_s=cell.uncached_s, cache_bytes=first.cache_bytes,
                   cached_ttft_s=cell.cached_ttft_s, uncached_ttft_s=cell.uncached_ttft_s,
                   ttft_speedup=cell.ttft_speedup.as_dict(),
                   warmup_cached_s=cell.warm.cached.stats.total_s, warmup_uncached_s=cell.warm.uncached.stats.total_s,
                   tokens_in_cached=first.cached.stats.tokens_in, tokens_in_uncached=first.uncached.stats.tokens_in)


def follow_up_findings(cells: Sequence[FollowUpCell], claims: Sequence[KVCacheClaimMeasurement]) -> dict[str, Any]:
    """What notebook 04's sweep says, as the values its explanation states: the headline cell and its verdict, a
    one-token follow-up at the fewest and the most visual tokens, what each further answer token costs, the warm-up
    pairs against the timed medians, and the cells where the seed's 3-5x holds (``claims`` in the order of ``cells``).

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    def at(visual: int, n: int) -> FollowUpCell:
        return next(c for c in cells if c.visual_tokens == visual and c.answer_tokens == n)

    head = next(i for i, c in enumerate(cells) if c.role == "headline")
    lengths = [c.answer_tokens for c in cells]
    one, longest = min(lengths), max(lengths)
    small, large = min(c.visual_tokens for c in cells), max(c.visual_tokens for c in cells)
    warm = [c.warmup_ratios for c in cells]
    return {
        "head": cells[head], "head_verdict": claims[head].verdict, "one": one, "longest": longest, "small": small,
        "large": large, "small_one": at(small, one), "large_one": at(large, one), "large_longest": at(large, longest),
        "own_tokens": cells[0].pairs[0].cached.stats.tokens_in,
        "per_token_ms": (at(large, longest).cached_ms - at(large, one).cached_ms) / max(longest - one, 1),
        "saved_ms": at(large, one).uncached_ms - at(large, one).cached_ms,
        "warmup_cached": (statistics.median(w[0] for w in warm), max(w[0] for w in warm)),
        "warmup_uncached": (statistics.median(w[1] for w in warm), max(w[1] for w in warm)),
        "held": [c for c, m in zip(cells, claims) if m.verdict == "holds"],
    }
