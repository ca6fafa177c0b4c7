"""``VLMInference``: ask a vision-language model about an image, then follow up on the same KV cache.

This is the seed's interface, so its examples run as written::

    vlm = VLMInference(model="qwen3-vl-tiny", load_in_4bit=True)
    answer = vlm.ask("photo.png", "What is in the image?", max_new_tokens=16)
    answer.text, answer.stats.prefill_s, answer.stats.decode_s_per_token
    vlm.follow_up("And what colour is it?")   # reuses the cache: the image is not encoded again

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers.generation.streamers import BaseStreamer

from vlmkit.errors import ConfigurationError, ConversationError
from vlmkit.measure.memory import MemoryProbe
from vlmkit.models.attention_backends import attention_for_compiled_decode
from vlmkit.models.images import ImageLike, check_pixel_budget, to_rgb_image
from vlmkit.models.loading import LoadedModel, LoadReport, load_model
from vlmkit.models.precisions import precision_from_flags
from vlmkit.runtime.compilation import CompileActivity, watch_compiles, why_nothing_compiled
from vlmkit.runtime.decode_loop import CUDA_GRAPH, CacheBuckets, Sampling

#: The largest static KV cache ``use_compile`` gives a conversation (positions): the book's largest query (a 1792 px
#: image, 3136 visual tokens, and its answer) fits. Smaller conversations get smaller caches (``CacheBuckets``).
STATIC_CACHE_TOKENS = 4096


@dataclass(frozen=True)
class CallStats:
    """Measurements of one ``ask`` or ``follow_up`` call.

    ``prefill_s`` runs from the call's start to the first new token (image
    encoding included); ``decode_s_per_token`` averages the tokens after it.
    ``tokens_in`` are the tokens this call pushed through the model at prefill;
    ``tokens_cached`` the ones it took from the KV cache instead.
    """

    prefill_s: float
    decode_s_per_token: float | None
    total_s: float
    tokens_in: int
    tokens_cached: int
    tokens_out: int
    visual_tokens: int
    peak_memory_bytes: int
    memory_kind: str
    compiled_graphs: int | None = None  # graphs TorchDynamo compiled during the call (use_compile only)

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Answer:
    """The decoded answer and the measurements of the call that produced it."""

    text: str
    stats: CallStats


@dataclass(frozen=True)
class BatchAnswers:
    """Answers of a batch, and the logits each answer's first token was chosen from."""

    texts: list[str]
    first_token_logits: torch.Tensor


class _TokenClock(BaseStreamer):
    """Timestamps every token ``generate`` emits (it copies each to the host, which synchronises)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate first hands over the prompt
            self._prompt_seen = True
            return
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        pass


@dataclass
class _Conversation:
    sequences: torch.Tensor
    cache: object
    rope_deltas: torch.Tensor | None
    visual_inputs: dict  # the processor's pixel tensors of the conversation's image, to encode it again


class VLMInference:
    """A loaded VLM with per-call statistics and KV-cache reuse for follow-up questions.

    ``load_in_8bit`` is LLM.int8 (threshold 6.0), ``load_in_4bit`` is NF4 with bf16
    compute; ``precision`` names any of ``vlmkit.PRECISIONS`` instead. With
    ``use_flash_attention`` the flash-attn 2 package is used where transformers can use it, else the
    flash-attn 4 package, else SDPA with a note in ``report.notes`` (or an error, with ``strict_attention``);
    ``report.attention.used`` says which ran.
    ``use_compile`` decodes through vlmkit's :class:`~vlmkit.runtime.decode_loop.DecodeLoop`: every conversation
    lives on one static KV cache of ``static_cache_tokens`` positions, the prompt goes through the model eagerly,
    and each further token runs one step compiled whole by ``torch.compile`` (``compile_backend``, TorchInductor
    by default; on CUDA replayed as a CUDA graph), with no wait for the host but one every few tokens to look for
    the end of the answer. The first call that decodes compiles (``report.compile_warmup_s``); later calls, images
    of any size and follow-ups (which push only the new turn through the model) reuse the graph, and each call's
    ``stats.compiled_graphs`` says what TorchDynamo compiled during it. A flash-attn package stays in the vision
    tower only (:func:`~vlmkit.models.attention_backends.attention_for_compiled_decode`). Models transformers
    refuses to compile (bitsandbytes' quantizers say ``is_compileable=False``) run uncompiled through
    ``generate`` with a note, or raise with ``strict_compile``; ``precision="int4"`` (torchao) compiles.
    ``notebooks/05_compile.ipynb`` and ``09_decode_ladder.ipynb`` measure what compiling gains.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """

    def __init__(
        self,
        model: str | Path = "Qwen/Qwen3-VL-8B-Instruct",
        load_in_8bit: bool = False,
        load_in_4bit: bool = False,
        use_compile: bool = False,
        use_flash_attention: bool = False,
        device: str | torch.device | None = None,
        *,
        precision: str | None = None,
        attn_implementation: str | None = None,
        strict_attention: bool = False,
        resize_large_images: bool = False,
        strict_compile: bool = False,
        static_cache_tokens: int = STATIC_CACHE_TOKENS,
        compile_backend: str = "inductor",
    ):
        prec = precision_from_flags(load_in_8bit, load_in_4bit, precision)
        loaded = load_model(
            model,
            prec,
            device=device,
            attn_implementation=attn_implementation,
            use_flash_attention=use_flash_attention,
            strict_attention=strict_attention,
        )
        self._adopt(loaded, use_compile, resize_large_images, strict_compile, static_cache_tokens, compile_backend)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, *, use_compile: bool = False, resize_large_images: bool = False,
                    strict_compile: bool = False, static_cache_tokens: int = STATIC_CACHE_TOKENS,
                    compile_backend: str = "inductor") -> VLMInference:
        """Wrap a model that ``load_model`` already loaded (no second load).

        Taught in ``notebooks/01_loading_precisions.ipynb``.
        """
        instance = cls.__new__(cls)
        instance._adopt(loaded, use_compile, resize_large_images, strict_compile, static_cache_tokens, compile_backend)
        return instance

    def _adopt(self, loaded: LoadedModel, use_compile: bool, resize_large_images: bool, strict_compile: bool,
               static_cache_tokens: int, compile_backend: str) -> None:
        self.model = loaded.model
        self.processor = loaded.processor
        self.report: LoadReport = loaded.report
        self.device = self.model.device
        self.use_compile = use_compile
        self.resize_large_images = resize_large_images
        self._conversation: _Conversation | None = None
        self._loops: CacheBuckets | None = None
        self._compile_checked = False
        if not use_compile:
            return
        if static_cache_tokens < 2:
            raise ConfigurationError(f"static_cache_tokens must be at least 2, got {static_cache_tokens}")
        quantizer = getattr(self.model, "hf_quantizer", None)
        if quantizer is not None and not quantizer.is_compileable:
            refusal = (f"use_compile=True: transformers does not compile {self.report.precision_label} models "
                       f"({type(quantizer).__name__}.is_compileable is False)")
            if strict_compile:
                raise ConfigurationError(f"{refusal}; load in bf16 or int4, or pass strict_compile=False to run "
                                         "uncompiled")
            self.report.notes.append(f"{refusal}: calls run uncompiled, with the dynamic KV cache")
            return
        attention_note = attention_for_compiled_decode(self.model, strict_compile)
        if attention_note:
            self.report.notes.append(attention_note)
        mode = CUDA_GRAPH if self.device.type == "cuda" else "default"
        self._loops = CacheBuckets(self.model, static_cache_tokens, compile_mode=mode, compile_backend=compile_backend)
        sampling = Sampling.of(self.model.generation_config)
        unsupported = sampling.unsupported(self.model.generation_config)
        self.report.notes.append(
            f"use_compile=True: vlmkit's decode loop (static KV caches sized to the conversation, "
            f"{', '.join(map(str, self._loops.sizes))} positions, each size one graph compiled on first use; one "
            f"token step compiled whole, torch.compile mode={mode!r}, backend={compile_backend}"
            + (", captured as one CUDA graph per cache size and replayed" if mode == CUDA_GRAPH else "")
            + "; prefill eager; "
            + ("sampling as the generation config says" if sampling.do_sample else "greedy") + ")"
            + (f"; not applied from the generation config: {', '.join(unsupported)}" if unsupported else ""))

    @property
    def decodes_compiled(self) -> bool:
        """Whether answers decode through the compiled loop (``use_compile`` on a model that compiles)."""
        return self._loops is not None

    def forget_compiled_steps(self) -> None:
        """Start compiling afresh, as a new process would: the conversation, the decode loops with their compiled
        steps and CUDA graphs, and TorchDynamo's in-process state are dropped (``torch._dynamo.reset()``); the next
        call that decodes compiles again, from what TorchInductor's on-disk cache holds. Benchmarks time that
        call as the warm-up with caches warm. Taught in ``notebooks/10_int4_decode.ipynb``.
        """
        self._conversation = None
        if self._loops is not None:
            self._loops.forget_steps()
        torch._dynamo.reset()

    @property
    def max_pixels(self) -> int:
        """The image processor's pixel budget (``size['longest_edge']``)."""
        return int(self.processor.image_processor.size["longest_edge"])

    def ask(self, image: ImageLike, question: str, max_new_tokens: int = 64, min_new_tokens: int | None = None) -> Answer:
        """Answer ``question`` about ``image``; starts a new conversation.

        ``min_new_tokens`` fixes the answer length (benchmarks set it equal to
        ``max_new_tokens`` so that they time speed, not answer length).
        Taught in ``notebooks/01_loading_precisions.ipynb``.
        """
        inputs = self.encode([image], [question])
        visual_tokens = int((inputs["input_ids"] == self.model.config.image_token_id).sum())
        self._conversation = None
        self.model.model.rope_deltas = None
        return self._generate(dict(inputs), cache=None, visual_tokens=visual_tokens,
                              max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens)

    def ask_batch(self, images: list[ImageLike], questions: list[str], max_new_tokens: int = 8) -> list[str]:
        """Answer many (image, question) pairs in one left-padded batch; no stats, no conversation.

        Taught in ``notebooks/02_quality.ipynb``.
        """
        return self.ask_batch_with_logits(images, questions, max_new_tokens).texts

    @torch.inference_mode()
    def ask_batch_with_logits(self, images: list[ImageLike], questions: list[str], max_new_tokens: int = 8) -> BatchAnswers:
        """Like ``ask_batch``, and also keep the logits of each answer's first token (float32, on the CPU).

        For evaluation, where thousands of short answers would take minutes one by one,
        and where the first-token logits measure fidelity without a second forward pass.
        Taught in ``notebooks/02_quality.ipynb``.
        """
        inputs = self.encode(images, questions)
        self.model.model.rope_deltas = None
        out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, output_logits=True,
                                  return_dict_in_generate=True)
        new = out.sequences[:, inputs["input_ids"].shape[1]:]
        texts = [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]
        return BatchAnswers(texts, out.logits[0].float().cpu())

    def follow_up(self, question: str, max_new_tokens: int = 64, min_new_tokens: int | None = None) -> Answer:
        """Ask a further question in the same conversation, reusing its KV cache.

        Only the new turn's tokens go through the model at prefill; the image and the
        earlier turns come from the cache (``stats.tokens_cached`` says how many).
        Taught in ``notebooks/01_loading_precisions.ipynb``.
        """
        conv = self._conversation
        inputs = self._next_turn(question)
        self.model.model.rope_deltas = conv.rope_deltas
        return self._generate(inputs, cache=conv.cache, visual_tokens=0,
                              max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens)

    def follow_up_without_cache(self, question: str, max_new_tokens: int = 64,
                                min_new_tokens: int | None = None) -> Answer:
        """The same follow-up as :meth:`follow_up`, answered the expensive way: no cache.

        The image is encoded again and the whole conversation (same token ids) goes
        through the model at prefill. It is the baseline that KV-cache reuse is
        measured against. Taught in ``notebooks/04_kv_cache.ipynb``.
        """
        conv = self._conversation
        inputs = self._next_turn(question)
        inputs.update(conv.visual_inputs)
        if "mm_token_type_ids" in conv.visual_inputs:
            inputs["mm_token_type_ids"] = (inputs["input_ids"] == self.model.config.image_token_id).long()
        visual_tokens = int((inputs["input_ids"] == self.model.config.image_token_id).sum())
        self.model.model.rope_deltas = None
        return self._generate(inputs, cache=None, visual_tokens=visual_tokens,
                              max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens)

    def _note_compilation(self, compiles: CompileActivity, stats: CallStats) -> None:
        """After the first call that decoded more than one token: the warm-up it paid for compiling the step, or
        (when nothing compiled) what was observed."""
        if self._compile_checked or stats.tokens_out < 2:
            return
        self._compile_checked = True
        if compiles.graphs:
            self.report.compile_warmup_s = stats.total_s
            self.report.notes.append(f"use_compile=True: the first call compiled {compiles.graphs} graph(s) and took "
                                     f"{stats.total_s:.1f} s (the warm-up)")
        else:
            self.report.notes.append(f"use_compile=True: {why_nothing_compiled(self.model, compiles)}; the step runs "
                                     "as compiled earlier in this process (the same graph)")

    def _next_turn(self, question: str) -> dict:
        """The conversation so far (its exact token ids) plus a new user turn and the assistant prompt."""
        if self._conversation is None:
            raise ConversationError("follow_up() continues a conversation: call ask(image, question) first")
        if not isinstance(question, str) or not question.strip():
            raise ConfigurationError("the question must be a non-empty string")
        conv = self._conversation
        tokenizer = self.processor.tokenizer
        closed = int(conv.sequences[0, -1]) == tokenizer.convert_tokens_to_ids("<|im_end|>")
        turn = self.processor.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True)
        text = ("\n" if closed else "<|im_end|>\n") + turn
        new_ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"].to(self.device)
        input_ids = torch.cat([conv.sequences, new_ids], dim=1)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}

    def encode(self, images: list[ImageLike], questions: list[str], *, to_device: bool = True) -> dict:
        """Check the inputs and turn them into the model's (left-padded) inputs, on the model's device.

        Benchmarks that time one part of the model (the vision tower, a transfer) start from here;
        ``to_device=False`` leaves the tensors on the host (to time the copy).
        Taught in ``notebooks/06_attention.ipynb``.
        """
        if len(images) != len(questions) or not images:
            raise ConfigurationError(f"need as many images as questions (and at least one), got {len(images)} and {len(questions)}")
        if not all(isinstance(q, str) and q.strip() for q in questions):
            raise ConfigurationError("the question must be a non-empty string")
        pils = [to_rgb_image(im) for im in images]
        if not self.resize_large_images:
            for pil in pils:
                check_pixel_budget(pil, self.processor.image_processor)
        prompts = [self.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}], add_generation_prompt=True)
            for q in questions]
        inputs = self.processor(text=prompts, images=pils, padding=True, return_tensors="pt")
        if to_device:
            inputs = inputs.to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return inputs

    @property
    def kv_cache(self) -> object | None:
        """The current conversation's KV cache (``None`` before ``ask`` or after ``reset``)."""
        return self._conversation.cache if self._conversation is not None else None

    def reset(self) -> None:
        """Forget the conversation and free its KV cache."""
        self._conversation = None

    def _generate(self, inputs: dict, cache: object, visual_tokens: int, max_new_tokens: int,
                  min_new_tokens: int | None) -> Answer:
        if max_new_tokens < 1 or (min_new_tokens is not None and not 0 <= min_new_tokens <= max_new_tokens):
            raise ConfigurationError(
                f"need max_new_tokens >= 1 and 0 <= min_new_tokens <= max_new_tokens, got {max_new_tokens}, {min_new_tokens}"
            )
        if self._loops is not None:
            return self._loop_answer(inputs, cache, visual_tokens, max_new_tokens, min_new_tokens or 0)
        cached = int(cache.get_seq_length()) if cache is not None else 0
        prompt_len = inputs["input_ids"].shape[1]
        clock = _TokenClock()
        with torch.inference_mode(), MemoryProbe(self.device) as probe:
            start = time.perf_counter()
            out = self.model.generate(
                **inputs,
                past_key_values=cache,
                max_new_tokens=max_new_tokens,
                min_new_tokens=min_new_tokens,
                return_dict_in_generate=True,
                streamer=clock,
            )
            end = time.perf_counter()
        new_tokens = out.sequences[0, prompt_len:]
        self._remember(inputs, out.sequences, out.past_key_values)
        first = clock.stamps[0] if clock.stamps else end
        decode = (clock.stamps[-1] - first) / (len(clock.stamps) - 1) if len(clock.stamps) > 1 else None
        stats = CallStats(prefill_s=first - start, decode_s_per_token=decode, total_s=end - start,
                          tokens_in=prompt_len - cached, tokens_cached=cached, tokens_out=int(new_tokens.numel()),
                          visual_tokens=visual_tokens, peak_memory_bytes=probe.result.peak_bytes,
                          memory_kind=probe.result.kind)
        return Answer(text=self.processor.decode(new_tokens, skip_special_tokens=True), stats=stats)

    def _loop_answer(self, inputs: dict, cache: object, visual_tokens: int, max_new_tokens: int,
                     min_new_tokens: int) -> Answer:
        """``use_compile``: the answer through a :class:`DecodeLoop` whose static cache fits the conversation."""
        prompt_len = inputs["input_ids"].shape[1]
        if prompt_len + max_new_tokens > self._loops.max_tokens:
            raise ConfigurationError(
                f"this call needs {prompt_len + max_new_tokens} cache positions (conversation so far, new turn and "
                f"{max_new_tokens} new tokens) but the static cache holds {self._loops.max_tokens}: pass a "
                "larger static_cache_tokens, fewer max_new_tokens, or start a new conversation with ask()")
        with MemoryProbe(self.device) as probe, watch_compiles() as compiles:
            start = time.perf_counter()
            loop = self._loops.loop_for(prompt_len + max_new_tokens, continuing=cache)  # a larger cache: copied
            cached = int(loop.cache.get_seq_length()) if cache is not None else 0
            result = loop.answer(inputs, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, cached=cached)
            end = time.perf_counter()
        new_tokens = result.tokens[0]
        # the cache holds every token but the answer's last (its step never ran): the next turn feeds it first
        self._remember(inputs, torch.cat([inputs["input_ids"], result.tokens.to(self.device)], dim=1), loop.cache)
        stats = CallStats(prefill_s=result.prefill_s, decode_s_per_token=result.decode_s_per_token,
                          total_s=end - start, tokens_in=prompt_len - cached, tokens_cached=cached,
                          tokens_out=int(new_tokens.numel()), visual_tokens=visual_tokens,
                          peak_memory_bytes=probe.result.peak_bytes, memory_kind=probe.result.kind,
                          compiled_graphs=compiles.graphs)
        self._note_compilation(compiles, stats)
        return Answer(text=self.processor.decode(new_tokens, skip_special_tokens=True), stats=stats)

    def _remember(self, inputs: dict, sequences: torch.Tensor, cache: object) -> None:
        """Keep the conversation: its token ids, its cache and image (a cached follow-up keeps the first image)."""
        visual = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
        if not visual and self._conversation is not None:
            visual = self._conversation.visual_inputs
        self._conversation = _Conversation(sequences, cache, self.model.model.rope_deltas, visual)
