"""The audit trail: what is recorded as what."""

from __future__ import annotations

from tenctl_core import audit


def test_refused_errors_are_the_documented_ones():
    from tenctl_core import errors

    refused = {
        name
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.TenctlError) and cls.refusal
    }
    assert refused == {
        "UsageError",
        "ConfigError",
        "NotFoundError",
        "ConflictError",
        "AllocationLost",
        "AllocationError",
        "CapacityError",
    }
    assert audit.outcome_of(errors.StepFailed("x", ValueError("y"), [], [])) == "failure"
    assert audit.outcome_of(KeyboardInterrupt()) == "interrupted"
