"""Where a compiled decode step loses its kernels' speed: the same step replayed through torch.compile's CUDA-graph
trees (mode="reduce-overhead") and captured by hand as one CUDA graph (vlmkit's compile_mode="cuda-graph"), and
the eager step for scale, per precision, on the 8B shape at the book's query. For each: ms per token, prefill,
host time spent in each step call (a step that returns at once leaves the GPU working alone), the step timed back
to back, TorchInductor's counters. Writes $OUT/graph-diagnostic.json; run on the GPU host (issue 20):

    PYTHONPATH=.gpu-site:$PWD python3 .ci/gpu-graph-diagnostic.py int4,bf16 [trees,captured-compiled,eager]

The H100 run of 2026-12-07 (reference/nvidia-h100-80gb-hbm3/bench/graph-diagnostic.json) measured the hand capture
with a subclass of DecodeLoop that commit ef29712's loop did not have yet; that capture is now DecodeLoop's own.
"""

import gc
import json
import os
import sys
import time

import numpy as np
import torch
from torch._dynamo.utils import counters

from vlmkit.bench.query import STANDARD_QUESTION, standard_image
from vlmkit.measure.memory import free_memory
from vlmkit.runtime.compilation import quiet_compiler
from vlmkit.runtime.decode_loop import DecodeLoop
from vlmkit.runtime.inference import VLMInference

OUT = os.environ.get("OUT", "/tmp/out")
MODES = {"trees": "reduce-overhead", "captured-compiled": "cuda-graph", "eager": None}


def measure(vlm: VLMInference, precision: str, variant: str, new_tokens: int = 64, repeats: int = 6) -> dict:
    inputs = dict(vlm.encode([standard_image(int(os.environ.get("PX", 448)))], [STANDARD_QUESTION]))
    before = dict(counters["inductor"])
    loop = DecodeLoop(vlm.model, max_tokens=512, compile_mode=MODES[variant])
    start = time.perf_counter()
    loop.generate(inputs, new_tokens)
    row = {"precision": precision, "variant": variant, "warmup_s": time.perf_counter() - start}
    runs = [loop.generate(inputs, new_tokens) for _ in range(repeats)]
    row["ms_per_token"] = [1e3 * r.decode_s_per_token for r in runs]
    row["prefill_ms"] = [1e3 * r.prefill_s for r in runs]
    row["tokens_first8"] = runs[-1].tokens[0, :8].tolist()
    step, spent = loop.step, []

    def timed(token: torch.Tensor, ban: torch.Tensor) -> torch.Tensor:
        begin = time.perf_counter()
        out = step(token, ban)
        spent.append(time.perf_counter() - begin)
        return out

    loop.step = timed
    loop.generate(inputs, new_tokens)
    loop.step = step
    row["host_us_per_step_median"] = 1e6 * float(np.median(spent))
    steps = 200
    with torch.inference_mode():
        loop.generate(inputs, 2)
        token = runs[-1].tokens[:, -1:].to(vlm.device)
        torch.cuda.synchronize()
        begin = time.perf_counter()
        for _ in range(steps):
            token = loop.step(token.clone(), loop._ban)
        torch.cuda.synchronize()
    row["raw_steps_ms"] = 1e3 * (time.perf_counter() - begin) / steps
    row["inductor_counters"] = {k: v - before.get(k, 0) for k, v in counters["inductor"].items() if v != before.get(k, 0)}
    return row


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    quiet_compiler()
    results = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
               "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "code": f".ci/gpu-graph-diagnostic.py on commit {os.environ.get('VLMKIT_COMMIT', 'unknown')}", "runs": []}
    for precision in sys.argv[1].split(","):
        vlm = VLMInference(os.environ.get("MODEL", "qwen3-vl-8b"), precision=precision, device="cuda")
        for variant in (sys.argv[2].split(",") if len(sys.argv) > 2 else MODES):
            results["runs"].append(measure(vlm, precision, variant))
            print(json.dumps(results["runs"][-1]), flush=True)
            with open(f"{OUT}/graph-diagnostic.json", "w") as f:
                json.dump(results, f, indent=1)
            torch._dynamo.reset()
        del vlm
        gc.collect()
        free_memory(torch.device("cuda"))


if __name__ == "__main__":
    main()
