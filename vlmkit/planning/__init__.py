"""Deciding: will a query fit a card, and which precision should run on it?

- ``planner``: ``plan_memory`` predicts weights and a query's peak from the architecture alone.
- ``cards``: smaller cards emulated on a large GPU (does a query really fit in 8, 10, 12, 16, 24 GiB?), and the
  card test both trees are judged by (``CardTest``: measured fits, the planner's margin).
- ``seed_tree``: the seed's decision tree, as written.
- ``recommend``: ``recommend_precision``, the evidence-based answer (measured cards first, then the planner with
  the margin the measured queries justify, and the measured speeds).
- ``explorer``: what notebook 08's explorer shows for one setting of its widgets.
- ``advice``: the seed's card advice and its tree, judged against the emulated cards or the planner.

Imports the rooms below it. Taught in notebooks 01 and 06 (planner) and 08.
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "SEED_ADVICE_IMAGES": "advice",
    "SeedEvidence": "advice",
    "SeedTreeCase": "advice",
    "TREE_BATCHES": "advice",
    "advice": "advice",
    "compare_trees": "advice",
    "judge_seed_advice": "advice",
    "judge_seed_tree": "advice",
    "seed_evidence": "advice",
    "CARD_SIZES_GIB": "cards",
    "MARGIN_STEP": "cards",
    "REFERENCE_CARD_RESULTS": "cards",
    "CardFit": "cards",
    "CardTest": "cards",
    "DecisionSettings": "cards",
    "FitResult": "cards",
    "PlannerCheck": "cards",
    "PlannerWeights": "cards",
    "PrecisionSweep": "cards",
    "Shortfall": "cards",
    "cards": "cards",
    "check_planner": "cards",
    "decision_settings": "cards",
    "largest_batch": "cards",
    "memory_cap": "cards",
    "sweep_cards": "cards",
    "sweep_precisions": "cards",
    "try_query": "cards",
    "EXPLORER_CONTROLS": "explorer",
    "Explorer": "explorer",
    "explorer": "explorer",
    "explorer_view": "explorer",
    "need_chart": "explorer",
    "DEFAULT_QUESTION": "planner",
    "MemoryPlan": "planner",
    "NESTED_BLOCKSIZE": "planner",
    "REFERENCE_LOAD_RESULTS": "planner",
    "compare_with_records": "planner",
    "plan_memory": "planner",
    "planner": "planner",
    "reference_cuda_context_bytes": "planner",
    "CANDIDATES": "recommend",
    "COMPILED_VARIANT": "recommend",
    "EAGER_VARIANT": "recommend",
    "Evidence": "recommend",
    "FLASH_VARIANT": "recommend",
    "PRIORITIES": "recommend",
    "Recommendation": "recommend",
    "SDPA_VARIANT": "recommend",
    "recommend": "recommend",
    "recommend_precision": "recommend",
    "INT8_BELOW_GIB": "seed_tree",
    "QUANTIZE": "seed_tree",
    "QUANTIZE_READINGS": "seed_tree",
    "SEED_CARD_ADVICE": "seed_tree",
    "SeedCardAdvice": "seed_tree",
    "check_card_question": "seed_tree",
    "seed_tree": "seed_tree",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
