"""The errors vlmkit raises: each says what went wrong and what to do instead.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations


class VLMKitError(Exception):
    """Base class of every error vlmkit raises on purpose."""


class ConfigurationError(VLMKitError, ValueError):
    """Arguments that contradict each other (say, both 8-bit and 4-bit)."""


class UnknownModelError(VLMKitError, ValueError):
    """A model name that is neither in the registry, nor a local checkpoint, nor reachable on the hub."""


class DeviceUnavailableError(VLMKitError, RuntimeError):
    """The requested device does not exist on this machine (say, CUDA without a GPU)."""


class BackendUnavailableError(VLMKitError, RuntimeError):
    """A requested kernel or library has no backend here (bitsandbytes on MPS, flash-attn on CPU)."""


class CheckpointError(VLMKitError, OSError):
    """A checkpoint directory that is missing files or holds truncated weights."""


class ImageInputError(VLMKitError, ValueError):
    """Something passed as an image that is not one, or cannot be read."""


class ImageTooLargeError(ImageInputError):
    """An image over the model's pixel budget."""


class ConversationError(VLMKitError, RuntimeError):
    """A follow-up question without a conversation to continue."""
