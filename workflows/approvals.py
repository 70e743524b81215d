"""Approval steps: their config, their state and the decisions of approvers.

An approval step asks ordered levels of approvers for a decision. Each level
names its approvers, a mode (``any``, ``all`` or ``{"quorum": n}``) and an
optional deadline with what happens when it passes. The step keeps its
current level in the store (:class:`~store.workflows.StoredApproval`), and a
run waiting for a decision is a waiting run that uses no worker.
:func:`decide` stores a decision and wakes the run, whose next execution of
the step applies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from store.workflows import (
    OPEN_RUN_STATUSES,
    ApprovalDecision,
    ApprovalStatus,
    Decision,
    StepStatus,
    StoredApproval,
    WorkflowRun,
    WorkflowStore,
)
from workflows.errors import (
    AlreadyDecidedError,
    ApprovalNotFoundError,
    ApprovalNotWaitingError,
    ApprovalWorkspaceError,
    NotApproverError,
)
from workflows.steps.base import PATTERN_FORMS

WORKSPACE_ROLES = frozenset({"admin", "member"})
"""Roles of API tokens; a level naming one lets every such user decide."""

APPROVER_PATTERN = re.compile(
    r"^(user:(?P<user>\S.{0,199})|role:(?P<role>\S.{0,99})"
    r"|submitter\.(?P<attribute>[A-Za-z_][A-Za-z0-9_]{0,63}))$"
)
"""An approver of a level: ``user:<id>``, ``role:<name>`` or
``submitter.<attribute>``."""

DEFAULT_STATUS_VALUES: Mapping[str, str] = {
    "pending": "pending",
    "approved": "approved",
    "rejected": "rejected",
}

_DURATION = {
    "type": "object",
    "properties": {
        unit: {"type": "integer", "minimum": 0}
        for unit in ("days", "hours", "minutes", "seconds")
    },
    "additionalProperties": False,
    "minProperties": 1,
}
_APPROVERS = {
    "type": "array",
    "items": {
        "type": "string",
        "pattern": APPROVER_PATTERN.pattern,
        PATTERN_FORMS: "user:<id>, role:<name> or submitter.<attribute>",
    },
    "minItems": 1,
    "maxItems": 50,
}
_TEXT = {"type": "string", "minLength": 1}

CONFIG_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "levels": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "approvers": _APPROVERS,
                    "mode": {
                        "oneOf": [
                            {"enum": ["any", "all"]},
                            {
                                "type": "object",
                                "properties": {
                                    "quorum": {"type": "integer", "minimum": 1}
                                },
                                "required": ["quorum"],
                                "additionalProperties": False,
                            },
                        ]
                    },
                    "deadline": _DURATION,
                    "on_deadline": {"enum": ["escalate", "reject", "approve"]},
                    "escalate_to": _APPROVERS,
                },
                "required": ["approvers"],
                "additionalProperties": False,
            },
        },
        "roles": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "items": _TEXT,
                "maxItems": 200,
            },
        },
        "attributes": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": _TEXT,
            },
        },
        "status_field": _TEXT,
        "status_values": {
            "type": "object",
            "properties": {key: _TEXT for key in DEFAULT_STATUS_VALUES},
            "additionalProperties": False,
        },
        "continue_on_reject": {"type": "boolean"},
        "subject": _TEXT,
        "text": _TEXT,
    },
    "required": ["levels"],
    "additionalProperties": False,
}
"""JSON Schema of an approval step's config."""


@dataclass(frozen=True)
class ApprovalLevel:
    """One level of an approval step, as configured."""

    approvers: tuple[str, ...]
    name: str = ""
    mode: Literal["any", "all", "quorum"] = "any"
    quorum: int = 1
    deadline: timedelta | None = None
    on_deadline: Literal["escalate", "reject", "approve"] = "escalate"
    escalate_to: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalConfig:
    """The parsed config of an approval step."""

    levels: tuple[ApprovalLevel, ...]
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Named roles: user ids by role name."""
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """User attributes by attribute name, then user id. They take precedence
    over the workspace's stored user attributes."""
    status_field: str | None = None
    status_values: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_STATUS_VALUES)
    )
    continue_on_reject: bool = False
    subject: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class ApprovalState:
    """An approval step of a run: its current level, status and decisions.

    Attributes:
        run_id: The run.
        step_key: The approval step's key in the run.
        workflow_id: The run's workflow.
        record_id: The triggering record, if any.
        level: Index of the current level, from 0.
        level_count: Number of levels.
        status: ``pending`` until the last level approves or a level
            rejects. A decision shows here once the run applied it.
        escalated: Whether the current level went to its ``escalate_to``
            approvers.
        approvers: User ids that may decide at the current level, besides
            the users of ``approver_roles``.
        approver_roles: Workspace roles whose users may decide.
        deadline: When the current level's deadline passes, or None.
        decisions: Every decision of the step, at every level, oldest first.
        reason: Why the approval ended (``decision``, ``deadline``), or None.
    """

    run_id: str
    step_key: str
    workflow_id: str
    record_id: str | None
    level: int
    level_count: int
    status: ApprovalStatus
    escalated: bool
    approvers: tuple[str, ...]
    approver_roles: tuple[str, ...]
    deadline: datetime | None
    decisions: tuple[ApprovalDecision, ...]
    reason: str | None = None

    @classmethod
    def from_stored(
        cls, stored: StoredApproval, decisions: Sequence[ApprovalDecision]
    ) -> ApprovalState:
        """Build the state from the stored approval and its decisions."""
        return cls(
            run_id=stored.run_id,
            step_key=stored.step_key,
            workflow_id=stored.workflow_id,
            record_id=stored.record_id,
            level=stored.level,
            level_count=stored.level_count,
            status=stored.status,
            escalated=stored.escalated,
            approvers=stored.approvers,
            approver_roles=stored.approver_roles,
            deadline=stored.deadline,
            decisions=tuple(decisions),
            reason=stored.reason,
        )


def parse_approval_config(config: Mapping[str, Any]) -> ApprovalConfig:
    """Return the config of an approval step that passed :data:`CONFIG_SCHEMA`."""
    levels = []
    for raw in config["levels"]:
        mode = raw.get("mode", "any")
        quorum = 1
        if isinstance(mode, Mapping):
            quorum = int(mode["quorum"])
            mode = "quorum"
        deadline = raw.get("deadline")
        levels.append(
            ApprovalLevel(
                approvers=tuple(raw["approvers"]),
                name=raw.get("name", ""),
                mode=mode,
                quorum=quorum,
                deadline=timedelta(**deadline) if deadline else None,
                on_deadline=raw.get("on_deadline", "escalate"),
                escalate_to=tuple(raw.get("escalate_to", ())),
            )
        )
    return ApprovalConfig(
        levels=tuple(levels),
        roles={name: tuple(users) for name, users in config.get("roles", {}).items()},
        attributes={
            name: dict(values) for name, values in config.get("attributes", {}).items()
        },
        status_field=config.get("status_field"),
        status_values={**DEFAULT_STATUS_VALUES, **config.get("status_values", {})},
        continue_on_reject=bool(config.get("continue_on_reject", False)),
        subject=config.get("subject"),
        text=config.get("text"),
    )


def level_decisions(
    approval: StoredApproval, decisions: Sequence[ApprovalDecision]
) -> list[ApprovalDecision]:
    """Return the decisions that count for the current level, oldest first.

    After an escalation only the decisions made since count, so the
    escalation approvers decide.
    """
    at_level = [d for d in decisions if d.level == approval.level]
    if not approval.escalated:
        return at_level
    return [d for d in at_level if d.decided_at >= approval.level_started_at]


def level_outcome(
    mode: Literal["any", "all", "quorum"],
    quorum: int,
    approvers: Sequence[str],
    decisions: Sequence[ApprovalDecision],
) -> ApprovalStatus:
    """Return whether the decisions of a level approve it, reject it or neither.

    ``any``: the first decision decides. ``all``: every approver must
    approve, and one rejection rejects. ``quorum``: ``quorum`` approvals
    approve, and the level is rejected once too few approvers are left to
    reach it.
    """
    approved = {d.user_id for d in decisions if d.decision is Decision.APPROVE}
    rejected = {d.user_id for d in decisions if d.decision is Decision.REJECT}
    if mode == "any":
        if not decisions:
            return ApprovalStatus.PENDING
        first = decisions[0].decision
        return (
            ApprovalStatus.APPROVED
            if first is Decision.APPROVE
            else ApprovalStatus.REJECTED
        )
    if mode == "all":
        if rejected:
            return ApprovalStatus.REJECTED
        if approvers and set(approvers) <= approved:
            return ApprovalStatus.APPROVED
        return ApprovalStatus.PENDING
    if len(approved) >= quorum:
        return ApprovalStatus.APPROVED
    pool = set(approvers) | approved | rejected
    if len(pool) - len(rejected) < quorum:
        return ApprovalStatus.REJECTED
    return ApprovalStatus.PENDING


async def decide(
    workflows: WorkflowStore,
    run_id: str,
    step_key: str,
    *,
    workspace_id: str,
    user_id: str,
    role: str,
    decision: Literal["approve", "reject"],
    comment: str | None,
    now: datetime,
) -> ApprovalState:
    """Store a user's decision at the current level of an approval step.

    The same decision with the same comment again returns the state without
    storing anything, so a client may repeat a request.

    Raises:
        ApprovalNotFoundError: the run, or its approval step, does not exist.
        ApprovalWorkspaceError: the run belongs to another workspace.
        ApprovalNotWaitingError: the step is not waiting for a decision.
        NotApproverError: the user may not decide at the current level.
        AlreadyDecidedError: the user decided differently at this level.
        ValueError: ``decision`` is neither ``approve`` nor ``reject``.
    """
    if decision not in ("approve", "reject"):
        raise ValueError(
            f"Invalid decision {decision!r}: expected 'approve' or 'reject'."
        )
    choice = Decision(decision)
    run = await workflows.get_run(run_id)
    if run is None:
        raise ApprovalNotFoundError(
            f"Workflow run {run_id!r} was not found. Check the run id."
        )
    if run.workspace_id != workspace_id:
        raise ApprovalWorkspaceError(
            f"Workflow run {run_id!r} belongs to another workspace than "
            f"{workspace_id!r}; decide with a token of the run's workspace."
        )
    approval = await workflows.get_approval(run_id, step_key)
    if approval is None:
        raise ApprovalNotFoundError(
            f"Workflow run {run_id!r} has no approval step {step_key!r}. "
            f"List pending approvals for the step keys."
        )
    await _require_waiting(workflows, run, step_key, approval)
    if user_id not in approval.approvers and role not in approval.approver_roles:
        raise NotApproverError(
            f"User {user_id!r} is not an approver of level {approval.level + 1} "
            f"of step {step_key!r} in run {run_id!r}."
        )

    stored = await workflows.record_approval_decision(
        ApprovalDecision(
            run_id, step_key, approval.level, user_id, choice, comment, now
        ),
        now,
    )
    if stored is None:
        raise ApprovalNotWaitingError(
            f"Level {approval.level + 1} of step {step_key!r} in run {run_id!r} "
            f"ended while the decision was being stored. Reload the approval."
        )
    existing, created = stored
    if not created and (existing.decision, existing.comment) != (choice, comment):
        raise AlreadyDecidedError(
            f"User {user_id!r} already decided {existing.decision.value!r} at "
            f"level {approval.level + 1} of step {step_key!r} in run {run_id!r} "
            f"at {existing.decided_at.isoformat()}; a decision cannot be changed."
        )
    decisions = await workflows.list_approval_decisions(run_id, step_key)
    return ApprovalState.from_stored(approval, decisions)


async def _require_waiting(
    workflows: WorkflowStore, run: WorkflowRun, step_key: str, approval: StoredApproval
) -> None:
    if run.status not in OPEN_RUN_STATUSES:
        raise ApprovalNotWaitingError(
            f"Run {run.id!r} is {run.status}, so step {step_key!r} takes no more "
            f"decisions."
        )
    if approval.status is not ApprovalStatus.PENDING:
        raise ApprovalNotWaitingError(
            f"Step {step_key!r} of run {run.id!r} is already {approval.status}; "
            f"it takes no more decisions."
        )
    executions = await workflows.list_step_executions(run.id)
    execution = next((e for e in executions if e.step_key == step_key), None)
    if execution is None or execution.status is StepStatus.DONE:
        raise ApprovalNotWaitingError(
            f"Step {step_key!r} of run {run.id!r} is not waiting for a decision."
        )


async def pending_for(
    workflows: WorkflowStore, workspace_id: str, user_id: str, role: str
) -> list[ApprovalState]:
    """Return the pending approvals a user may decide and has not, oldest first."""
    states = []
    for stored in await workflows.list_pending_approvals(workspace_id, user_id, role):
        decisions = await workflows.list_approval_decisions(
            stored.run_id, stored.step_key
        )
        states.append(ApprovalState.from_stored(stored, decisions))
    return states
