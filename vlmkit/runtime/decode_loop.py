"""Decoding without per-token overhead: a static KV cache and one token step, compiled whole.

``generate`` pays for Python, launches and a host synchronisation on every token; notebook 03 measured that this,
not the GPU, sets the 8B model's decode speed. :class:`DecodeLoop` keeps the technique of PyTorch's gpt-fast and of
transformers' guide to LLM optimisation in a few lines: the prompt (image included) goes through the model once
(prefill, eager, which also fixes the M-RoPE offset of the answer), then every new token runs the same step on
tensors of fixed shape: embed the last token, run the language model on transformers' ``StaticCache`` (which moves
its own write position in place), pick the next token on the device (greedy, or sampled as the model's
``GenerationConfig`` says: temperature, top-k, top-p). With ``compile_mode="cuda-graph"`` that step is one
``torch.compile(fullgraph=True)`` graph, captured by hand into one ``torch.cuda.CUDAGraph`` and replayed for every
token (measured on an H100: INT4's step replayed through ``mode="reduce-overhead"``'s CUDA-graph trees spent
8.3 ms of host time per token, captured by hand 17 µs; BF16's the same either way). The host waits only every
:data:`STOP_CHECK_TOKENS` tokens, to see whether an end-of-text token was picked, and never while
``min_new_tokens`` bans them (a benchmark's fixed-length answer waits once, at the end).

A conversation continues on the same cache: :meth:`DecodeLoop.answer` with ``cached`` positions pushes only the new
turn's tokens through the model (Qwen3-VL places them after the cached ones with the conversation's
``rope_deltas``), so ``VLMInference(use_compile=True)`` follows up on its static cache.

Taught in ``notebooks/09_decode_ladder.ipynb``; ``VLMInference(use_compile=True)`` decodes through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, Qwen3VLForConditionalGeneration, StaticCache

from vlmkit.core.device import synchronize
from vlmkit.errors import ConfigurationError

#: Tokens decoded between two looks for an end-of-text token (each look waits for the device once).
STOP_CHECK_TOKENS = 16

#: How the token step runs: eager (None), ``torch.compile``'s modes, or ``"cuda-graph"``: compiled (mode
#: ``"default"``) and captured by hand into one ``torch.cuda.CUDAGraph`` (CUDA only).
CUDA_GRAPH = "cuda-graph"
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", CUDA_GRAPH)
#: Untimed runs of the step on a side stream before it is captured (CUDA's rule: warm up before capturing).
CAPTURE_WARMUPS = 3


@dataclass(frozen=True)
class LoopResult:
    """The answer's token ids and where the time went (host clock, device synchronised at both ends).

    ``tokens`` ends with the end-of-text token where one was picked (as ``generate``'s sequences do).
    """

    tokens: torch.Tensor  # (batch, new tokens), on the CPU
    prefill_s: float  # the prompt (or the new turn) through the model, up to the first new token
    decode_s_per_token: float | None  # each token after the first (None for a one-token answer)


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked: greedy, or sampled with ``temperature``, ``top_k`` and ``top_p``."""

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    @classmethod
    def of(cls, config: GenerationConfig) -> Sampling:
        """The sampling a model's ``GenerationConfig`` asks for (greedy unless ``do_sample``)."""
        if not config.do_sample:
            return cls()
        top_p = config.top_p if config.top_p is not None and config.top_p < 1.0 else None
        return cls(True, float(config.temperature or 1.0), config.top_k or None, top_p)

    def unsupported(self, config: GenerationConfig) -> list[str]:
        """The settings of ``config`` the loop does not apply (``generate`` would), in words."""
        found = []
        if (config.repetition_penalty or 1.0) != 1.0:
            found.append(f"repetition_penalty={config.repetition_penalty}")
        if config.num_beams and config.num_beams > 1:
            found.append(f"num_beams={config.num_beams}")
        return found


class DecodeLoop:
    """Decoding of a Qwen3-VL model with a static cache and one (optionally compiled) token step.

    ``max_tokens``: the cache's positions (conversation plus answer). ``compile_mode``: ``None`` (eager step),
    ``"default"``, ``"reduce-overhead"`` (CUDA-graph trees) for ``torch.compile``, or ``"cuda-graph"`` (compiled,
    then captured by hand into one CUDA graph: the fast path on CUDA); ``compile_backend`` is
    TorchInductor unless told otherwise (``"eager"`` checks that the step compiles whole without generating
    code). ``fixed_length``: :meth:`generate` never picks end-of-text tokens, as ``generate`` does with
    ``min_new_tokens``, so every answer has the length a benchmark asks for. The next token is picked as the
    model's ``generation_config`` says (:class:`Sampling`), or greedily with ``greedy=True``.
    """

    def __init__(self, model: Qwen3VLForConditionalGeneration, *, max_tokens: int, compile_mode: str | None = None,
                 compile_backend: str = "inductor", fixed_length: bool = True, greedy: bool = False):
        if compile_mode not in COMPILE_MODES:
            raise ConfigurationError(f"unknown compile_mode {compile_mode!r}: None, 'default', 'reduce-overhead', "
                                     "'max-autotune' or 'cuda-graph'")
        if compile_mode == CUDA_GRAPH and model.device.type != "cuda":
            raise ConfigurationError(f"compile_mode='cuda-graph' captures a CUDA graph; this model is on "
                                     f"{model.device.type}: use 'default' there")
        if max_tokens < 2:
            raise ConfigurationError(f"max_tokens must be at least 2 cache positions, got {max_tokens}")
        self.model = model
        self.device = model.device
        self.fixed_length = fixed_length
        self.sampling = Sampling() if greedy else Sampling.of(model.generation_config)
        self.unsupported = [] if greedy else self.sampling.unsupported(model.generation_config)
        with torch.inference_mode():  # the cache's tensors are made (and later updated) there
            self.cache = StaticCache(config=model.config, max_cache_len=max_tokens)
        eos = model.generation_config.eos_token_id
        eos_ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self._eos = torch.tensor(eos_ids, dtype=torch.long, device=self.device)
        self._ban = torch.ones((), dtype=torch.bool, device=self.device)  # end-of-text banned (min_new_tokens)
        self._deltas: torch.Tensor | None = None  # the conversation's M-RoPE offset, per row (rope_deltas)
        step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = self._step
        mode = "default" if compile_mode == CUDA_GRAPH else compile_mode
        self._compiled = torch.compile(step, mode=mode, fullgraph=True, backend=compile_backend) if mode else step
        self.step = self._replay if compile_mode == CUDA_GRAPH else self._compiled
        self._graph: torch.cuda.CUDAGraph | None = None
        self._token_in = self._token_out = None
        #: CUDA graphs captured so far (``"cuda-graph"``: one per batch size and M-RoPE shape; 0 otherwise).
        self.graphs_captured = 0

    @property
    def max_tokens(self) -> int:
        """The cache's positions."""
        return int(self.cache.get_max_length())

    def _pick(self, logits: torch.Tensor, ban: torch.Tensor) -> torch.Tensor:
        """The next token of each row, (batch, 1): end-of-text excluded while ``ban`` (a 0-dim bool) holds."""
        if self._eos.numel():
            logits = torch.where(ban, logits.index_fill(-1, self._eos, float("-inf")), logits)
        s = self.sampling
        if not s.do_sample:
            return logits.argmax(-1, keepdim=True)
        logits = logits.float() / s.temperature
        if s.top_k is not None:
            kth = torch.topk(logits, min(s.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if s.top_p is not None:
            ordered, order = torch.sort(logits, descending=True, dim=-1)
            cumulative = ordered.softmax(-1).cumsum(-1)
            drop = (cumulative - ordered.softmax(-1)) > s.top_p  # keep the smallest head that reaches top_p
            logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
        probs = logits.softmax(-1)
        # the exponential race: argmax of p / E with E ~ Exp(1) draws from p, without a host-side multinomial
        return (probs / torch.empty_like(probs).exponential_(1)).argmax(-1, keepdim=True)

    def _step(self, token: torch.Tensor, ban: torch.Tensor) -> torch.Tensor:
        """One decode step: the token's embedding through the language model on the static cache, then lm_head."""
        inner = self.model.model
        position = (self.cache.get_seq_length() + self._deltas).view(1, -1, 1).expand(3, -1, 1)
        hidden = inner.language_model(inputs_embeds=inner.language_model.embed_tokens(token), position_ids=position,
                                      past_key_values=self.cache, use_cache=True).last_hidden_state
        return self._pick(self.model.lm_head(hidden[:, -1]), ban)

    def _use_deltas(self, deltas: torch.Tensor) -> None:
        """The step's M-RoPE offset: copied into the captured graph's buffer where it has one of that shape (a new
        shape needs a new capture), else the model's tensor itself."""
        if self._graph is not None and self._deltas is not None and self._deltas.shape == deltas.shape:
            self._deltas.copy_(deltas)
        else:
            self._graph = None
            self._deltas = deltas.clone()

    def _capture(self, token: torch.Tensor, ban: torch.Tensor) -> None:
        """Capture the compiled step into one CUDA graph for ``token``'s batch size: warm-ups on a side stream, the
        capture, then the cache's write position set back (the warm-ups advanced it; their entries lie past it,
        masked, and are overwritten by the steps that follow)."""
        positions = int(self.cache.get_seq_length())
        self._token_in = token.clone()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(CAPTURE_WARMUPS):
                self._compiled(self._token_in, ban)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._token_out = self._compiled(self._token_in, ban)
        self._rewind(positions)
        self._graph = graph
        self.graphs_captured += 1

    def _replay(self, token: torch.Tensor, ban: torch.Tensor) -> torch.Tensor:
        """The ``"cuda-graph"`` step: the token copied into the graph's input, one replay, the graph's output (a
        buffer the next replay overwrites). ``ban`` is always this loop's own tensor, read in place."""
        if self._graph is None or self._token_in.shape != token.shape:
            self._capture(token, ban)
        self._token_in.copy_(token)
        self._graph.replay()
        return self._token_out

    def generate(self, inputs: dict[str, torch.Tensor], new_tokens: int) -> LoopResult:
        """Answer the processor's ``inputs`` (one image and question, or a batch of equal length) with
        ``new_tokens`` tokens on an emptied cache (a fixed-length answer unless ``fixed_length=False``).
        """
        return self.answer(inputs, max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens if self.fixed_length else 0)

    @torch.inference_mode()
    def answer(self, inputs: dict[str, torch.Tensor], *, max_new_tokens: int, min_new_tokens: int = 0,
               cached: int = 0) -> LoopResult:
        """Answer ``inputs`` with up to ``max_new_tokens`` tokens, stopping after an end-of-text token once
        ``min_new_tokens`` are out. ``cached`` 0 starts on an emptied cache; otherwise the cache holds the first
        ``cached`` positions of ``inputs["input_ids"]`` (the conversation so far, with the model's ``rope_deltas``
        still those of its image) and only the rest goes through the model.
        """
        ids = inputs["input_ids"]
        prompt = ids.shape[1]
        if not 0 <= min_new_tokens <= max_new_tokens or max_new_tokens < 1:
            raise ConfigurationError(f"need max_new_tokens >= 1 and 0 <= min_new_tokens <= max_new_tokens, got "
                                     f"{max_new_tokens}, {min_new_tokens}")
        if prompt + max_new_tokens > self.max_tokens:
            raise ConfigurationError(f"the prompt ({prompt} tokens) and {max_new_tokens} new tokens need "
                                     f"{prompt + max_new_tokens} cache positions; this loop's cache holds "
                                     f"{self.max_tokens} (max_tokens)")
        if cached == 0:
            self.cache.reset()
            self.model.model.rope_deltas = None
            prefill = dict(inputs)
        else:
            if cached != int(self.cache.get_seq_length()) or cached >= prompt:
                raise ConfigurationError(f"the cache holds {int(self.cache.get_seq_length())} positions; "
                                         f"cached={cached} of a {prompt}-token conversation does not continue it")
            # the new turn's M-RoPE positions: after the cached ones, shifted by the conversation's rope_deltas
            positions = torch.arange(cached, prompt, device=ids.device).view(1, 1, -1) + self.model.model.rope_deltas
            prefill = {"input_ids": ids[:, cached:], "position_ids": positions.view(1, ids.shape[0], -1).expand(3, -1, -1)}
        out = torch.empty(ids.shape[0], max_new_tokens, dtype=torch.long, device=self.device)
        synchronize(self.device)
        start = time.perf_counter()
        self._ban.fill_(min_new_tokens > 0)
        logits = self.model(**prefill, past_key_values=self.cache, use_cache=True, logits_to_keep=1).logits
        self._use_deltas(self.model.model.rope_deltas)
        token = self._pick(logits[:, -1], self._ban)
        out[:, :1] = token
        synchronize(self.device)
        first = time.perf_counter()
        produced = self._decode(token, out, min_new_tokens)
        self._rewind(prompt + produced - 1)
        synchronize(self.device)
        end = time.perf_counter()
        tokens = self._pad_after_stop(out[:, :produced].cpu(), min_new_tokens)
        return LoopResult(tokens, first - start, (end - first) / (produced - 1) if produced > 1 else None)

    def _decode(self, token: torch.Tensor, out: torch.Tensor, min_new_tokens: int) -> int:
        """Fill ``out`` after its first token; the number of tokens produced (up to an end-of-text token)."""
        can_stop = self._eos.numel() > 0 and min_new_tokens < out.shape[1]
        if can_stop and min_new_tokens == 0 and self._stopped(out, 0, 1) is not None:
            return 1
        for i in range(1, out.shape[1]):
            if i == min_new_tokens:
                self._ban.fill_(False)  # a device-side write: no wait for the host
            token = self.step(token.clone(), self._ban)  # a fresh input each step: CUDA-graph outputs are reused
            out[:, i:i + 1] = token
            if can_stop and i + 1 > min_new_tokens and ((i + 1) % STOP_CHECK_TOKENS == 0 or i + 1 == out.shape[1]):
                stop = self._stopped(out, min_new_tokens, i + 1)
                if stop is not None:
                    return stop
        return out.shape[1]

    @torch.inference_mode()
    def take_over(self, cache: StaticCache) -> None:
        """Continue a conversation held in another loop's (smaller) static cache: its positions are copied here."""
        if cache.get_max_length() > self.max_tokens:
            raise ConfigurationError(f"a {cache.get_max_length()}-position cache does not fit this loop's "
                                     f"{self.max_tokens}")
        self.cache.reset()
        _copy_cache(cache, self.cache)

    def _rewind(self, positions: int) -> None:
        """Forget the cache entries of steps that ran past the end-of-text token (decoded before the host looked):
        the next turn then continues right after the answer (the answer's last token is never in the cache)."""
        for layer in self.cache.layers:
            if layer.is_initialized:
                layer.cumulative_length.fill_(positions)

    def _pad_after_stop(self, tokens: torch.Tensor, min_new_tokens: int) -> torch.Tensor:
        """Rows of a batch that stopped before the others: their tokens after the end-of-text token become the pad
        token, as in ``generate``'s sequences."""
        pad = self.model.generation_config.pad_token_id
        if tokens.shape[0] == 1 or pad is None or not self._eos.numel():
            return tokens
        hits = torch.isin(tokens, self._eos.cpu())
        hits[:, :min_new_tokens] = False
        after = hits.int().cumsum(-1) - hits.int() > 0
        return tokens.masked_fill(after, pad)

    def _stopped(self, out: torch.Tensor, begin: int, end: int) -> int | None:
        """The length of the answer if every row picked an end-of-text token in ``out[:, begin:end]`` (the count
        up to and including the latest row's first one), else ``None``. Waits for the device."""
        hits = torch.isin(out[:, begin:end], self._eos)
        if not bool(hits.any(-1).all()):
            return None
        return begin + int(hits.int().argmax(-1).max()) + 1


#: The smallest static cache :class:`CacheBuckets` gives a conversation (positions); larger ones double.
SMALLEST_CACHE = 256


class CacheBuckets:
    """Decode loops whose static caches double in size up to ``max_tokens``, one compiled step each.

    A static cache's attention reads every position it holds, filled or not: on the 8B shape a 4096-position cache
    is about 600 MB of keys and values per token, more than a third of what an INT4 token's weights are. So each
    conversation gets the smallest cache that holds it (``SMALLEST_CACHE``, twice that, ... ``max_tokens``); a
    new size may compile its step once more (the call's ``stats.compiled_graphs`` says whether it did: after two
    sizes TorchDynamo makes the cache length dynamic, and on CUDA each size records its own CUDA graph), and a conversation that
    outgrows its cache moves, copied, to the next. Taught in ``notebooks/09_decode_ladder.ipynb``.
    """

    def __init__(self, model: Qwen3VLForConditionalGeneration, max_tokens: int, **loop_options: str):
        if max_tokens < 2:
            raise ConfigurationError(f"static_cache_tokens must be at least 2, got {max_tokens}")
        self.model = model
        self.max_tokens = max_tokens
        self.sizes: list[int] = []
        size = SMALLEST_CACHE
        while size < max_tokens:
            self.sizes.append(size)
            size *= 2
        self.sizes.append(max_tokens)
        self._options = loop_options
        self._loops: dict[int, DecodeLoop] = {}

    def forget_steps(self) -> None:
        """Drop every loop (their caches, compiled steps and CUDA graphs): the next conversation builds its loop, and
        compiles its step, again."""
        self._loops.clear()

    def loop_for(self, positions: int, continuing: object = None) -> DecodeLoop:
        """The loop of the smallest cache that holds ``positions``; with ``continuing`` (the conversation's cache)
        its positions are copied there first when it is another loop's."""
        size = next((s for s in self.sizes if s >= positions), None)
        if size is None:
            raise ConfigurationError(f"{positions} positions do not fit the largest static cache ({self.max_tokens})")
        if size not in self._loops:
            self._loops[size] = DecodeLoop(self.model, max_tokens=size, fixed_length=False, **self._options)
        loop = self._loops[size]
        if continuing is not None and continuing is not loop.cache:
            loop.take_over(continuing)
        return loop


def _copy_cache(source: StaticCache, target: StaticCache) -> None:
    """Copy ``source``'s filled positions (and its write position) into the larger ``target``."""
    for old, new in zip(source.layers, target.layers, strict=True):
        if not old.is_initialized:
            continue
        filled = int(old.cumulative_length)
        if not new.is_initialized:
            new.lazy_initialization(old.keys[:, :, :1], old.values[:, :, :1])
        new.keys[:, :, :filled].copy_(old.keys[:, :, :filled])
        new.values[:, :, :filled].copy_(old.values[:, :, :filled])
        new.cumulative_length.fill_(filled)
