"""Judging the seed: its claims as data, the rules that turn a measurement into a verdict, quality, and the
statement table.

- ``claims``: the seed's sentences, quoted (memory, quality, speed, mechanisms).
- ``rules``: ``verdict``, speed and mechanism verdicts, claim records and the verdict rows made from them.
- ``precision_speed``: INT8's and INT4's speed against BF16, and the two *why* sentences, judged per precision.
- ``quality``: accuracy, paired comparisons and logit fidelity of precisions on the tiny model's test set.
- ``statements``: every statement of the seed in one table, made from one run's records.
- ``consistency``: the same BF16 query as several notebooks timed it, and whether their numbers agree.

Imports the rooms below it. Taught in notebooks 01 (claims), 02 (quality), 03 (rules) and 08 (statements).
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "SAME_QUERY_TOLERANCE": "consistency",
    "SameQuery": "consistency",
    "judge_consistency": "consistency",
    "same_query_times": "consistency",
    "SEED_MECHANISM_CLAIMS": "claims",
    "SEED_MEMORY_CLAIMS_GIB": "claims",
    "SEED_MEMORY_CLAIM_MODEL": "claims",
    "SEED_MEMORY_CLAIM_TEXT": "claims",
    "SEED_QUALITY_CLAIMS": "claims",
    "SEED_QUALITY_CLAIM_TEXT": "claims",
    "SEED_SPEED_CLAIMS": "claims",
    "SpeedClaim": "claims",
    "claims": "claims",
    "EXPLAINS_HOLDS": "precision_speed",
    "EXPLAINS_REFUTED": "precision_speed",
    "SPEED_CLAIM_OF": "precision_speed",
    "compute_bound_outcome": "precision_speed",
    "dequantization_outcome": "precision_speed",
    "precision_speed": "precision_speed",
    "record_compute_bound_claim": "precision_speed",
    "record_dequantization_claims": "precision_speed",
    "record_speed_claims": "precision_speed",
    "Accuracy": "quality",
    "AccuracyMeasurement": "quality",
    "CPU_DEFAULT_PRECISIONS": "quality",
    "FIDELITY_DEFAULT_PRECISIONS": "quality",
    "Fidelity": "quality",
    "LogitFidelityMeasurement": "quality",
    "PairedAccuracy": "quality",
    "PairedAccuracyMeasurement": "quality",
    "QualitySettings": "quality",
    "evaluate": "quality",
    "every_kth_of_each_family": "quality",
    "every_kth_words": "quality",
    "first_token_logits_by_precision": "quality",
    "judge_quality_claim": "quality",
    "logit_fidelity": "quality",
    "majority_baseline": "quality",
    "mcnemar_exact": "quality",
    "paired_accuracy": "quality",
    "quality": "quality",
    "quality_settings": "quality",
    "FITS_TEXT": "rules",
    "MemoryClaimMeasurement": "rules",
    "Role": "rules",
    "Verdict": "rules",
    "current_verdict": "rules",
    "headline_text": "rules",
    "judge_memory_claims": "rules",
    "judge_speed_claim": "rules",
    "mechanism_claim": "rules",
    "inapplicable_claim": "rules",
    "headline_method": "rules",
    "run_ratios": "rules",
    "runs_verdict": "rules",
    "same_measurement": "rules",
    "DOES_NOT_APPLY": "rules",
    "memory_claims_apply": "rules",
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
    "SeedAdvice": "statements",
    "Statement": "statements",
    "TreeDecision": "statements",
    "seed_statement_table": "statements",
    "seed_statements": "statements",
    "statement_table": "statements",
    "statements": "statements",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
