"""The architectures the book can build without a model hub.

Every entry is a real ``Qwen3VLForConditionalGeneration`` configuration: the
published Qwen3-VL-8B and Qwen3-VL-4B shapes, and tiny variants of the same
classes that run on a 2-core CPU in well under a second per forward.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import Qwen3VLConfig

from vlmkit.errors import UnknownModelError

#: The Qwen special tokens, in the order of their ids (the real ids start at 151643).
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Where Qwen's tokenizer puts ``<|endoftext|>``.
QWEN_SPECIAL_TOKENS_START = 151643


@dataclass(frozen=True)
class ArchitectureSpec:
    """One buildable Qwen3-VL architecture.

    ``text`` and ``vision`` are the keyword arguments of ``Qwen3VLTextConfig`` and
    ``Qwen3VLVisionConfig``; ``special_tokens_start`` is the id of ``<|endoftext|>``
    (the other special tokens follow it, as in Qwen's tokenizer); ``min_pixels``
    and ``max_pixels`` are the image processor's pixel budget.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """

    name: str
    description: str
    text: dict[str, Any]
    vision: dict[str, Any]
    special_tokens_start: int = QWEN_SPECIAL_TOKENS_START
    tie_word_embeddings: bool = False
    min_pixels: int = 256 * 256
    max_pixels: int = 4096 * 4096
    hub_id: str | None = None

    def special_token_ids(self) -> dict[str, int]:
        """The id of every Qwen special token in this architecture's vocabulary."""
        return {tok: self.special_tokens_start + i for i, tok in enumerate(QWEN_SPECIAL_TOKENS)}

    def config(self) -> Qwen3VLConfig:
        """The ``Qwen3VLConfig`` of this architecture (random weights are built from it)."""
        ids = self.special_token_ids()
        text = dict(self.text, tie_word_embeddings=self.tie_word_embeddings)
        text.setdefault("pad_token_id", ids["<|endoftext|>"])
        cfg = Qwen3VLConfig(
            text_config=text,
            vision_config=dict(self.vision),
            image_token_id=ids["<|image_pad|>"],
            video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"],
            vision_end_token_id=ids["<|vision_end|>"],
            tie_word_embeddings=self.tie_word_embeddings,
        )
        cfg.architectures = ["Qwen3VLForConditionalGeneration"]
        return cfg


def _qwen_rope(section: list[int]) -> dict[str, Any]:
    return {
        "rope_type": "default",
        "rope_theta": 5_000_000.0,
        "mrope_section": section,
        "mrope_interleaved": True,
    }


QWEN3_VL_8B = ArchitectureSpec(
    name="qwen3-vl-8b",
    description="Qwen3-VL-8B-Instruct's published architecture (8.77 B parameters), random weights",
    hub_id="Qwen/Qwen3-VL-8B-Instruct",
    text={
        "vocab_size": 151936,
        "hidden_size": 4096,
        "intermediate_size": 12288,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "rope_parameters": _qwen_rope([24, 20, 20]),
    },
    vision={
        "depth": 27,
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_heads": 16,
        "out_hidden_size": 4096,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [8, 16, 24],
        "hidden_act": "gelu_pytorch_tanh",
    },
)

QWEN3_VL_4B = ArchitectureSpec(
    name="qwen3-vl-4b",
    description="Qwen3-VL-4B-Instruct's published architecture (tied embeddings), random weights",
    hub_id="Qwen/Qwen3-VL-4B-Instruct",
    tie_word_embeddings=True,
    text={
        "vocab_size": 151936,
        "hidden_size": 2560,
        "intermediate_size": 9728,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "rope_parameters": _qwen_rope([24, 20, 20]),
    },
    vision={
        "depth": 24,
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_heads": 16,
        "out_hidden_size": 2560,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [5, 11, 17],
        "hidden_act": "gelu_pytorch_tanh",
    },
)

# The tiny variants keep every structural feature of the real model (GQA, QK-norm,
# interleaved M-RoPE, deepstack, the 16 px patch and 2x2 merge) at CPU size.
# Their vocabulary is 256 byte tokens, then the 14 Qwen special tokens from id 256.
_TINY_TEXT = {
    "vocab_size": 320,
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "hidden_act": "silu",
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "rope_parameters": _qwen_rope([6, 5, 5]),
    "initializer_range": 0.08,
}
_TINY_VISION = {
    "depth": 3,
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_heads": 4,
    "out_hidden_size": 128,
    "patch_size": 16,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "num_position_embeddings": 256,
    "deepstack_visual_indexes": [0, 1],
    "hidden_act": "gelu_pytorch_tanh",
    "initializer_range": 0.08,
}

QWEN3_VL_TINY = ArchitectureSpec(
    name="qwen3-vl-tiny",
    description="Qwen3-VL architecture at CPU size (about 2.3 M parameters), random weights",
    text=_TINY_TEXT,
    vision=_TINY_VISION,
    special_tokens_start=256,
    min_pixels=32 * 32,
    max_pixels=256 * 256,
)

QWEN3_VL_TINY_TIED = ArchitectureSpec(
    name="qwen3-vl-tiny-tied",
    description="The tiny Qwen3-VL with tied input/output embeddings, like the 2B/4B models",
    text=_TINY_TEXT,
    vision=_TINY_VISION,
    special_tokens_start=256,
    tie_word_embeddings=True,
    min_pixels=32 * 32,
    max_pixels=256 * 256,
)

#: The seed's "70B+" class as a VLM: Qwen3-VL-8B's vision tower in front of a 72B language model with the published
#: shape of Qwen2.5-VL-72B's (hidden 8192, MLP 29568, 80 layers, 64 query and 8 KV heads). No Qwen3-VL of this size
#: is published; it stands for "a 70B+ VLM" in notebook 11. Not in :data:`REGISTRY`: at about 137 GiB in BF16 it is
#: never written as a checkpoint, only drawn on a GPU that holds it (:func:`vlmkit.models.loading.build_on_device`).
QWEN3_VL_72B_SHAPE = ArchitectureSpec(
    name="qwen3-vl-72b-shape",
    description="Qwen3-VL-8B's vision tower with a 72B language model (Qwen2.5-VL-72B's published language-model "
                "shape), random weights; no such Qwen3-VL is published",
    text={**QWEN3_VL_8B.text, "vocab_size": 152064, "hidden_size": 8192, "intermediate_size": 29568,
          "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8},
    vision={**QWEN3_VL_8B.vision, "out_hidden_size": 8192, "deepstack_visual_indexes": [8, 16, 24]},
)

#: Notebook 11's CPU stand-in for a large model: the tiny model's vision tower in front of a language model four
#: times as wide and with eight layers (about 27 M parameters, a decode step reads about 50 MB in BF16). It checks
#: notebook 11's code on a CPU; it is not a 70B model and its ratios say nothing about one. Not in :data:`REGISTRY`
#: either: it is drawn where it runs, like the 72B shape.
QWEN3_VL_TINY_WIDE = ArchitectureSpec(
    name="qwen3-vl-tiny-wide",
    description="The tiny Qwen3-VL's vision tower with a language model 4x as wide, 8 layers (CPU stand-in for a "
                "large model in notebook 11), random weights",
    text={**_TINY_TEXT, "hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 8,
          "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64},
    vision={**_TINY_VISION, "out_hidden_size": 512},
    special_tokens_start=256,
    min_pixels=32 * 32,
    max_pixels=256 * 256,
)

REGISTRY: dict[str, ArchitectureSpec] = {
    spec.name: spec for spec in (QWEN3_VL_8B, QWEN3_VL_4B, QWEN3_VL_TINY, QWEN3_VL_TINY_TIED)
}


def get_spec(name: str) -> ArchitectureSpec:
    """Look up a registry entry by name, with a clear error for unknown names.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}: the registry has {sorted(REGISTRY)}; "
            "a local checkpoint directory or a hub id such as 'Qwen/Qwen3-VL-8B-Instruct' also works"
        ) from None


def count_parameters(spec: ArchitectureSpec) -> int:
    """Parameters of an architecture, counted on the meta device (no memory is used)."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration(spec.config())
    return sum(p.numel() for p in model.parameters())
