"""Tables for the README, made from a reference run's results JSON (never typed by hand).

``python -m vlmkit.report reference/nvidia-h200`` prints the memory table the
README shows; a test checks that the README still matches the committed results.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vlmkit.precision import get_precision
from vlmkit.records import latest_run, load_records


def memory_table(run_dir: str | Path) -> str:
    """Markdown table of weights, peak at load and the seed's claim per precision, from ``01_loading_precisions.json``."""
    records = latest_run(load_records(Path(run_dir) / "results" / "01_loading_precisions.json"))
    loads = [r for r in records if r["experiment"] == "load"]
    if not loads:
        raise ValueError(f"no load records under {run_dir}")
    first = loads[0]
    prov = first["provenance"]
    lines = [
        f"Model `{first['model']}` ({loads[0]['metrics']['load']['weights']['total_params']:,} parameters) on "
        f"{prov['device_name']}, {prov['timestamp'][:10]}; torch {prov['versions']['torch']}, transformers "
        f"{prov['versions']['transformers']}, bitsandbytes {prov['versions']['bitsandbytes']}; one load each; "
        "GB = 10^9 bytes, measured with the CUDA allocator.",
        "",
        "| precision | weights (GB) | peak at load (GB) | params × bits (GB) | seed's claim (GB) | measured / claim (verdict) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    verdicts = {r["precision"]: r["metrics"] for r in records if r["experiment"] == "memory-claim"}
    for r in loads:
        load = r["metrics"]["load"]
        prec = get_precision(r["precision"])
        weights = load["memory"]["retained_bytes"] / 1e9
        arithmetic = load["weights"]["total_params"] * prec.bits / 8 / 1e9
        claim = verdicts.get(prec.name)
        claim_cells = f"{claim['claim_gb']:g} | {claim['ratio']:.2f} ({claim['verdict']})" if claim else "– | –"
        lines.append(f"| {prec.label} | {weights:.2f} | {load['memory']['peak_bytes'] / 1e9:.2f} | "
                     f"{arithmetic:.2f} | {claim_cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(memory_table(sys.argv[1] if len(sys.argv) > 1 else "reference/nvidia-h200"))
