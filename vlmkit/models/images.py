"""Turn what a user passes as an image into an RGB ``PIL.Image``, or say clearly why not.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from vlmkit.errors import ImageInputError, ImageTooLargeError

if TYPE_CHECKING:
    from transformers import Qwen2VLImageProcessor

ImageLike = Union[Image.Image, str, Path, np.ndarray]


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels-first, as torchvision tensors are
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageInputError(f"a numpy image must be HxW, HxWx3 or HxWx4, got shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ImageInputError("the numpy image holds NaN or infinite values")
        if array.min() < 0 or array.max() > 1:
            raise ImageInputError("a float image must hold values in [0, 1]; scale it or pass uint8")
        array = (array * 255).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageInputError(f"a numpy image must be uint8 or float in [0, 1], got {array.dtype}")
    return Image.fromarray(array)


def to_rgb_image(image: ImageLike) -> Image.Image:
    """Accept a PIL image, a file path or a numpy array; return an RGB PIL image.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    if isinstance(image, Image.Image):
        pil = image
    elif isinstance(image, (str, Path)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise ImageInputError(f"image file {path} does not exist")
        try:
            with Image.open(path) as opened:
                opened.load()
                pil = opened.copy()
        except (UnidentifiedImageError, OSError) as exc:
            raise ImageInputError(f"{path} is not a readable image ({exc})") from None
    elif isinstance(image, np.ndarray):
        pil = _from_array(image)
    else:
        raise ImageInputError(
            f"expected a PIL image, a path or a numpy array, got {type(image).__name__}; "
            "open it with PIL.Image.open(...) first"
        )
    if pil.width < 1 or pil.height < 1:
        raise ImageInputError(f"the image is empty ({pil.width}x{pil.height})")
    return pil.convert("RGB")


def visual_tokens(image_processor: Qwen2VLImageProcessor, height: int, width: int, *, within_budget: bool = True) -> int:
    """Visual tokens the model gets for a ``height`` x ``width`` image, as the image processor counts them.

    The processor resizes the image to multiples of ``patch_size * merge_size`` pixels (enlarging it to its
    ``min_pixels``, and, ``within_budget``, shrinking it to its ``max_pixels``), cuts it into patches and merges
    each ``merge_size`` x ``merge_size`` square of patches into one token: the grid it computes, divided by the
    merge. ``within_budget=False`` counts the image at its own size, as if there were no pixel budget.
    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    overrides = {} if within_budget else {"max_pixels": math.inf}
    return image_processor.get_number_of_image_patches(height, width, overrides) // image_processor.merge_size**2


def check_pixel_budget(image: Image.Image, image_processor: Qwen2VLImageProcessor) -> int:
    """Raise ``ImageTooLargeError`` if the processor would shrink the image; return its visual-token count.

    The Qwen processor silently shrinks an image over its pixel budget (``size["longest_edge"]``); vlmkit
    refuses instead, so that a benchmark never measures a different image than the one it names. The error
    states both visual-token counts the processor's own rule gives (:func:`visual_tokens`): the image's at its
    size and what the processor would shrink it to.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    max_pixels = int(image_processor.size["longest_edge"])
    tokens = visual_tokens(image_processor, image.height, image.width, within_budget=False)
    allowed = visual_tokens(image_processor, image.height, image.width)
    if allowed < tokens:
        side = int(max_pixels**0.5)
        raise ImageTooLargeError(
            f"the image is {image.width}x{image.height} = {image.width * image.height:,} pixels ({tokens:,} visual "
            f"tokens at this size; the processor would shrink it to {allowed:,}), over this model's budget of "
            f"{max_pixels:,} pixels; shrink it first, e.g. image.thumbnail(({side}, {side})), or pass "
            "resize_large_images=True to let the processor downscale it"
        )
    return tokens
