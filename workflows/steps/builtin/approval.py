"""The approval step type: ordered levels of approvers decide on the record.

Each execution of the step reads the stored approval, applies the decisions
and deadlines that are due, notifies the approvers of the current level and
returns ``wait_until`` (the level's deadline) while a decision is missing.
The step type has ``rerun_on_wake``, so a decision, which wakes the run, or
the deadline runs the step again. Between executions the run is a stored
waiting run that uses no worker.

Every effect is idempotent: a notification is stored once per (run, step,
level, user) and its email is sent only while the stored notification has
no ``emailed_at``, with a Message-ID derived from the notification's key.
Record status writes go through :class:`~workflows.records.RecordWriter`
with a key per status value, which finds its own committed write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

from blocks.errors import ErrorCode, Problem
from store.models import EventKind
from store.workflows import ApprovalStatus, NewNotification, StoredApproval
from workflows.approvals import (
    APPROVER_PATTERN,
    CONFIG_SCHEMA,
    WORKSPACE_ROLES,
    ApprovalConfig,
    ApprovalLevel,
    level_decisions,
    level_outcome,
    parse_approval_config,
)
from workflows.email import (
    EmailDeliveryError,
    InvalidEmailError,
    OutgoingEmail,
    send_email,
)
from workflows.errors import StepError
from workflows.model import Step
from workflows.records import RecordWriter
from workflows.steps.base import (
    RetryPolicy,
    StepConfigContext,
    StepContext,
    StepOutcome,
    StepType,
)
from workflows.templates import TemplateError, check_template, render_template

logger = logging.getLogger(__name__)

RECHECK_INTERVAL = timedelta(days=1)
"""Wake-up of a level without a deadline. A decision wakes the run sooner;
this only bounds how long a lost wake-up delays it."""

NOTIFICATION_KIND = "approval_requested"
"""Kind of the notifications an approval step stores for its approvers."""

EMAIL_ATTRIBUTE = "email"
"""User attribute with the address of an approver's notification emails."""


class ApprovalStepType(StepType):
    """Ask ordered levels of approvers to approve or reject the record."""

    name = "approval"
    label = "Approval"
    description = (
        "Ask ordered levels of approvers for a decision, with a mode (any, all "
        "or a quorum) and a deadline per level, and set the record's status "
        "to pending, approved or rejected."
    )
    config_schema: ClassVar[Mapping[str, Any]] = CONFIG_SCHEMA
    retry: ClassVar[RetryPolicy] = RetryPolicy(
        max_attempts=5, backoff=30.0, max_backoff=3600.0
    )
    rerun_on_wake = True

    def validate_config(self, step: Step, context: StepConfigContext) -> list[Problem]:
        """Check the schema, role names, deadlines, status field and templates."""
        problems = super().validate_config(step, context)
        if problems:
            return problems
        config = step.config
        named_roles = set(config.get("roles", {}))
        for index, level in enumerate(config["levels"]):
            problems.extend(_level_problems(index, level, named_roles))
        status_field = config.get("status_field")
        fields = context.app_fields.get(context.own_app_slug)
        if status_field is not None and fields is not None:
            if status_field not in fields:
                problems.append(
                    Problem(
                        ("status_field",),
                        ErrorCode.UNKNOWN_FIELD,
                        f"The app has no field {status_field!r} to hold the "
                        f"approval status; name one of its block ids.",
                    )
                )
        for key in ("subject", "text"):
            source = config.get(key)
            if source is None:
                continue
            try:
                check_template(source, path=key)
            except TemplateError as error:
                problems.append(
                    Problem(
                        (key,), ErrorCode.INVALID_CONFIG, f"Invalid template: {error}"
                    )
                )
        return problems

    async def run(self, ctx: StepContext) -> StepOutcome:
        """Apply due decisions and deadlines; wait while a decision is missing."""
        return await _ApprovalRun(ctx, parse_approval_config(ctx.step.config)).run()


def _level_problems(
    index: int, level: Mapping[str, Any], named_roles: set[str]
) -> list[Problem]:
    problems = []
    for key in ("approvers", "escalate_to"):
        for position, spec in enumerate(level.get(key, [])):
            match = APPROVER_PATTERN.match(spec)
            role = match["role"] if match else None
            if role is not None and role not in WORKSPACE_ROLES | named_roles:
                problems.append(
                    Problem(
                        ("levels", index, key, position),
                        ErrorCode.UNKNOWN_REFERENCE,
                        f"Unknown role {role!r}: use 'admin', 'member' or a "
                        f"role named under 'roles'.",
                    )
                )
    if "deadline" not in level and ("on_deadline" in level or "escalate_to" in level):
        problems.append(
            Problem(
                ("levels", index, "deadline"),
                ErrorCode.REQUIRED,
                "A level with 'on_deadline' or 'escalate_to' needs a 'deadline'.",
            )
        )
    if "escalate_to" in level and level.get("on_deadline", "escalate") != "escalate":
        problems.append(
            Problem(
                ("levels", index, "escalate_to"),
                ErrorCode.INVALID_CONFIG,
                "'escalate_to' applies only when 'on_deadline' is 'escalate'.",
            )
        )
    return problems


class _ApprovalRun:
    """One execution of an approval step."""

    def __init__(self, ctx: StepContext, config: ApprovalConfig) -> None:
        self.ctx = ctx
        self.config = config
        trigger = ctx.run.trigger
        record_id = trigger.get("record_id")
        self.record_id = record_id if isinstance(record_id, str) else None
        self.record_live = trigger.get("event") != EventKind.RECORD_DELETED
        submitter = trigger.get("owner") or trigger.get("requested_by")
        self.submitter = submitter if isinstance(submitter, str) else None

    async def run(self) -> StepOutcome:
        ctx = self.ctx
        approval = await ctx.workflows.get_approval(ctx.run.id, ctx.step_key)
        if approval is None:
            await self._write_status("pending")
            approval = await self._enter(None, 0, escalated=False)
        # Each pass moves to another level or stage, or ends the approval, so
        # the loop ends after at most two passes per level.
        for _ in range(2 * len(self.config.levels) + 2):
            if approval.status is not ApprovalStatus.PENDING:
                return await self._finish(approval)
            moved = await self._apply_decisions(approval)
            if moved is None:
                await self._notify(approval)
                wake_at = approval.deadline or ctx.now + RECHECK_INTERVAL
                return StepOutcome(await self._output(approval), wait_until=wake_at)
            approval = moved
        raise StepError(
            f"Step {ctx.step.id!r}: the approval did not settle; this is a bug.",
            retryable=False,
        )

    async def _apply_decisions(self, approval: StoredApproval) -> StoredApproval | None:
        """Apply the current level's decisions or deadline; None if neither is due."""
        ctx = self.ctx
        level = self.config.levels[approval.level]
        decisions = level_decisions(
            approval,
            await ctx.workflows.list_approval_decisions(ctx.run.id, ctx.step_key),
        )
        if approval.escalated:
            outcome = level_outcome("any", 1, approval.approvers, decisions)
        else:
            outcome = level_outcome(
                level.mode, level.quorum, approval.approvers, decisions
            )
        if outcome is ApprovalStatus.APPROVED:
            return await self._approve_level(approval, "decision")
        if outcome is ApprovalStatus.REJECTED:
            return await self._end(approval, ApprovalStatus.REJECTED, "decision")
        if approval.deadline is not None and ctx.now >= approval.deadline:
            return await self._deadline_passed(approval, level)
        return None

    # Transitions -----------------------------------------------------------

    async def _approve_level(
        self, approval: StoredApproval, reason: str
    ) -> StoredApproval:
        if approval.level + 1 < len(self.config.levels):
            return await self._enter(approval, approval.level + 1, escalated=False)
        return await self._end(approval, ApprovalStatus.APPROVED, reason)

    async def _deadline_passed(
        self, approval: StoredApproval, level: ApprovalLevel
    ) -> StoredApproval:
        logger.info(
            "Run %s: level %d of approval %s passed its deadline (%s)",
            self.ctx.run.id,
            approval.level + 1,
            self.ctx.step_key,
            level.on_deadline,
        )
        if level.on_deadline == "approve":
            return await self._approve_level(approval, "deadline")
        if level.on_deadline == "reject":
            return await self._end(approval, ApprovalStatus.REJECTED, "deadline")
        if level.escalate_to and not approval.escalated:
            return await self._enter(approval, approval.level, escalated=True)
        if approval.level + 1 < len(self.config.levels):
            return await self._enter(approval, approval.level + 1, escalated=False)
        # Escalating past the last level leaves no approver, so it rejects.
        return await self._end(approval, ApprovalStatus.REJECTED, "deadline")

    async def _enter(
        self, current: StoredApproval | None, index: int, *, escalated: bool
    ) -> StoredApproval:
        ctx = self.ctx
        level = self.config.levels[index]
        specs = level.escalate_to if escalated else level.approvers
        users, roles = await self._resolve(specs)
        if not users and not roles:
            raise StepError(
                f"Step {ctx.step.id!r}: level {index + 1} has no approvers: "
                f"{', '.join(specs)} named nobody. Set the user attributes or "
                f"roles it reads, then retry the run.",
                retryable=False,
            )
        quorum = 1 if escalated else level.quorum
        if quorum > len(users) and not roles:
            raise StepError(
                f"Step {ctx.step.id!r}: level {index + 1} needs a quorum of "
                f"{quorum}, but its approvers name only {len(users)} users. "
                f"Lower the quorum or add approvers, then retry the run.",
                retryable=False,
            )
        approval = StoredApproval(
            run_id=ctx.run.id,
            step_key=ctx.step_key,
            workspace_id=ctx.run.workspace_id,
            workflow_id=ctx.run.workflow_id,
            record_id=self.record_id,
            submitter=self.submitter,
            level=index,
            level_count=len(self.config.levels),
            escalated=escalated,
            status=ApprovalStatus.PENDING,
            approvers=users,
            approver_roles=roles,
            level_started_at=ctx.now,
            deadline=ctx.now + level.deadline if level.deadline else None,
            reason=None,
            created_at=current.created_at if current else ctx.now,
            updated_at=ctx.now,
        )
        await ctx.workflows.save_approval(approval)
        return approval

    async def _end(
        self, approval: StoredApproval, status: ApprovalStatus, reason: str
    ) -> StoredApproval:
        ended = replace(approval, status=status, reason=reason, updated_at=self.ctx.now)
        await self.ctx.workflows.save_approval(ended)
        logger.info(
            "Run %s: approval %s %s at level %d (%s)",
            self.ctx.run.id,
            self.ctx.step_key,
            status,
            approval.level + 1,
            reason,
        )
        return ended

    async def _finish(self, approval: StoredApproval) -> StepOutcome:
        await self._write_status(approval.status.value)
        output = await self._output(approval)
        rejected = approval.status is ApprovalStatus.REJECTED
        return StepOutcome(output, stop=rejected and not self.config.continue_on_reject)

    # Approvers and notifications -------------------------------------------

    async def _resolve(
        self, specs: tuple[str, ...]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Return the user ids and workspace roles that ``specs`` name."""
        users: list[str] = []
        roles: list[str] = []
        for spec in specs:
            match = APPROVER_PATTERN.match(spec)
            if match is None:
                continue
            if match["user"]:
                users.append(match["user"])
            elif match["role"] in WORKSPACE_ROLES:
                roles.append(match["role"])
                users.extend(await self._role_members(match["role"]))
            elif match["role"]:
                users.extend(self.config.roles.get(match["role"], ()))
            elif self.submitter is not None:
                value = await self._attribute(self.submitter, match["attribute"])
                if value:
                    users.append(value)
        return tuple(dict.fromkeys(users)), tuple(dict.fromkeys(roles))

    async def _role_members(self, role: str) -> list[str]:
        tokens = await self.ctx.store.list_tokens(self.ctx.run.workspace_id)
        return [t.user_id for t in tokens if t.role == role and t.revoked_at is None]

    async def _attribute(self, user_id: str, name: str) -> str | None:
        configured = self.config.attributes.get(name, {}).get(user_id)
        if configured is not None:
            return configured
        return await self.ctx.workflows.get_user_attribute(
            self.ctx.run.workspace_id, user_id, name
        )

    async def _notify(self, approval: StoredApproval) -> None:
        ctx = self.ctx
        stage = "escalated" if approval.escalated else "level"
        for user_id in approval.approvers:
            subject, text = self._message(approval, user_id)
            notification, created = await ctx.workflows.add_notification(
                _new_notification(approval, stage, user_id, subject, text)
            )
            if created:
                logger.info(
                    "Run %s: asked %s to decide on approval %s, level %d",
                    ctx.run.id,
                    user_id,
                    ctx.step_key,
                    approval.level + 1,
                )
            smtp = ctx.resources.smtp
            if notification.emailed_at is not None or smtp is None:
                continue
            address = await self._attribute(user_id, EMAIL_ATTRIBUTE)
            if not address:
                continue
            email = OutgoingEmail(to=[address], subject=subject, text=text)
            try:
                await send_email(smtp, email, idempotency_key=notification.key)
            except InvalidEmailError as error:
                # One approver's bad address must not stop the approval; the
                # stored notification still reaches them.
                logger.warning(
                    "Run %s: no approval email to %s: %s", ctx.run.id, user_id, error
                )
                continue
            except EmailDeliveryError as error:
                raise StepError(
                    f"Step {ctx.step.id!r}: the approval email to {user_id!r} "
                    f"failed: {error}",
                    retryable=error.retryable,
                ) from error
            await ctx.workflows.mark_notification_emailed(notification.id, ctx.now)

    def _message(self, approval: StoredApproval, user_id: str) -> tuple[str, str]:
        level = self.config.levels[approval.level]
        number = f"{approval.level + 1} of {approval.level_count}"
        named = f" ({level.name})" if level.name else ""
        deadline = approval.deadline.isoformat() if approval.deadline else "none"
        subject = f"Approval requested: level {number}{named}"
        text = (
            f"Workflow run {approval.run_id} waits for your decision at level "
            f"{number}{named} of step {approval.step_key}.\n"
            f"Record: {approval.record_id or 'none'}\n"
            f"Deadline: {deadline}\n"
        )
        deadline_text = approval.deadline.isoformat() if approval.deadline else None
        context = {
            **self.ctx.template_context(),
            "approval": {
                "run_id": approval.run_id,
                "step_key": approval.step_key,
                "level": approval.level + 1,
                "level_name": level.name,
                "level_count": approval.level_count,
                "escalated": approval.escalated,
                "deadline": deadline_text,
                "approver": user_id,
            },
        }
        if self.config.subject:
            subject = self._render(self.config.subject, context, "subject").strip()
        if self.config.text:
            text = self._render(self.config.text, context, "text")
        return subject, text

    def _render(self, source: str, context: Mapping[str, Any], key: str) -> str:
        try:
            return render_template(source, context, path=key)
        except TemplateError as error:
            raise self.ctx.template_error(key, error) from error

    # Record status and output ----------------------------------------------

    async def _write_status(self, outcome: str) -> None:
        """Set the status field of the triggering record, once per outcome."""
        field_id = self.config.status_field
        if field_id is None or self.record_id is None or not self.record_live:
            return
        ctx = self.ctx
        writer = RecordWriter(
            ctx.store,
            ctx.workflows,
            ctx.registry,
            ctx.run,
            f"{ctx.step_key}/status:{outcome}",
            ctx.attempt,
        )
        value = self.config.status_values[outcome]
        await writer.update(self.record_id, {field_id: value}, check_committed=True)

    async def _output(self, approval: StoredApproval) -> dict[str, Any]:
        decisions = await self.ctx.workflows.list_approval_decisions(
            approval.run_id, approval.step_key
        )
        return {
            "status": approval.status.value,
            "level": approval.level + 1,
            "escalated": approval.escalated,
            "approvers": list(approval.approvers),
            "deadline": approval.deadline.isoformat() if approval.deadline else None,
            "reason": approval.reason,
            "decisions": [
                {
                    "level": d.level + 1,
                    "user_id": d.user_id,
                    "decision": d.decision.value,
                    "comment": d.comment,
                    "decided_at": d.decided_at.isoformat(),
                }
                for d in decisions
            ],
        }


def _new_notification(
    approval: StoredApproval, stage: str, user_id: str, subject: str, text: str
) -> NewNotification:
    return NewNotification(
        key=(
            f"approval:{approval.run_id}:{approval.step_key}:"
            f"{approval.level}:{stage}:{user_id}"
        ),
        workspace_id=approval.workspace_id,
        user_id=user_id,
        kind=NOTIFICATION_KIND,
        subject=subject,
        text=text,
        data={
            "run_id": approval.run_id,
            "step_key": approval.step_key,
            "workflow_id": approval.workflow_id,
            "record_id": approval.record_id,
            "level": approval.level + 1,
            "escalated": approval.escalated,
        },
    )
