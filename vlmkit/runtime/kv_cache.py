"""A follow-up question answered from the conversation's KV cache versus by encoding everything again.

Taught in ``notebooks/04_kv_cache.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmkit.models.images import ImageLike
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
                        first_tokens: int, answer_tokens: int) -> FollowUpPair:
    """Ask, then answer ``follow_up`` from the cache; ask again, then answer it with no cache.

    Both conversations are identical (greedy decoding, fixed lengths), so the two
    follow-ups see the same token ids; only where their prefix comes from differs.
    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    vlm.ask(image, first_question, max_new_tokens=first_tokens, min_new_tokens=first_tokens)
    cache_bytes = kv_cache_bytes(vlm.kv_cache)
    cached = vlm.follow_up(follow_up, max_new_tokens=answer_tokens, min_new_tokens=answer_tokens)
    vlm.ask(image, first_question, max_new_tokens=first_tokens, min_new_tokens=first_tokens)
    uncached = vlm.follow_up_without_cache(follow_up, max_new_tokens=answer_tokens, min_new_tokens=answer_tokens)
    vlm.reset()
    return FollowUpPair(cached, uncached, cache_bytes)
