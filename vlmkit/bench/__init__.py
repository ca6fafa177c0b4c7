"""Benchmarks of a model on this machine: the standard query, the roofline, one Linear layer, the decode ladder,
bandwidth at 72B scale.

- ``query``: the book's standard query (image size, answer length) headline verdicts are judged on, and its model.
- ``roofline``: the device's measured ceilings and where a layer or a phase falls under them.
- ``linear_layers``: one Linear layer in every precision, and which path bitsandbytes takes.
- ``decode_ladder``: the same answer decoded on rungs that remove more and more per-token overhead.
- ``bandwidth_scaling``: is a whole query memory bound at 8B and at a 72B shape?
- ``compile_variants``: every generation variant in every precision, and the recompile lesson (notebook 05).
- ``attention_sweep``: every attention variant at every image size (notebook 06).
- ``tf32_transfers``: TF32 off and on (float32 kernels, whole queries) and host-to-GPU copies (notebook 07).

Imports the rooms below it (core, measure, models, runtime). Taught in notebooks 03 and 05-10.
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "AttentionSettings": "attention_sweep",
    "AttentionSweep": "attention_sweep",
    "attention_settings": "attention_sweep",
    "attention_sweep": "attention_sweep",
    "sweep_attention": "attention_sweep",
    "CompileLessonRun": "compile_variants",
    "CompileSettings": "compile_variants",
    "CompileVariants": "compile_variants",
    "LESSON_BACKENDS": "compile_variants",
    "PrecisionOutcome": "compile_variants",
    "compile_settings": "compile_variants",
    "compile_variants": "compile_variants",
    "measure_compile_variants": "compile_variants",
    "plot_compile_variants": "compile_variants",
    "run_compile_lesson": "compile_variants",
    "DecodeBound": "bandwidth_scaling",
    "HEADROOM_BYTES": "bandwidth_scaling",
    "bandwidth_scaling": "bandwidth_scaling",
    "fitting_spec": "bandwidth_scaling",
    "judge_bandwidth_claim": "bandwidth_scaling",
    "layer_bytes": "bandwidth_scaling",
    "measure_decode_bound": "bandwidth_scaling",
    "LADDER_QUESTION": "decode_ladder",
    "Rung": "decode_ladder",
    "climb": "decode_ladder",
    "decode_ladder": "decode_ladder",
    "failed_rung": "decode_ladder",
    "generate_rung": "decode_ladder",
    "inductor_cache_files": "decode_ladder",
    "ladder_image": "decode_ladder",
    "loop_rung": "decode_ladder",
    "weight_bytes_per_token": "decode_ladder",
    "LinearPath": "linear_layers",
    "activations": "linear_layers",
    "dequantize_weight": "linear_layers",
    "linear_layers": "linear_layers",
    "linear_path": "linear_layers",
    "make_linear": "linear_layers",
    "unaligned_4bit_layers": "linear_layers",
    "QuerySetup": "query",
    "query": "query",
    "resolve_model": "query",
    "standard_query": "query",
    "BLOCKSIZE_4BIT": "roofline",
    "Ceilings": "roofline",
    "DQ_BLOCKSIZE": "roofline",
    "LinearShape": "roofline",
    "OVERHEAD_SHARE": "roofline",
    "PhaseBound": "roofline",
    "QWEN3_VL_8B_LINEARS": "roofline",
    "classify_phase": "roofline",
    "decode_step_work": "roofline",
    "linear_cost": "roofline",
    "measure_ceilings": "roofline",
    "roofline": "roofline",
    "weight_bytes": "roofline",
    "CopyTiming": "tf32_transfers",
    "Float32Kernels": "tf32_transfers",
    "KernelTiming": "tf32_transfers",
    "TF32Settings": "tf32_transfers",
    "TF32Timing": "tf32_transfers",
    "Transfers": "tf32_transfers",
    "tf32_queries": "tf32_transfers",
    "tf32_settings": "tf32_transfers",
    "tf32_transfers": "tf32_transfers",
    "tf32_transfers_explanation": "tf32_transfers",
    "time_float32_kernels": "tf32_transfers",
    "time_transfers": "tf32_transfers",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
