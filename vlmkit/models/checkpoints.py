"""Write complete Hugging Face checkpoints for registry entries, and check checkpoints.

A checkpoint is what ``from_pretrained`` expects from the hub: ``config.json``,
safetensors weights (random, seeded), ``generation_config.json`` and a processor
that ``AutoProcessor.from_pretrained`` loads. Checkpoints are cached by
architecture, seed and device of initialisation, and written atomically: a
half-written checkpoint never takes the cached one's place.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

from vlmkit.errors import CheckpointError
from vlmkit.models.architectures import ArchitectureSpec, get_spec
from vlmkit.models.processor import build_processor

#: Written last into a checkpoint directory; its presence marks a finished write.
MANIFEST = "vlmkit_checkpoint.json"
PROCESSOR_FILES = ("tokenizer.json", "chat_template.jinja")


def cache_dir() -> Path:
    """Where vlmkit keeps built checkpoints: ``$VLMKIT_CACHE`` or ``~/.cache/vlmkit``."""
    return Path(os.environ.get("VLMKIT_CACHE", Path.home() / ".cache" / "vlmkit"))


def _config_digest(spec: ArchitectureSpec) -> str:
    text = json.dumps(spec.config().to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def checkpoint_path(spec: ArchitectureSpec, seed: int = 0, init_device: str = "cpu") -> Path:
    """The cache directory a checkpoint of ``spec`` lives in (whether or not it exists yet)."""
    return cache_dir() / "checkpoints" / f"{spec.name}-seed{seed}-{init_device}-{_config_digest(spec)}"


def generation_config(spec: ArchitectureSpec) -> GenerationConfig:
    """Greedy decoding that stops at ``<|im_end|>`` or ``<|endoftext|>``, as Qwen's chat models do."""
    ids = spec.special_token_ids()
    return GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )


def write_checkpoint(
    model: str | ArchitectureSpec,
    *,
    seed: int = 0,
    device: str = "cpu",
    force: bool = False,
) -> Path:
    """Build a random-weight checkpoint of a registry architecture and return its directory.

    The weights are bf16, drawn with ``torch.manual_seed(seed)`` on ``device``
    (``"cuda"`` builds the 8B model in under a second; the same seed gives the
    same weights on the same kind of device). A cached checkpoint is returned at
    once unless ``force``.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    spec = get_spec(model) if isinstance(model, str) else model
    init_device = torch.device(device).type
    final = checkpoint_path(spec, seed, init_device)
    if final.exists() and not force:
        validate_checkpoint(final)
        return final

    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        torch.manual_seed(seed)
        if init_device == "cuda":
            torch.cuda.manual_seed_all(seed)
        with torch.device(device):
            net = Qwen3VLForConditionalGeneration._from_config(spec.config(), dtype=torch.bfloat16)
        net.generation_config = generation_config(spec)
        net.save_pretrained(staging)
        n_params = sum(p.numel() for p in net.parameters())
        del net
        build_processor(spec).save_pretrained(staging)
        manifest = {
            "registry_name": spec.name,
            "description": spec.description,
            "seed": seed,
            "init_device": init_device,
            "dtype": "bfloat16",
            "parameters": n_params,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def read_manifest(path: str | Path) -> dict | None:
    """The manifest vlmkit wrote into a checkpoint, or ``None`` for checkpoints from elsewhere."""
    file = Path(path) / MANIFEST
    return json.loads(file.read_text()) if file.exists() else None


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.exists():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{index} is not a valid safetensors index ({exc})") from None
        return [path / shard for shard in shards]
    single = path / "model.safetensors"
    if single.exists():
        return [single]
    raise CheckpointError(
        f"{path} holds no weights (no model.safetensors or model.safetensors.index.json); "
        "the checkpoint is incomplete: write it again (vlmkit.write_checkpoint(..., force=True))"
    )


def validate_checkpoint(path: str | Path) -> None:
    """Raise ``CheckpointError`` if ``path`` is not a complete, readable checkpoint.

    Checks the config, the processor files and every safetensors shard's header
    against the file's length (a truncated download or an interrupted write fails here,
    with the file named, instead of deep inside ``from_pretrained``).
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a directory")
    config = path / "config.json"
    if not config.exists():
        raise CheckpointError(f"{path} has no config.json: not a Hugging Face checkpoint, or an incomplete one")
    try:
        json.loads(config.read_text())
    except ValueError as exc:
        raise CheckpointError(f"{config} is not valid JSON ({exc}); the checkpoint is corrupt") from None
    missing = [name for name in PROCESSOR_FILES if not (path / name).exists()]
    if missing:
        raise CheckpointError(f"{path} lacks processor files {missing}; the checkpoint is incomplete")
    for shard in _weight_files(path):
        if not shard.exists():
            raise CheckpointError(f"weight shard {shard} is missing; the checkpoint is incomplete")
        try:
            with safe_open(shard, framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # safetensors raises its own error type for truncated files
            raise CheckpointError(
                f"weight file {shard} is corrupt or truncated ({exc}); delete the checkpoint and write it again"
            ) from None
