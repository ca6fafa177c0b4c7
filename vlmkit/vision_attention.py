"""One SDPA call for a batch of equally sized images in the Qwen3-VL vision tower (a training speed-up).

transformers' Qwen3-VL vision attention hands the packed image sequence with its
``cu_seqlens`` only to implementations whose name contains "flash"; every other
implementation gets one attention call per image and layer. With a training batch
of equally sized images that loop sets the pace, so vlmkit registers, through
transformers' own ``AttentionInterface``, an implementation that takes the packed
layout and runs all images as one batched ``scaled_dot_product_attention``. The
result is the same attention (tests compare the loss with plain SDPA).

Taught in ``notebooks/02_quality.ipynb`` (how the shapes model is trained).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, PreTrainedModel

#: Registered name; "flash" in it makes transformers pass the packed layout (cu_seqlens, max length).
EQUAL_IMAGES_ATTENTION = "flash_layout_equal_images_sdpa"


def equal_images_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None = None, scaling: float | None = None,
                      dropout: float = 0.0, cu_seq_lens_q: torch.Tensor | None = None,
                      max_length_q: int | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """Attention within each image of a packed ``[1, heads, images * length, dim]`` sequence of equal images."""
    _, heads, total, dim = query.shape
    images = cu_seq_lens_q.numel() - 1
    if max_length_q * images != total:  # the longest image times the count covers the total only if all are equal
        raise ValueError(f"{EQUAL_IMAGES_ATTENTION} needs images of one size; got {images} images in {total} tokens")

    def per_image(t: torch.Tensor) -> torch.Tensor:
        return t.view(heads, images, max_length_q, dim).transpose(0, 1)

    out = F.scaled_dot_product_attention(per_image(query), per_image(key), per_image(value),
                                         dropout_p=dropout, scale=scaling)
    return out.transpose(1, 2).reshape(1, total, heads, dim), None


AttentionInterface.register(EQUAL_IMAGES_ATTENTION, equal_images_sdpa)


def set_vision_attention(model: PreTrainedModel, implementation: str) -> None:
    """Switch only the vision tower's attention (``"sdpa"`` or :data:`EQUAL_IMAGES_ATTENTION`)."""
    model.set_attn_implementation({"vision_config": implementation})
