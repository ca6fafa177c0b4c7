"""vlmkit: the package behind the *Quantization Reality* experiment book.

A notebook imports one name, ``import vlmkit as vk``, and finds everything in a handful of rooms, each named for
what it holds (``docs/architecture.md`` draws the map; each room's ``__init__`` lists its modules):

- ``vk.core``: the device, progress bars, formatting: what every room needs.
- ``vk.measure``: the instruments: clocks, memory, profiler, stored bytes, speed-ups, and the records they write.
- ``vk.models``: architectures, checkpoints, processors, images, precisions, loading.
- ``vk.runtime``: running a model: ``VLMInference``, the decode loop, attention, KV cache, compilation, TF32.
- ``vk.bench``: benchmarks on this machine: the standard query, roofline, Linear layers, decode ladder.
- ``vk.verdicts``: the seed's claims, the rules that judge them, quality, the statement table.
- ``vk.tiny``: the tiny model's shapes data and its training.
- ``vk.planning``: will it fit (planner, emulated cards), and which precision (the seed's tree, the evidence's).
- ``vk.book``: the book itself: runner, README tables, reference runs, site, lab, course, exercises.

Each room imports only the rooms above it in this list (a test keeps it so). The names a user of the seed's API
needs are also here at the top: ``vk.VLMInference``, ``vk.load_model``, ``vk.plan_memory``,
``vk.recommend_precision``, the precisions and the registry, and the errors. Each helper's docstring names the
notebook that teaches it.
"""

import logging
from importlib.util import find_spec

# torchao (installed for notebook 10, and imported by transformers wherever it is installed) registers two Enum
# types with torch.compile, which logs a deprecation warning for each: noise in every notebook's first output.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
# bitsandbytes, on a CPU with AVX512-BF16, tries to fetch a faster 4-bit kernel from the Hugging Face kernels hub when
# it is imported, and warns when it cannot (no `kernels` package, no hub here); it then uses its own CPU kernel.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

from vlmkit import (  # noqa: E402
    bench,
    book,
    core,
    errors,
    measure,
    models,
    planning,
    runtime,
    tiny,
    verdicts,
)
from vlmkit.core.device import resolve_device  # noqa: E402
from vlmkit.core.formatting import show_whole_tables  # noqa: E402
from vlmkit.core.lazy import lazy_exports  # noqa: E402
from vlmkit.core.progress import quiet_libraries  # noqa: E402
from vlmkit.core.version import __version__  # noqa: E402
from vlmkit.errors import (  # noqa: E402
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
from vlmkit.models.architectures import REGISTRY, get_spec  # noqa: E402
from vlmkit.models.checkpoints import validate_checkpoint, write_checkpoint  # noqa: E402
from vlmkit.models.loading import LoadedModel, LoadReport, load_model  # noqa: E402
from vlmkit.models.precisions import PRECISION_NAMES, PRECISIONS, get_precision  # noqa: E402
from vlmkit.planning.planner import MemoryPlan, plan_memory  # noqa: E402
from vlmkit.planning.recommend import Recommendation, recommend_precision  # noqa: E402
from vlmkit.planning.seed_tree import seed_tree  # noqa: E402
from vlmkit.runtime.inference import Answer, CallStats, VLMInference  # noqa: E402

# every notebook imports vlmkit: its tables show text in full, its progress bars are text (vlmkit.core.progress)
if find_spec("pandas") is not None:  # pandas comes with the notebooks' extra, not with the package
    show_whole_tables()
quiet_libraries()

#: The rooms, loaded on first use (``vk.bench``, ``vk.book``, ...).
ROOMS = ("core", "measure", "models", "runtime", "bench", "verdicts", "tiny", "planning", "book")
__getattr__, _ = lazy_exports(__name__, {room: room for room in ROOMS})

__all__ = [
    "PRECISIONS",
    "PRECISION_NAMES",
    "REGISTRY",
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
    "Recommendation",
    "UnknownModelError",
    "VLMInference",
    "VLMKitError",
    "__version__",
    "bench",
    "book",
    "core",
    "errors",
    "get_precision",
    "get_spec",
    "load_model",
    "measure",
    "models",
    "plan_memory",
    "planning",
    "recommend_precision",
    "resolve_device",
    "runtime",
    "seed_tree",
    "tiny",
    "verdicts",
    "validate_checkpoint",
    "write_checkpoint",
]
