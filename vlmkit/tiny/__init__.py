"""The tiny model's data and training: the synthetic shapes set and the tiny Qwen3-VL vlmkit trains on it.

- ``shapes``: scenes of shapes on a grid, questions with known answers, the committed test split.
- ``training``: training the tiny model on CPU or CUDA, its checkpoint and model card.

Imports the rooms below it. Taught in ``notebooks/02_quality.ipynb``.
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "BACKGROUND": "shapes",
    "CAPTION": "shapes",
    "CELL": "shapes",
    "COLOURS": "shapes",
    "COLUMNS": "shapes",
    "COUNT_WORDS": "shapes",
    "Example": "shapes",
    "FAMILIES": "shapes",
    "GRID": "shapes",
    "IMAGE_SIZE": "shapes",
    "JITTER": "shapes",
    "MAX_OBJECTS": "shapes",
    "Question": "shapes",
    "ROWS": "shapes",
    "SHAPES": "shapes",
    "SIZES": "shapes",
    "Scene": "shapes",
    "Shape": "shapes",
    "candidate_questions": "shapes",
    "caption": "shapes",
    "load_split": "shapes",
    "make_split": "shapes",
    "random_scene": "shapes",
    "render": "shapes",
    "save_split": "shapes",
    "shapes": "shapes",
    "standard_splits": "shapes",
    "vocabulary": "shapes",
    "write_split_readme": "shapes",
    "TARGET_ACCURACY": "training",
    "TIMINGS": "training",
    "TensorSet": "training",
    "TrainConfig": "training",
    "TrainResult": "training",
    "build_tensors": "training",
    "command_for": "training",
    "measure_step_rate": "training",
    "record_step_rate": "training",
    "save_trained": "training",
    "teacher_forced_accuracy": "training",
    "train_shapes_model": "training",
    "training": "training",
    "write_model_card": "training",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
