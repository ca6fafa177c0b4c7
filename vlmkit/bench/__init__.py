"""Benchmarks of a model on this machine: the standard query, the roofline, one Linear layer, the decode ladder,
bandwidth at 72B scale.

- ``query``: the book's standard query (image size, answer length) headline verdicts are judged on.
- ``roofline``: the device's measured ceilings and where a layer or a phase falls under them.
- ``linear_layers``: one Linear layer in every precision, and which path bitsandbytes takes.
- ``model_speed``: the whole model per precision (query, prefill, decode, kernel time) and its phases on the roofline.
- ``dequantization``: notebook 03's settings per device, and the whole model timed in each precision.
- ``decode_ladder``: the same answer decoded on rungs that remove more and more per-token overhead.
- ``bandwidth_scaling``: is a whole query memory bound at 8B and at a 72B shape?

Imports the rooms below it (core, measure, models, runtime). Taught in notebooks 03, 08, 09 and 10.
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "BANDWIDTH_CLAIM_TEXT": "bandwidth_scaling",
    "BandwidthBound": "bandwidth_scaling",
    "BandwidthClaim": "bandwidth_scaling",
    "BandwidthScaling": "bandwidth_scaling",
    "DecodeBound": "bandwidth_scaling",
    "HEADROOM_BYTES": "bandwidth_scaling",
    "bandwidth_scaling": "bandwidth_scaling",
    "fitting_spec": "bandwidth_scaling",
    "judge_bandwidth_claim": "bandwidth_scaling",
    "layer_bytes": "bandwidth_scaling",
    "measure_bandwidth_scaling": "bandwidth_scaling",
    "measure_decode_bound": "bandwidth_scaling",
    "DecodeRung": "decode_ladder",
    "Int4Rung": "decode_ladder",
    "LADDER_QUESTION": "decode_ladder",
    "LadderSettings": "decode_ladder",
    "RecipePrecision": "decode_ladder",
    "Rung": "decode_ladder",
    "climb": "decode_ladder",
    "decode_ladder": "decode_ladder",
    "failed_rung": "decode_ladder",
    "generate_rung": "decode_ladder",
    "inductor_cache_files": "decode_ladder",
    "judge_int4_loop": "decode_ladder",
    "ladder_image": "decode_ladder",
    "ladder_settings": "decode_ladder",
    "loop_rung": "decode_ladder",
    "measure_int4_kernels": "decode_ladder",
    "measure_int4_rung": "decode_ladder",
    "record_rung": "decode_ladder",
    "weight_bytes_per_token": "decode_ladder",
    "DequantizationSettings": "dequantization",
    "LAYER_SETS": "dequantization",
    "ask_fixed_length": "dequantization",
    "dequantization": "dequantization",
    "dequantization_settings": "dequantization",
    "measure_model_speeds": "dequantization",
    "precision_list": "dequantization",
    "DequantShare": "linear_layers",
    "LayerFindings": "linear_layers",
    "LinearPath": "linear_layers",
    "LinearSweep": "linear_layers",
    "UnalignedCost": "linear_layers",
    "UnalignedLayerTiming": "linear_layers",
    "activations": "linear_layers",
    "dequantize_weight": "linear_layers",
    "layer_findings": "linear_layers",
    "linear_layers": "linear_layers",
    "linear_path": "linear_layers",
    "make_linear": "linear_layers",
    "sweep_linear_layers": "linear_layers",
    "time_unaligned_layers": "linear_layers",
    "unaligned_4bit_layers": "linear_layers",
    "unaligned_costs": "linear_layers",
    "BUSY_KEYS": "model_speed",
    "ModelRun": "model_speed",
    "ModelSpeed": "model_speed",
    "OTHER_CUTOFFS": "model_speed",
    "PlacedPhases": "model_speed",
    "gpu_busy_clause": "model_speed",
    "model_speed": "model_speed",
    "place_phases": "model_speed",
    "QuerySetup": "query",
    "query": "query",
    "standard_query": "query",
    "BLOCKSIZE_4BIT": "roofline",
    "Ceilings": "roofline",
    "DQ_BLOCKSIZE": "roofline",
    "LinearLayerTiming": "roofline",
    "LinearShape": "roofline",
    "MeasuredCeilings": "roofline",
    "OVERHEAD_SHARE": "roofline",
    "PhaseBound": "roofline",
    "QWEN3_VL_8B_LINEARS": "roofline",
    "classify_phase": "roofline",
    "decode_step_work": "roofline",
    "linear_cost": "roofline",
    "measure_ceilings": "roofline",
    "roofline": "roofline",
    "weight_bytes": "roofline",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
