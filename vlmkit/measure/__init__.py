"""The instruments: clocks, memory, the profiler, a model's stored bytes, speed-ups, and the records they write.

- ``timing``: wall clocks and the device's own clock (events, ``do_bench``, CUDA-graph replays).
- ``interleaved``: variants timed in alternating rounds, paired ratios with a sign-test interval (headlines).
- ``memory``: allocator and RSS probes, what a card holds outside the allocator, what a query needs.
- ``profiler``: the operators a call runs (matmuls by dtype included) and how long the GPU is busy.
- ``footprint``: bytes and parameters a loaded model stores, by component and storage kind.
- ``speedup``: a ratio of two timings with its spread.
- ``records``: every measurement as a JSON record with provenance (``ResultsStore``), and reading them back.

Imports only ``vlmkit.core`` (and ``vlmkit.errors``). Taught in notebooks 00 (records), 01 (memory), 03 (clocks,
profiler).
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "COMPONENTS": "footprint",
    "Footprint": "footprint",
    "QUANTIZED_LINEAR_TYPES": "footprint",
    "SAME_BYTES_AS": "footprint",
    "STORAGE_KINDS": "footprint",
    "component_of": "footprint",
    "footprint": "footprint",
    "measure_footprint": "footprint",
    "stored_bytes": "footprint",
    "COVERAGE": "interleaved",
    "MIN_PAIRS": "interleaved",
    "MIN_WARMUPS": "interleaved",
    "PairedRuns": "interleaved",
    "Rounds": "interleaved",
    "TimedRun": "interleaved",
    "interleaved": "interleaved",
    "median_interval": "interleaved",
    "paired_speedup": "interleaved",
    "time_interleaved": "interleaved",
    "time_rounds": "interleaved",
    "wall_clock": "interleaved",
    "CudaContextMeasurement": "memory",
    "MemoryDelta": "memory",
    "MemoryProbe": "memory",
    "card_need_bytes": "memory",
    "available_bytes": "memory",
    "free_memory": "memory",
    "measure_cuda_context": "memory",
    "memory": "memory",
    "outside_allocator_bytes": "memory",
    "MATMUL_OPERATORS": "profiler",
    "MatmulWork": "profiler",
    "PhaseBusy": "profiler",
    "busy_per_phase": "profiler",
    "device_busy_seconds": "profiler",
    "matmul_work": "profiler",
    "operator_events": "profiler",
    "profiler": "profiler",
    "CHECKOUT": "records",
    "Measurement": "records",
    "PROJECT_ROOT": "records",
    "Recorded": "records",
    "ResultsStore": "records",
    "SCHEMA_VERSION": "records",
    "TRACKED_PACKAGES": "records",
    "atomic_write_json": "records",
    "default_results_dir": "records",
    "experiment_records": "records",
    "latest_run": "records",
    "load_records": "records",
    "metric": "records",
    "notebook_runs": "records",
    "package_versions": "records",
    "provenance": "records",
    "read_measurements": "records",
    "records": "records",
    "Speedup": "speedup",
    "speedup": "speedup",
    "speedup_of_medians": "speedup",
    "TimingStats": "timing",
    "time_call": "timing",
    "time_graphed_kernel": "timing",
    "time_kernel": "timing",
    "timing": "timing",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
