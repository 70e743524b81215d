"""The built-in step types, registered through the ``appgraph_step_types`` hook.

:func:`plugins.manager.create_plugin_manager` registers this module the same
way third-party plugins register theirs. docs/workflows.md is the catalogue
of these types and their config keys.
"""

from __future__ import annotations

from plugins.hookspecs import hookimpl
from workflows.steps.base import StepType
from workflows.steps.builtin.approval import ApprovalStepType
from workflows.steps.builtin.control import (
    ConditionStepType,
    FailStepType,
    ForEachStepType,
    StopStepType,
    WaitStepType,
)
from workflows.steps.builtin.effects import (
    HttpRequestStepType,
    SendEmailStepType,
    SendSmsStepType,
)
from workflows.steps.builtin.records import (
    CreateRecordStepType,
    DeleteRecordStepType,
    FindRecordStepType,
    SetFieldsStepType,
    UpdateRecordStepType,
)


@hookimpl
def appgraph_step_types() -> list[StepType]:
    """Return the built-in step types."""
    return [
        ConditionStepType(),
        ForEachStepType(),
        WaitStepType(),
        StopStepType(),
        FailStepType(),
        SetFieldsStepType(),
        CreateRecordStepType(),
        UpdateRecordStepType(),
        FindRecordStepType(),
        DeleteRecordStepType(),
        SendEmailStepType(),
        SendSmsStepType(),
        HttpRequestStepType(),
        ApprovalStepType(),
    ]
