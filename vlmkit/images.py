"""Turn what a user passes as an image into an RGB ``PIL.Image``, or say clearly why not.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from vlmkit.errors import ImageInputError, ImageTooLargeError

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


def check_pixel_budget(image: Image.Image, max_pixels: int, patch: int) -> int:
    """Raise ``ImageTooLargeError`` if the image exceeds the budget; return its visual-token count.

    The Qwen processor would silently shrink such an image; vlmkit refuses instead,
    so that a benchmark never measures a different image than the one it names.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    pixels = image.width * image.height
    tokens = pixels // (patch * patch)
    if pixels > max_pixels:
        side = int(max_pixels**0.5)
        raise ImageTooLargeError(
            f"the image is {image.width}x{image.height} = {pixels:,} pixels (about {tokens:,} visual tokens), "
            f"over this model's budget of {max_pixels:,} pixels; shrink it first, e.g. image.thumbnail(({side}, {side})), "
            "or pass resize_large_images=True to let the processor downscale it"
        )
    return tokens
