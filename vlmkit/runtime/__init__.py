"""Running a model: the seed's ``VLMInference``, the decode loop, attention, the KV cache, compilation, TF32, transfers.

- ``inference``: ``VLMInference`` (``ask``, ``follow_up``, batches), with per-call stats and the load report.
- ``compilation``: what TorchDynamo compiled during a call, and the compile caches.
- ``generation_variants``: dynamic or static cache, eager or compiled, set up on one loaded model, and its records.
- ``decode_loop``: greedy decoding on a static cache with one token step compiled whole.
- ``attention``: switching attention implementations and SDPA backends on a running model, and its records.
- ``kv_cache``: what a conversation's cache holds and a follow-up with and without it.
- ``tf32``, ``transfers``: TF32 matmuls and pinned, non-blocking copies, switched and timed.
- ``environment``: what this machine can run (SDPA backends, TF32, versions).

Imports ``vlmkit.core``, ``vlmkit.measure`` and ``vlmkit.models``. Taught in notebooks 00 and 04-07, 09.
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "AttentionRefusal": "attention",
    "AttentionTiming": "attention",
    "AttentionVariant": "attention",
    "EAGER_ATTENTION": "attention",
    "EagerScores": "attention",
    "SDPA_PICKS": "attention",
    "attention": "attention",
    "attention_variants": "attention",
    "eager_score_bytes": "attention",
    "eager_scores": "attention",
    "kernel_refusals": "attention",
    "time_vision_tower": "attention",
    "using_attention": "attention",
    "vision_tower_peak_bytes": "attention",
    "COMPILE_CACHES": "compilation",
    "CompileActivity": "compilation",
    "CompileEvent": "compilation",
    "compilation": "compilation",
    "compile_cache": "compilation",
    "quiet_compiler": "compilation",
    "watch_compiles": "compilation",
    "why_nothing_compiled": "compilation",
    "DecodeLoop": "decode_loop",
    "LoopResult": "decode_loop",
    "decode_loop": "decode_loop",
    "CAPABILITIES_EXPERIMENT": "environment",
    "SDPA_PROBE_SHAPE": "environment",
    "capability_report": "environment",
    "environment": "environment",
    "probe_sdpa_backends": "environment",
    "readable_versions": "environment",
    "record_capabilities": "environment",
    "tf32_status": "environment",
    "CompileLesson": "generation_variants",
    "CompileVariantFailure": "generation_variants",
    "CompileVariantRun": "generation_variants",
    "EagerForwards": "generation_variants",
    "GenerationVariant": "generation_variants",
    "VARIANTS": "generation_variants",
    "VariantQueries": "generation_variants",
    "VariantRow": "generation_variants",
    "ask_as_variant": "generation_variants",
    "generation_variants": "generation_variants",
    "use_variant": "generation_variants",
    "Answer": "inference",
    "BatchAnswers": "inference",
    "CallStats": "inference",
    "STATIC_CACHE_TOKENS": "inference",
    "VLMInference": "inference",
    "inference": "inference",
    "FollowUpCell": "kv_cache",
    "FollowUpPair": "kv_cache",
    "KVCacheClaimMeasurement": "kv_cache",
    "KVCacheSettings": "kv_cache",
    "follow_up_both_ways": "kv_cache",
    "follow_up_cell": "kv_cache",
    "follow_up_findings": "kv_cache",
    "kv_cache": "kv_cache",
    "kv_cache_bytes": "kv_cache",
    "kv_cache_settings": "kv_cache",
    "tf32": "tf32",
    "tf32_switches": "tf32",
    "time_tf32_off_on": "tf32",
    "copy_and_answer": "transfers",
    "pinned_copies_unavailable": "transfers",
    "time_copy": "transfers",
    "transfers": "transfers",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
