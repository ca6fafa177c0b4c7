"""The models: architectures, checkpoints, processors, images, precisions, and loading them.

- ``architectures``: the registry of Qwen3-VL shapes the book builds without a hub (8B, 4B, tiny; the 72B shape and a
  wide tiny one, drawn where they run).
- ``checkpoints``: writing and checking complete Hugging Face checkpoints with random, seeded weights.
- ``processor``: the real ``Qwen3VLProcessor`` around a tokenizer vlmkit makes itself.
- ``images``: image input checks and how many visual tokens an image becomes.
- ``precisions``: BF16, FP16, FP32, LLM.int8 and bitsandbytes' 4-bit, as ``from_pretrained`` asks for them.
- ``attention_backends``: which attention implementation a model loads with.
- ``loading``: ``load_model`` (``from_pretrained`` with a load report), building a model on the device directly.
- ``int4``: torchao's INT4 weight-only layers put on a loaded model.
- ``quantize_in_place``: a built model's Linear layers quantized where it lies, as ``from_pretrained`` would.

Imports ``vlmkit.core`` and ``vlmkit.measure``. Taught in notebooks 01 (loading, precisions), 10 (INT4) and 11 (quantizing
in place).
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "ArchitectureSpec": "architectures",
    "QWEN3_VL_4B": "architectures",
    "QWEN3_VL_72B_SHAPE": "architectures",
    "QWEN3_VL_TINY_WIDE": "architectures",
    "QWEN3_VL_8B": "architectures",
    "QWEN3_VL_TINY": "architectures",
    "QWEN3_VL_TINY_TIED": "architectures",
    "QWEN_SPECIAL_TOKENS": "architectures",
    "QWEN_SPECIAL_TOKENS_START": "architectures",
    "REGISTRY": "architectures",
    "architectures": "architectures",
    "count_parameters": "architectures",
    "get_spec": "architectures",
    "ATTENTION_IMPLEMENTATIONS": "attention_backends",
    "AttentionChoice": "attention_backends",
    "EQUAL_IMAGES_ATTENTION": "attention_backends",
    "FLASH_ATTN_PACKAGES": "attention_backends",
    "SDPA_BACKENDS": "attention_backends",
    "attention_backends": "attention_backends",
    "choose_attention": "attention_backends",
    "equal_images_sdpa": "attention_backends",
    "flash_attn_unavailable_reason": "attention_backends",
    "set_vision_attention": "attention_backends",
    "MANIFEST": "checkpoints",
    "PROCESSOR_FILES": "checkpoints",
    "cache_dir": "checkpoints",
    "checkpoint_path": "checkpoints",
    "checkpoints": "checkpoints",
    "generation_config": "checkpoints",
    "read_manifest": "checkpoints",
    "validate_checkpoint": "checkpoints",
    "write_checkpoint": "checkpoints",
    "ImageLike": "images",
    "check_pixel_budget": "images",
    "images": "images",
    "to_rgb_image": "images",
    "visual_tokens": "images",
    "INT4_CANDIDATES": "precisions",
    "INT4_GROUP_SIZE": "precisions",
    "MSLK_PACKINGS": "precisions",
    "TINYGEMM_PACKING": "precisions",
    "check_mslk_packing": "precisions",
    "INT4_KEPT_MODULES": "precisions",
    "int4_weight_config": "precisions",
    "Int4Kernels": "int4",
    "Int4Result": "int4",
    "Int4Verdict": "int4",
    "int4": "int4",
    "int4_copy": "int4",
    "int4_kernel": "int4",
    "quantize_language_layers_int4": "int4",
    "is_replaced": "quantize_in_place",
    "modules_kept": "quantize_in_place",
    "quantize_in_place": "quantize_in_place",
    "LoadMeasurement": "loading",
    "LoadReport": "loading",
    "LoadedModel": "loading",
    "LoadingSettings": "loading",
    "SameBytes": "loading",
    "build_on_device": "loading",
    "load_model": "loading",
    "loading": "loading",
    "loading_settings": "loading",
    "resolve_source": "loading",
    "same_bytes": "loading",
    "PRECISIONS": "precisions",
    "PRECISION_NAMES": "precisions",
    "Precision": "precisions",
    "get_precision": "precisions",
    "precision_from_flags": "precisions",
    "precisions": "precisions",
    "CHAT_TEMPLATE": "processor",
    "build_processor": "processor",
    "build_tokenizer": "processor",
    "processor": "processor",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
