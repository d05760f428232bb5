"""Hypothesis profiles for the robustness properties.

``ci`` (the default): 2,000 examples per property, derandomized so every CI run draws the same
examples. ``thorough``: 100,000 examples per property, freshly random; pick it with
``HYPOTHESIS_PROFILE=thorough``. The profile applies to this package's properties only (see
:func:`tests.robustness.scripts.profile`), never to the rest of the suite.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_RELAXED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    max_examples=2_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_RELAXED,
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=100_000,
    deadline=None,
    database=None,
    suppress_health_check=_RELAXED,
    print_blob=True,
)
