"""vlmkit: the package behind the *Quantization Reality* experiment book.

Each public helper's docstring names the notebook that teaches it.
"""

import logging
from importlib.util import find_spec

# torchao (installed for notebook 10, and imported by transformers wherever it is installed) registers two Enum
# types with torch.compile, which logs a deprecation warning for each: noise in every notebook's first output.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)

from vlmkit.checkpoint import validate_checkpoint, write_checkpoint
from vlmkit.decision import Recommendation, decide, seed_tree
from vlmkit.device import resolve_device
from vlmkit.display import show_whole_tables
from vlmkit.errors import (
    BackendUnavailableError,
    CheckpointError,
    ConfigurationError,
    ConversationError,
    DeviceUnavailableError,
    ImageInputError,
    ImageTooLargeError,
    UnknownModelError,
    VLMKitError,
)
from vlmkit.inference import Answer, CallStats, VLMInference
from vlmkit.loading import LoadedModel, LoadReport, load_model
from vlmkit.planner import MemoryPlan, plan_memory
from vlmkit.precision import ALL_PRECISIONS, PRECISIONS, get_precision
from vlmkit.progress import quiet_libraries
from vlmkit.registry import REGISTRY, get_spec

# every notebook imports vlmkit: its tables show text in full, its progress bars are text (vlmkit.progress)
if find_spec("pandas") is not None:  # pandas comes with the notebooks' extra, not with the package
    show_whole_tables()
quiet_libraries()

__version__ = "0.1.0"

__all__ = [
    "ALL_PRECISIONS",
    "Answer",
    "BackendUnavailableError",
    "CallStats",
    "CheckpointError",
    "ConfigurationError",
    "ConversationError",
    "DeviceUnavailableError",
    "ImageInputError",
    "ImageTooLargeError",
    "LoadReport",
    "LoadedModel",
    "MemoryPlan",
    "PRECISIONS",
    "REGISTRY",
    "Recommendation",
    "UnknownModelError",
    "VLMInference",
    "VLMKitError",
    "decide",
    "get_precision",
    "get_spec",
    "load_model",
    "plan_memory",
    "resolve_device",
    "seed_tree",
    "validate_checkpoint",
    "write_checkpoint",
]
