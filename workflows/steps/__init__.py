"""The step-type contract and the registry of step types.

A plugin adds step types by returning instances of :class:`StepType`
subclasses from the ``appgraph_step_types`` hook.
"""

from workflows.steps.base import (
    NO_RETRY,
    RetryPolicy,
    StepConfigContext,
    StepContext,
    StepOutcome,
    StepResources,
    StepType,
    to_json,
)
from workflows.steps.registry import RegisteredStepType, StepRegistry

__all__ = [
    "NO_RETRY",
    "RegisteredStepType",
    "RetryPolicy",
    "StepConfigContext",
    "StepContext",
    "StepOutcome",
    "StepRegistry",
    "StepResources",
    "StepType",
    "to_json",
]
