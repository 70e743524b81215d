"""Workflow engine: definitions, runs, steps and their effects.

The entry points:

- :class:`WorkflowRuntime` runs triggers, schedules and (without Redis) an
  embedded worker inside an application process.
- :func:`run_worker` runs a worker process on a Redis queue.
- :class:`WorkflowDefinitions` validates, saves, rolls back and compares
  definitions.
- :class:`Engine` executes one step of a run at a time.

Step types are plugins: see :class:`workflows.steps.StepType`.
"""

from workflows.approvals import ApprovalState
from workflows.definitions import StepChange, WorkflowDefinitions, WorkflowDiff
from workflows.engine import AdvanceResult, Engine
from workflows.errors import (
    AlreadyDecidedError,
    ApprovalError,
    ApprovalNotFoundError,
    ApprovalNotWaitingError,
    ApprovalWorkspaceError,
    NotApproverError,
    RunStateError,
    StepError,
    WorkflowDefinitionError,
    WorkflowError,
)
from workflows.model import (
    Step,
    Trigger,
    TriggerType,
    WorkflowDefinition,
    dump_workflow,
    parse_workflow,
)
from workflows.runtime import WorkflowRuntime, workflow_store_for
from workflows.settings import WorkflowSettings
from workflows.worker import run_worker

__all__ = [
    "AdvanceResult",
    "AlreadyDecidedError",
    "ApprovalError",
    "ApprovalNotFoundError",
    "ApprovalNotWaitingError",
    "ApprovalState",
    "ApprovalWorkspaceError",
    "Engine",
    "NotApproverError",
    "RunStateError",
    "Step",
    "StepChange",
    "StepError",
    "Trigger",
    "TriggerType",
    "WorkflowDefinition",
    "WorkflowDefinitionError",
    "WorkflowDefinitions",
    "WorkflowDiff",
    "WorkflowError",
    "WorkflowRuntime",
    "WorkflowSettings",
    "dump_workflow",
    "parse_workflow",
    "run_worker",
    "workflow_store_for",
]
