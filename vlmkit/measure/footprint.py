"""Where the bytes of a loaded model are: by component and by kind of storage.

The popular arithmetic says "parameters x bytes per parameter". A loaded model
differs from it in three ways this module makes visible: some tensors are never
quantized (token embeddings, ``lm_head``, norms, biases, the patch-embedding
convolution), quantization adds constants (per-row scales for INT8, per-block
absmax and codebooks for 4-bit), and the vision tower is part of the model.
Weights that torchao swapped for tensor subclasses (notebook 10) count their
inner tensors: the packed data as quantized weights, scales and zero points as
constants.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

COMPONENTS = ("vision tower", "language layers", "token embeddings", "lm_head")
STORAGE_KINDS = ("quantized weights", "quantization constants", "unquantized tensors")
QUANTIZED_LINEAR_TYPES = ("Linear8bitLt", "Linear4bit")
#: Precisions that store exactly the bytes of another (same dtypes, same layout; only the values or the compute
#: path differ): FP16 as BF16, INT8 with outlier threshold 0 as LLM.int8, FP4 as NF4. Notebook 01 loads both of each
#: pair on the CPU (its checks assert equal bytes) and, by default on CUDA, only the one they copy.
SAME_BYTES_AS: dict[str, str] = {"fp16": "bf16", "int8-t0": "int8", "fp4": "nf4"}


@dataclass
class Footprint:
    """Bytes and parameters of a loaded model, broken down.

    ``bytes_by[component][kind]`` counts every tensor once (tied weights once);
    ``params_by[component]`` counts logical parameters (a 4-bit weight of shape
    (out, in) is out*in parameters, though it is stored packed).
    """

    bytes_by: dict[str, dict[str, int]] = field(default_factory=dict)
    params_by: dict[str, int] = field(default_factory=dict)
    quantized_layers: dict[str, int] = field(default_factory=dict)
    unquantized_linears: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(sum(kinds.values()) for kinds in self.bytes_by.values())

    @property
    def total_params(self) -> int:
        return sum(self.params_by.values())

    def bytes_of_kind(self, kind: str) -> int:
        """Bytes of one storage kind over all components."""
        return sum(kinds.get(kind, 0) for kinds in self.bytes_by.values())

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return {
            "total_bytes": self.total_bytes,
            "total_params": self.total_params,
            "bytes_by": self.bytes_by,
            "params_by": self.params_by,
            "quantized_layers": self.quantized_layers,
            "unquantized_linears": self.unquantized_linears,
        }


def component_of(name: str) -> str:
    """Which part of a Qwen3-VL model a parameter or module name belongs to."""
    if name.startswith("lm_head"):
        return "lm_head"
    if ".visual." in f".{name}":
        return "vision tower"
    if "embed_tokens" in name:
        return "token embeddings"
    return "language layers"


def _quant_constants(module: nn.Module, param: torch.Tensor) -> list[torch.Tensor]:
    """The tensors bitsandbytes keeps beside a quantized weight (scales, absmax, codebooks).

    ``Linear8bitLt`` moves its row scales from the weight to ``module.state`` on its first forward.
    """
    found = []
    scb = getattr(param, "SCB", None)
    if scb is None and getattr(module, "state", None) is not None:
        scb = getattr(module.state, "SCB", None)
    if isinstance(scb, torch.Tensor):
        found.append(scb)
    state = getattr(param, "quant_state", None)
    while state is not None:
        found += [t for t in (state.absmax, state.code, getattr(state, "offset", None)) if isinstance(t, torch.Tensor)]
        state = getattr(state, "state2", None)
    return found


def _inner_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The tensors that hold ``tensor``'s bytes: a torchao tensor subclass's inner tensors (its packed data first,
    then scales and zero points), else ``tensor`` itself."""
    if hasattr(tensor, "__tensor_flatten__"):
        return [getattr(tensor, name) for name in tensor.__tensor_flatten__()[0]]
    return [tensor]


def stored_bytes(tensor: torch.Tensor) -> int:
    """The bytes ``tensor`` stores: for a torchao weight (a tensor subclass) the sum of its inner tensors (packed
    data, scales, zero points), else its elements times their size.

    Taught in ``notebooks/10_int4_decode.ipynb`` (one layer's INT4 weight against its BF16 one).
    """
    return sum(t.numel() * t.element_size() for t in _inner_tensors(tensor))


def _logical_numel(module: nn.Module, name: str, tensor: torch.Tensor) -> int:
    if name == "weight" and type(module).__name__ == "Linear4bit":
        return module.in_features * module.out_features
    return tensor.numel()


def measure_footprint(model: nn.Module) -> Footprint:
    """Walk every module's own parameters and buffers (and bitsandbytes' quantization state).

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    bytes_by: dict[str, dict[str, int]] = {c: defaultdict(int) for c in COMPONENTS}
    params_by: dict[str, int] = defaultdict(int)
    layers: dict[str, int] = defaultdict(int)
    plain_linears = []
    seen: set[int] = set()

    def add(component: str, kind: str, tensor: torch.Tensor) -> bool:
        key = tensor.untyped_storage().data_ptr() if tensor.device.type != "meta" else id(tensor)
        if key in seen and key != 0:
            return False
        seen.add(key)
        bytes_by[component][kind] += stored_bytes(tensor)
        return True

    def add_subclass(component: str, tensor: torch.Tensor) -> None:
        for i, inner in enumerate(_inner_tensors(tensor)):
            add(component, "quantized weights" if i == 0 else "quantization constants", inner)

    for module_name, module in model.named_modules():
        kind_name = type(module).__name__
        if kind_name in QUANTIZED_LINEAR_TYPES:
            layers[kind_name] += 1
        elif isinstance(module, nn.Linear) and not hasattr(module.weight, "__tensor_flatten__"):
            plain_linears.append(module_name)  # (a Linear whose weight torchao swapped is quantized)
        tensors = [(n, t, True) for n, t in module.named_parameters(recurse=False)]
        tensors += [(n, t, False) for n, t in module.named_buffers(recurse=False)]
        for name, tensor, is_param in tensors:
            component = component_of(f"{module_name}.{name}")
            if hasattr(tensor, "__tensor_flatten__"):  # a torchao tensor subclass: its own inner tensors
                layers[type(tensor).__name__] += 1
                add_subclass(component, tensor)
                params_by[component] += tensor.numel() if is_param else 0
                continue
            quantized = kind_name in QUANTIZED_LINEAR_TYPES and name == "weight"
            if add(component, "quantized weights" if quantized else "unquantized tensors", tensor) and is_param:
                params_by[component] += _logical_numel(module, name, tensor)
            if quantized:
                for const in _quant_constants(module, tensor):
                    add(component, "quantization constants", const)

    return Footprint(
        bytes_by={c: {k: int(kinds.get(k, 0)) for k in STORAGE_KINDS} for c, kinds in bytes_by.items()},
        params_by={c: int(params_by.get(c, 0)) for c in COMPONENTS},
        quantized_layers=dict(layers),
        unquantized_linears=plain_linears,
    )
