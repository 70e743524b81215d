"""Approval steps: levels, modes, deadlines, decisions and notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import Any, Literal

import pytest

from blocks.errors import AppgraphError, ErrorCode, NotFoundError
from store.models import Role
from store.workflows import ApprovalStatus, Decision, RunStatus, StepStatus
from tests.workflows.conftest import World
from tests.workflows.receivers import SmtpReceiver, free_port
from workflows import WorkflowDefinitionError, WorkflowRuntime, WorkflowSettings
from workflows.approvals import ApprovalState
from workflows.email import SmtpSettings, make_message_id
from workflows.engine import Engine
from workflows.errors import (
    AlreadyDecidedError,
    ApprovalError,
    ApprovalNotFoundError,
    ApprovalNotWaitingError,
    ApprovalWorkspaceError,
    NotApproverError,
)
from workflows.steps import StepResources

# Loops that wait this long run only when the test wakes them, so each
# test advances its runs itself with the fake clock.
QUIET = WorkflowSettings(
    lease_seconds=30,
    dispatch_interval=3600,
    sweep_interval=3600,
    schedule_interval=3600,
)
INVOICE_STEP = {
    "id": "invoice",
    "type": "create_record",
    "config": {"app": "invoices", "fields": {"reference": "record.name"}},
}


def approval_step(*levels: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {
        "id": "approve",
        "type": "approval",
        "config": {"levels": list(levels), "status_field": "status", **config},
    }


def on_created(*steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Approve",
        "trigger": {"type": "record_created"},
        "steps": list(steps),
    }


@dataclass
class Desk:
    world: World
    runtime: WorkflowRuntime

    async def start(self, *steps: dict[str, Any], **order: Any) -> tuple[str, str]:
        """Create the workflow and an order; return the run id and order id."""
        await self.world.add_workflow(on_created(*steps))
        order_id = await self.world.add_order(name="A-1", amount=10, **order)
        (run_id,) = await self.world.dispatch()
        await self.settle(run_id)
        return run_id, order_id

    async def settle(self, run_id: str) -> RunStatus:
        """Advance the run until it waits or finishes, without moving the clock."""
        for _ in range(50):
            result = await self.world.engine.advance(run_id)
            if result.delay != 0:
                break
        run = await self.world.workflows.get_run(run_id)
        assert run is not None
        return run.status

    async def decide(
        self,
        run_id: str,
        user_id: str,
        decision: Literal["approve", "reject"] = "approve",
        *,
        role: str = "member",
        comment: str | None = None,
        step_key: str = "approve",
        workspace_id: str | None = None,
    ) -> ApprovalState:
        return await self.runtime.decide_approval(
            run_id,
            step_key,
            workspace_id=workspace_id or self.world.workspace.id,
            user_id=user_id,
            role=role,
            decision=decision,
            comment=comment,
        )

    async def decide_and_settle(
        self, run_id: str, user_id: str, decision: Literal["approve", "reject"]
    ) -> RunStatus:
        await self.decide(run_id, user_id, decision, comment=f"{decision} by {user_id}")
        return await self.settle(run_id)

    async def state(self, run_id: str) -> tuple[int, ApprovalStatus, tuple[str, ...]]:
        approval = await self.world.workflows.get_approval(run_id, "approve")
        assert approval is not None
        return approval.level, approval.status, approval.approvers

    async def status(self, order_id: str) -> Any:
        record = await self.world.store.get_record(order_id)
        assert record is not None
        return record.data.get("status")


@pytest.fixture
async def desk(world: World) -> AsyncIterator[Desk]:
    runtime = WorkflowRuntime(
        world.store,
        world.blocks,
        QUIET,
        steps=world.steps,
        workflows=world.workflows,
        embedded_worker=False,
        clock=world.clock,
    )
    await runtime.start()
    try:
        yield Desk(world, runtime)
    finally:
        await runtime.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


THREE_LEVELS = approval_step(
    {"name": "Manager", "approvers": ["user:mgr-1", "user:mgr-2"], "mode": "any"},
    {"name": "Finance", "approvers": ["role:finance"], "mode": "all"},
    {
        "name": "Directors",
        "approvers": ["user:dir-1", "user:dir-2", "user:dir-3"],
        "mode": {"quorum": 2},
    },
    roles={"finance": ["fin-1", "fin-2"]},
)


async def test_three_levels_any_all_quorum(desk: Desk) -> None:
    run_id, order_id = await desk.start(THREE_LEVELS, INVOICE_STEP)

    assert await desk.status(order_id) == "pending"
    assert await desk.state(run_id) == (
        0,
        ApprovalStatus.PENDING,
        ("mgr-1", "mgr-2"),
    )
    assert await desk.decide_and_settle(run_id, "mgr-2", "approve") is RunStatus.WAITING
    assert await desk.state(run_id) == (1, ApprovalStatus.PENDING, ("fin-1", "fin-2"))

    assert await desk.decide_and_settle(run_id, "fin-1", "approve") is RunStatus.WAITING
    assert (await desk.state(run_id))[0] == 1
    assert await desk.decide_and_settle(run_id, "fin-2", "approve") is RunStatus.WAITING
    assert (await desk.state(run_id))[0] == 2

    assert await desk.decide_and_settle(run_id, "dir-1", "approve") is RunStatus.WAITING
    assert await desk.decide_and_settle(run_id, "dir-3", "approve") is (
        RunStatus.COMPLETED
    )

    assert await desk.status(order_id) == "approved"
    assert await desk.state(run_id) == (
        2,
        ApprovalStatus.APPROVED,
        ("dir-1", "dir-2", "dir-3"),
    )
    decisions = await desk.world.workflows.list_approval_decisions(run_id, "approve")
    assert [(d.level, d.user_id) for d in decisions] == [
        (0, "mgr-2"),
        (1, "fin-1"),
        (1, "fin-2"),
        (2, "dir-1"),
        (2, "dir-3"),
    ]
    assert decisions[0].comment == "approve by mgr-2"
    assert decisions[0].decided_at == desk.world.clock.now
    page = await desk.world.store.query_records(desk.world.invoices.id, first=10)
    assert [r.data["reference"] for r in page.items] == ["A-1"]
    executions = await desk.world.workflows.list_step_executions(run_id)
    output = executions[0].output
    assert output["status"] == "approved"
    assert output["level"] == 3
    assert len(output["decisions"]) == 5


async def test_status_outcome_fires_field_changed(desk: Desk) -> None:
    world = desk.world
    run_id, order_id = await desk.start(approval_step({"approvers": ["user:mgr-1"]}))
    await world.add_workflow(
        {
            "name": "After approval",
            "trigger": {"type": "field_changed", "field": "status", "to": "approved"},
            "steps": [{"id": "done", "type": "stop"}],
        }
    )

    await desk.decide_and_settle(run_id, "mgr-1", "approve")
    started = await world.dispatch()

    assert len(started) == 1
    follow_up = await world.workflows.get_run(started[0])
    assert follow_up is not None
    assert follow_up.trigger["previous"]["status"] == "pending"
    assert follow_up.trigger["record"]["status"] == "approved"
    assert follow_up.depth == 2
    assert await desk.status(order_id) == "approved"


async def test_rejection_at_level_two_ends_run(desk: Desk) -> None:
    run_id, order_id = await desk.start(THREE_LEVELS, INVOICE_STEP)

    await desk.decide_and_settle(run_id, "mgr-1", "approve")
    await desk.decide_and_settle(run_id, "fin-1", "approve")
    final = await desk.decide_and_settle(run_id, "fin-2", "reject")

    assert final is RunStatus.COMPLETED
    assert await desk.status(order_id) == "rejected"
    assert await desk.state(run_id) == (1, ApprovalStatus.REJECTED, ("fin-1", "fin-2"))
    executions = await desk.world.workflows.list_step_executions(run_id)
    assert [e.step_id for e in executions] == ["approve"]
    assert executions[0].output["reason"] == "decision"
    page = await desk.world.store.query_records(desk.world.invoices.id, first=10)
    assert page.items == []


async def test_continue_on_reject_runs_next_steps(desk: Desk) -> None:
    run_id, order_id = await desk.start(
        approval_step({"approvers": ["user:mgr-1"]}, continue_on_reject=True),
        INVOICE_STEP,
    )

    final = await desk.decide_and_settle(run_id, "mgr-1", "reject")

    assert final is RunStatus.COMPLETED
    assert await desk.status(order_id) == "rejected"
    executions = await desk.world.workflows.list_step_executions(run_id)
    assert [e.step_id for e in executions] == ["approve", "invoice"]


async def test_deadline_escalates_to_next_level(desk: Desk) -> None:
    clock = desk.world.clock
    step = approval_step(
        {"approvers": ["user:mgr-1"], "deadline": {"hours": 2}},
        {"approvers": ["user:boss"], "deadline": {"days": 1}, "on_deadline": "reject"},
    )
    run_id, order_id = await desk.start(step)
    run = await desk.world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.WAITING
    assert run.lease_until is None
    assert run.next_attempt_at == clock.now + timedelta(hours=2)

    clock.advance(3600)
    assert await desk.settle(run_id) is RunStatus.WAITING
    assert (await desk.state(run_id))[0] == 0
    clock.advance(3600)
    assert await desk.settle(run_id) is RunStatus.WAITING

    assert await desk.state(run_id) == (1, ApprovalStatus.PENDING, ("boss",))
    approval = await desk.world.workflows.get_approval(run_id, "approve")
    assert approval is not None
    assert approval.deadline == clock.now + timedelta(days=1)
    with pytest.raises(NotApproverError):
        await desk.decide(run_id, "mgr-1")
    assert await desk.decide_and_settle(run_id, "boss", "approve") is (
        RunStatus.COMPLETED
    )
    assert await desk.status(order_id) == "approved"


async def test_deadline_escalates_to_named_approvers(desk: Desk) -> None:
    clock = desk.world.clock
    step = approval_step(
        {
            "approvers": ["user:mgr-1", "user:mgr-2"],
            "mode": "all",
            "deadline": {"minutes": 30},
            "escalate_to": ["user:boss"],
        }
    )
    run_id, order_id = await desk.start(step)
    await desk.decide_and_settle(run_id, "mgr-1", "approve")

    clock.advance(30 * 60)
    await desk.settle(run_id)
    level, status, approvers = await desk.state(run_id)
    approval = await desk.world.workflows.get_approval(run_id, "approve")
    assert approval is not None
    assert approval.escalated is True
    assert (level, status, approvers) == (0, ApprovalStatus.PENDING, ("boss",))
    with pytest.raises(NotApproverError):
        await desk.decide(run_id, "mgr-2")

    clock.advance(30 * 60)
    final = await desk.settle(run_id)

    assert final is RunStatus.COMPLETED
    assert await desk.status(order_id) == "rejected"
    approval = await desk.world.workflows.get_approval(run_id, "approve")
    assert approval is not None
    assert approval.reason == "deadline"


@pytest.mark.parametrize(
    ("on_deadline", "outcome"), [("approve", "approved"), ("reject", "rejected")]
)
async def test_deadline_decides_level(
    desk: Desk, on_deadline: str, outcome: str
) -> None:
    step = approval_step(
        {
            "approvers": ["user:mgr-1"],
            "deadline": {"seconds": 10},
            "on_deadline": on_deadline,
        }
    )
    run_id, order_id = await desk.start(step)

    desk.world.clock.advance(10)

    assert await desk.settle(run_id) is RunStatus.COMPLETED
    assert await desk.status(order_id) == outcome


async def test_submitter_attribute_names_approver(desk: Desk) -> None:
    workflows = desk.world.workflows
    workspace_id = desk.world.workspace.id
    await workflows.set_user_attribute(workspace_id, "user-1", "manager", "mgr-7")
    step = approval_step(
        {"approvers": ["submitter.manager"]},
        {"approvers": ["submitter.director"]},
        attributes={"director": {"user-1": "dir-9"}},
    )

    run_id, _ = await desk.start(step)
    first = await desk.state(run_id)
    await desk.decide_and_settle(run_id, "mgr-7", "approve")
    second = await desk.state(run_id)

    assert first == (0, ApprovalStatus.PENDING, ("mgr-7",))
    assert second == (1, ApprovalStatus.PENDING, ("dir-9",))


async def test_missing_attribute_fails_run(desk: Desk) -> None:
    run_id, order_id = await desk.start(
        approval_step({"approvers": ["submitter.manager"]})
    )

    run = await desk.world.workflows.get_run(run_id)

    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.error == (
        "Step 'approve': level 1 has no approvers: submitter.manager named "
        "nobody. Set the user attributes or roles it reads, then retry the run."
    )
    assert await desk.status(order_id) == "pending"


async def test_workspace_role_approvers(desk: Desk) -> None:
    store = desk.world.store
    workspace_id = desk.world.workspace.id
    await store.create_token(workspace_id, Role.ADMIN, "admin-1", "a")
    await store.create_token(workspace_id, Role.MEMBER, "member-1", "m")
    run_id, order_id = await desk.start(approval_step({"approvers": ["role:admin"]}))

    pending_admin = await desk.runtime.list_pending_approvals(
        workspace_id, "admin-2", "admin"
    )
    pending_member = await desk.runtime.list_pending_approvals(
        workspace_id, "member-1", "member"
    )
    with pytest.raises(NotApproverError):
        await desk.decide(run_id, "member-1", role="member")
    await desk.decide(run_id, "admin-2", role="admin")
    final = await desk.settle(run_id)

    assert await desk.state(run_id) == (0, ApprovalStatus.APPROVED, ("admin-1",))
    assert [p.run_id for p in pending_admin] == [run_id]
    assert pending_member == []
    assert final is RunStatus.COMPLETED
    assert await desk.status(order_id) == "approved"


async def test_list_pending_approvals(desk: Desk) -> None:
    run_id, _ = await desk.start(THREE_LEVELS)
    workspace_id = desk.world.workspace.id

    before = await desk.runtime.list_pending_approvals(workspace_id, "mgr-1", "member")
    finance = await desk.runtime.list_pending_approvals(workspace_id, "fin-1", "member")
    await desk.decide_and_settle(run_id, "mgr-1", "approve")
    after = await desk.runtime.list_pending_approvals(workspace_id, "mgr-1", "member")
    finance_after = await desk.runtime.list_pending_approvals(
        workspace_id, "fin-1", "member"
    )
    elsewhere = await desk.runtime.list_pending_approvals("other", "fin-1", "member")

    assert len(before) == 1
    assert before[0].run_id == run_id
    assert before[0].step_key == "approve"
    assert before[0].level == 0
    assert before[0].level_count == 3
    assert before[0].status is ApprovalStatus.PENDING
    assert before[0].deadline is None
    assert before[0].decisions == ()
    assert finance == []
    assert after == []
    assert [p.level for p in finance_after] == [1]
    assert [d.user_id for d in finance_after[0].decisions] == ["mgr-1"]
    assert elsewhere == []


async def test_decision_returns_state(desk: Desk) -> None:
    run_id, _ = await desk.start(THREE_LEVELS)

    state = await desk.decide(run_id, "mgr-1", "approve", comment="Fine")

    assert isinstance(state, ApprovalState)
    assert state.level == 0
    assert state.status is ApprovalStatus.PENDING
    assert len(state.decisions) == 1
    assert state.decisions[0].decision is Decision.APPROVE
    assert state.decisions[0].comment == "Fine"
    with pytest.raises(AttributeError):
        state.level = 2  # type: ignore[misc]


async def test_same_decision_twice_is_stored_once(desk: Desk) -> None:
    run_id, _ = await desk.start(THREE_LEVELS)

    first = await desk.decide(run_id, "mgr-1", "approve", comment="ok")
    again = await desk.decide(run_id, "mgr-1", "approve", comment="ok")

    assert first.decisions == again.decisions
    decisions = await desk.world.workflows.list_approval_decisions(run_id, "approve")
    assert len(decisions) == 1


async def test_decide_errors(desk: Desk) -> None:
    run_id, _ = await desk.start(THREE_LEVELS)
    await desk.decide(run_id, "mgr-1", "approve", comment="yes")

    cases: list[tuple[dict[str, Any], type[ApprovalError], str]] = [
        (
            {"run_id": "nope", "user_id": "mgr-1"},
            ApprovalNotFoundError,
            "Workflow run 'nope' was not found. Check the run id.",
        ),
        (
            {"user_id": "mgr-1", "step_key": "other"},
            ApprovalNotFoundError,
            f"Workflow run '{run_id}' has no approval step 'other'. List pending "
            f"approvals for the step keys.",
        ),
        (
            {"user_id": "mgr-1", "workspace_id": "elsewhere"},
            ApprovalWorkspaceError,
            f"Workflow run '{run_id}' belongs to another workspace than "
            f"'elsewhere'; decide with a token of the run's workspace.",
        ),
        (
            {"user_id": "fin-1"},
            NotApproverError,
            f"User 'fin-1' is not an approver of level 1 of step 'approve' in run "
            f"'{run_id}'.",
        ),
        (
            {"user_id": "mgr-1", "decision": "reject"},
            AlreadyDecidedError,
            f"User 'mgr-1' already decided 'approve' at level 1 of step 'approve' "
            f"in run '{run_id}' at {desk.world.clock.now.isoformat()}; a decision "
            f"cannot be changed.",
        ),
        (
            {"user_id": "mgr-1", "comment": "changed my mind"},
            AlreadyDecidedError,
            "already decided 'approve'",
        ),
    ]
    for arguments, error_type, message in cases:
        target = arguments.pop("run_id", run_id)
        arguments.setdefault("decision", "approve")
        with pytest.raises(error_type) as raised:
            await desk.decide(target, **arguments)
        assert message in str(raised.value)
        assert isinstance(raised.value, AppgraphError)

    with pytest.raises(ValueError, match="Invalid decision 'maybe'"):
        await desk.decide(run_id, "mgr-2", "maybe")  # type: ignore[arg-type]


async def test_decide_after_end_is_not_waiting(desk: Desk) -> None:
    run_id, _ = await desk.start(approval_step({"approvers": ["user:mgr-1"]}))
    await desk.decide_and_settle(run_id, "mgr-1", "reject")

    with pytest.raises(ApprovalNotWaitingError) as raised:
        await desk.decide(run_id, "mgr-1")

    assert str(raised.value) == (
        f"Run '{run_id}' is completed, so step 'approve' takes no more decisions."
    )
    assert raised.value.code is ErrorCode.CONFLICT


async def test_decide_before_step_waits(desk: Desk) -> None:
    world = desk.world
    await world.add_workflow(
        on_created(
            {"id": "pause", "type": "wait", "config": {"duration": {"hours": 1}}},
            approval_step({"approvers": ["user:mgr-1"]}),
        )
    )
    await world.add_order(name="A-2")
    (run_id,) = await world.dispatch()
    await desk.settle(run_id)

    with pytest.raises(ApprovalNotFoundError, match="has no approval step 'approve'"):
        await desk.decide(run_id, "mgr-1")


async def test_decision_on_failed_run_is_not_waiting(desk: Desk) -> None:
    run_id, _ = await desk.start(approval_step({"approvers": ["user:mgr-1"]}))
    await desk.world.workflows.release_run(
        run_id, desk.world.clock.now, RunStatus.FAILED, error="stopped by hand"
    )

    with pytest.raises(ApprovalNotWaitingError, match="is failed, so step 'approve'"):
        await desk.decide(run_id, "mgr-1")
    assert (
        await desk.runtime.list_pending_approvals(
            desk.world.workspace.id, "mgr-1", "member"
        )
        == []
    )


async def test_notification_email_sent_once(desk: Desk, smtp: SmtpReceiver) -> None:
    world = desk.world
    settings = SmtpSettings(
        host="127.0.0.1",
        port=smtp.port,
        from_address="workflows@example.com",
        starttls=False,
        timeout=5.0,
    )
    world.engine = Engine(
        world.store,
        world.workflows,
        world.steps,
        world.blocks,
        world.settings,
        world.clock,
        StepResources(smtp=settings),
    )
    await world.workflows.set_user_attribute(
        world.workspace.id, "mgr-1", "email", "Manager One <mgr-1@example.com>"
    )
    run_id, _ = await desk.start(
        approval_step(
            {"name": "Manager", "approvers": ["user:mgr-1", "user:mgr-2"]},
            subject="Approve {{ record.name }} (level {{ approval.level }})",
        )
    )

    # A duplicate message finds the run waiting and sends nothing.
    await world.engine.advance(run_id)
    # A worker that died after sending: the step runs again as a new attempt.
    db = world.store._writer
    assert db is not None
    await db.execute(
        "UPDATE workflow_runs SET status = 'running', next_attempt_at = NULL, "
        "lease_until = ? WHERE id = ?",
        ((world.clock.now - timedelta(seconds=1)).isoformat(), run_id),
    )
    await db.execute(
        "UPDATE workflow_step_executions SET status = 'running' WHERE run_id = ?",
        (run_id,),
    )
    await db.commit()
    await desk.settle(run_id)

    executions = await world.workflows.list_step_executions(run_id)
    assert executions[0].attempts == 2
    assert executions[0].status is StepStatus.WAITING
    assert len(smtp.messages) == 1
    message = smtp.messages[0].message
    assert smtp.messages[0].recipients == ["mgr-1@example.com"]
    assert message["Subject"] == "Approve A-1 (level 1)"
    notifications = await world.workflows.list_notifications(
        world.workspace.id, "mgr-1"
    )
    assert len(notifications) == 1
    assert notifications[0].kind == "approval_requested"
    assert notifications[0].emailed_at is not None
    assert notifications[0].data["run_id"] == run_id
    assert message["Message-ID"] == make_message_id(
        notifications[0].key, parseaddr(settings.from_address)[1].split("@")[1]
    )
    # The second approver has no email address, so only the stored row.
    others = await world.workflows.list_notifications(world.workspace.id, "mgr-2")
    assert len(others) == 1
    assert others[0].emailed_at is None


async def test_approval_holds_no_lease(desk: Desk) -> None:
    run_id, _ = await desk.start(approval_step({"approvers": ["user:mgr-1"]}))
    workflows = desk.world.workflows
    clock = desk.world.clock

    run = await workflows.get_run(run_id)
    assert run is not None
    executions = await workflows.list_step_executions(run_id)

    assert run.status is RunStatus.WAITING
    assert run.lease_until is None
    assert executions[0].status is StepStatus.WAITING
    assert run.next_attempt_at == clock.now + timedelta(days=1)
    assert await workflows.list_due_runs(clock.now, clock.now, 10) == []


async def test_wake_during_lease_is_kept(world: World) -> None:
    await world.add_workflow(
        on_created({"id": "pause", "type": "wait", "config": {"duration": {"days": 1}}})
    )
    await world.add_order(name="A-3")
    (run_id,) = await world.dispatch()
    now = world.clock.now

    claimed = await world.workflows.claim_run(run_id, now, now + timedelta(seconds=30))
    await world.workflows.wake_run(run_id, now)
    released = await world.workflows.release_run(
        run_id, now, RunStatus.WAITING, next_attempt_at=now + timedelta(days=1)
    )
    again = await world.workflows.release_run(
        run_id, now, RunStatus.WAITING, next_attempt_at=now + timedelta(days=1)
    )

    assert claimed is not None
    assert released.next_attempt_at == now
    assert again.next_attempt_at == now + timedelta(days=1)


async def test_user_attributes(world: World) -> None:
    workflows = world.workflows
    workspace_id = world.workspace.id

    await workflows.set_user_attribute(workspace_id, "u1", "manager", "m1")
    await workflows.set_user_attribute(workspace_id, "u1", "manager", "m2")
    await workflows.set_user_attribute(workspace_id, "u1", "email", "u1@example.com")
    listed = await workflows.list_user_attributes(workspace_id, "u1")
    await workflows.set_user_attribute(workspace_id, "u1", "email", None)

    assert listed == {"email": "u1@example.com", "manager": "m2"}
    assert await workflows.get_user_attribute(workspace_id, "u1", "manager") == "m2"
    assert await workflows.get_user_attribute(workspace_id, "u1", "email") is None
    assert await workflows.get_user_attribute(workspace_id, "u2", "manager") is None
    with pytest.raises(NotFoundError, match="Workspace 'nope' was not found."):
        await workflows.set_user_attribute("nope", "u1", "manager", "m1")


async def test_invalid_approval_configs(world: World) -> None:
    step = approval_step(
        {"approvers": ["role:auditors"]},
        {"approvers": ["user:a"], "on_deadline": "reject"},
        {
            "approvers": ["user:a"],
            "deadline": {"hours": 1},
            "on_deadline": "approve",
            "escalate_to": ["user:b"],
        },
        {"approvers": ["someone"]},
        status_field="state",
    )

    with pytest.raises(WorkflowDefinitionError) as raised:
        await world.add_workflow(on_created(step))

    problems = {p.path: (p.code, p.message) for p in raised.value.problems}
    assert len(problems) == 1
    assert problems[("steps", 0, "config", "levels", 3, "approvers", 0)][0] is (
        ErrorCode.INVALID_CONFIG
    )

    del step["config"]["levels"][3]
    with pytest.raises(WorkflowDefinitionError) as raised:
        await world.add_workflow(on_created(step))

    problems = {p.path: (p.code, p.message) for p in raised.value.problems}
    base = ("steps", 0, "config")
    assert problems == {
        (*base, "levels", 0, "approvers", 0): (
            ErrorCode.UNKNOWN_REFERENCE,
            "Unknown role 'auditors': use 'admin', 'member' or a role named "
            "under 'roles'.",
        ),
        (*base, "levels", 1, "deadline"): (
            ErrorCode.REQUIRED,
            "A level with 'on_deadline' or 'escalate_to' needs a 'deadline'.",
        ),
        (*base, "levels", 2, "escalate_to"): (
            ErrorCode.INVALID_CONFIG,
            "'escalate_to' applies only when 'on_deadline' is 'escalate'.",
        ),
        (*base, "status_field"): (
            ErrorCode.UNKNOWN_FIELD,
            "The app has no field 'state' to hold the approval status; name one "
            "of its block ids.",
        ),
    }


async def test_unreachable_quorum_fails_run(desk: Desk) -> None:
    run_id, _ = await desk.start(
        approval_step({"approvers": ["user:a", "user:b"], "mode": {"quorum": 3}})
    )

    run = await desk.world.workflows.get_run(run_id)

    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.error == (
        "Step 'approve': level 1 needs a quorum of 3, but its approvers name only "
        "2 users. Lower the quorum or add approvers, then retry the run."
    )


def use_smtp(world: World, port: int) -> SmtpSettings:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=port,
        from_address="workflows@example.com",
        starttls=False,
        timeout=5.0,
    )
    world.engine = Engine(
        world.store,
        world.workflows,
        world.steps,
        world.blocks,
        world.settings,
        world.clock,
        StepResources(smtp=settings),
    )
    return settings


async def test_email_failure_retries_step(desk: Desk) -> None:
    world = desk.world
    settings = use_smtp(world, free_port())
    await world.workflows.set_user_attribute(
        world.workspace.id, "mgr-1", "email", "mgr-1@example.com"
    )

    run_id, _ = await desk.start(approval_step({"approvers": ["user:mgr-1"]}))

    executions = await world.workflows.list_step_executions(run_id)
    assert executions[0].status is StepStatus.RETRYING
    assert executions[0].error is not None
    assert executions[0].error.startswith(
        "Step 'approve': the approval email to 'mgr-1' failed: Sending email "
        f"through 127.0.0.1:{settings.port} failed:"
    )
    notifications = await world.workflows.list_notifications(
        world.workspace.id, "mgr-1"
    )
    assert notifications[0].emailed_at is None


async def test_invalid_address_skips_email(desk: Desk, smtp: SmtpReceiver) -> None:
    world = desk.world
    use_smtp(world, smtp.port)
    await world.workflows.set_user_attribute(
        world.workspace.id, "mgr-1", "email", "not an address"
    )

    run_id, _ = await desk.start(approval_step({"approvers": ["user:mgr-1"]}))

    run = await world.workflows.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.WAITING
    assert smtp.messages == []
    notifications = await world.workflows.list_notifications(
        world.workspace.id, "mgr-1"
    )
    assert len(notifications) == 1
    assert notifications[0].emailed_at is None
