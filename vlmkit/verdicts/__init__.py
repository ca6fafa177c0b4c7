"""Judging the seed: its claims as data, the rules that turn a measurement into a verdict, quality, and the
statement table.

- ``claims``: the seed's sentences, quoted (memory, quality, speed, mechanisms).
- ``rules``: ``verdict``, speed and mechanism verdicts, claim records and the verdict rows made from them.
- ``quality``: accuracy, paired comparisons and logit fidelity of precisions on the tiny model's test set.
- ``statements``: every statement of the seed in one table, made from one run's records.

Imports the rooms below it. Taught in notebooks 01 (claims), 02 (quality), 03 (rules) and 08 (statements).
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "SEED_MECHANISM_CLAIMS": "claims",
    "SEED_MEMORY_CLAIMS_GIB": "claims",
    "SEED_MEMORY_CLAIM_MODEL": "claims",
    "SEED_MEMORY_CLAIM_TEXT": "claims",
    "SEED_QUALITY_CLAIMS": "claims",
    "SEED_QUALITY_CLAIM_TEXT": "claims",
    "SEED_SPEED_CLAIMS": "claims",
    "SpeedClaim": "claims",
    "claims": "claims",
    "Accuracy": "quality",
    "CPU_DEFAULT_PRECISIONS": "quality",
    "Fidelity": "quality",
    "PairedAccuracy": "quality",
    "evaluate": "quality",
    "every_kth_of_each_family": "quality",
    "logit_fidelity": "quality",
    "majority_baseline": "quality",
    "mcnemar_exact": "quality",
    "paired_accuracy": "quality",
    "quality": "quality",
    "Role": "rules",
    "Verdict": "rules",
    "current_verdict": "rules",
    "headline_text": "rules",
    "judge_speed_claim": "rules",
    "mechanism_claim": "rules",
    "record_claim": "rules",
    "rules": "rules",
    "speed_verdict": "rules",
    "unmeasured_claim": "rules",
    "verdict": "rules",
    "verdict_rows": "rules",
    "BANDWIDTH_TEXT": "statements",
    "DATA_PATH_TEXT": "statements",
    "NOT_TESTABLE_HERE": "statements",
    "RECIPE_TEXT": "statements",
    "SLOWER_CLAIM": "statements",
    "Statement": "statements",
    "seed_statement_table": "statements",
    "seed_statements": "statements",
    "statements": "statements",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
