"""Greedy decoding without per-token overhead: a static KV cache and one token step, compiled whole.

``generate`` pays for Python, launches and a host synchronisation on every token; notebook 03 measured that this,
not the GPU, sets the 8B model's decode speed. :class:`DecodeLoop` keeps the technique of PyTorch's gpt-fast and of
transformers' guide to LLM optimisation in a few lines: the prompt (image included) goes through the model once
(prefill, eager, which also fixes the M-RoPE offset of the answer), then every new token runs the same step on
tensors of fixed shape: embed the last token, run the language model on transformers' ``StaticCache`` (which moves
its own write position in place), pick the greedy token on the device. With ``compile_mode="reduce-overhead"`` that
step is one ``torch.compile(fullgraph=True)`` graph replayed as a CUDA graph; the host waits once, at the end.

Taught in ``notebooks/09_decode_ladder.ipynb``; the speed notebooks use
``generate``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import Qwen3VLForConditionalGeneration, StaticCache

from vlmkit.core.device import synchronize
from vlmkit.errors import ConfigurationError


@dataclass(frozen=True)
class LoopResult:
    """The greedy answer's token ids and where the time went (host clock, device synchronised at both ends)."""

    tokens: torch.Tensor  # (batch, new_tokens), on the CPU
    prefill_s: float  # the prompt through the model, up to the first new token
    decode_s_per_token: float | None  # each token after the first (None for a one-token answer)


class DecodeLoop:
    """Greedy decoding of a Qwen3-VL model with a static cache and one (optionally compiled) token step.

    ``max_tokens``: the cache's positions (prompt plus answer). ``compile_mode``: ``None`` (eager step),
    ``"default"`` or ``"reduce-overhead"`` (CUDA graphs) for ``torch.compile``; ``compile_backend`` is
    TorchInductor unless told otherwise (``"eager"`` checks that the step compiles whole without generating
    code). ``fixed_length``: end-of-text tokens are never picked, as ``generate`` does with ``min_new_tokens``,
    so every answer has the length a benchmark asks for.
    """

    def __init__(self, model: Qwen3VLForConditionalGeneration, *, max_tokens: int, compile_mode: str | None = None,
                 compile_backend: str = "inductor", fixed_length: bool = True):
        if compile_mode not in (None, "default", "reduce-overhead", "max-autotune"):
            raise ConfigurationError(f"unknown compile_mode {compile_mode!r}: None, 'default', 'reduce-overhead' "
                                     "or 'max-autotune'")
        self.model = model
        self.device = model.device
        self.cache = StaticCache(config=model.config, max_cache_len=max_tokens)
        eos = model.generation_config.eos_token_id
        eos_ids = [] if eos is None or not fixed_length else [eos] if isinstance(eos, int) else list(eos)
        self._eos = torch.tensor(eos_ids, dtype=torch.long, device=self.device)
        step: Callable[[torch.Tensor], torch.Tensor] = self._step
        self.step = (torch.compile(step, mode=compile_mode, fullgraph=True, backend=compile_backend)
                     if compile_mode else step)

    def _pick(self, logits: torch.Tensor) -> torch.Tensor:
        """The greedy next token of each row, (batch, 1); end-of-text excluded for fixed-length answers."""
        if self._eos.numel():
            logits = logits.index_fill(-1, self._eos, float("-inf"))
        return logits.argmax(-1, keepdim=True)

    def _step(self, token: torch.Tensor) -> torch.Tensor:
        """One decode step: the token's embedding through the language model on the static cache, then lm_head."""
        inner = self.model.model
        position = (self.cache.get_seq_length() + inner.rope_deltas).view(1, -1, 1).expand(3, -1, 1)
        hidden = inner.language_model(inputs_embeds=inner.language_model.embed_tokens(token), position_ids=position,
                                      past_key_values=self.cache, use_cache=True).last_hidden_state
        return self._pick(self.model.lm_head(hidden[:, -1]))

    @torch.inference_mode()
    def generate(self, inputs: dict[str, torch.Tensor], new_tokens: int) -> LoopResult:
        """Answer the processor's ``inputs`` (one image and question, or a batch of equal length) with
        ``new_tokens`` greedy tokens.
        """
        prompt = inputs["input_ids"].shape[1]
        if prompt + new_tokens > self.cache.get_max_length():
            raise ConfigurationError(f"the prompt ({prompt} tokens) and {new_tokens} new tokens need "
                                     f"{prompt + new_tokens} cache positions; this loop's cache holds "
                                     f"{self.cache.get_max_length()} (max_tokens)")
        self.cache.reset()
        self.model.model.rope_deltas = None
        out = torch.empty(inputs["input_ids"].shape[0], new_tokens, dtype=torch.long, device=self.device)
        synchronize(self.device)
        start = time.perf_counter()
        logits = self.model(**inputs, past_key_values=self.cache, use_cache=True, logits_to_keep=1).logits
        token = self._pick(logits[:, -1])
        out[:, :1] = token
        synchronize(self.device)
        first = time.perf_counter()
        for i in range(1, new_tokens):
            token = self.step(token.clone())  # a fresh input each step: CUDA-graph outputs are reused buffers
            out[:, i:i + 1] = token
        synchronize(self.device)
        end = time.perf_counter()
        return LoopResult(out.cpu(), first - start, (end - first) / (new_tokens - 1) if new_tokens > 1 else None)
