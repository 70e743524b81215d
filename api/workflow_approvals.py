"""Approval operations of the GraphQL API: pending approvals and decisions.

A run of another workspace is reported as not found. Whether the caller may
decide on an approval step is checked by the workflow runtime.
"""

from __future__ import annotations

from typing import Literal

from api.context import Caller
from api.schema import static as gql
from api.schema import workflows as wgql
from blocks.errors import ErrorCode
from workflows import WorkflowRuntime
from workflows.approvals import ApprovalState
from workflows.errors import ApprovalError, ApprovalWorkspaceError


class WorkflowApprovalOperations:
    """Approval operations that ``api.workflows.WorkflowOperations`` inherits."""

    runtime: WorkflowRuntime

    @staticmethod
    def approval_object(state: ApprovalState) -> wgql.WorkflowApproval:
        """Return the GraphQL object of an approval step's state."""
        return wgql.WorkflowApproval(
            run_id=state.run_id,  # type: ignore[arg-type]
            step_key=state.step_key,
            workflow_id=state.workflow_id,  # type: ignore[arg-type]
            record_id=state.record_id,  # type: ignore[arg-type]
            level=state.level + 1,
            level_count=state.level_count,
            status=wgql.WorkflowApprovalStatus(state.status.value),
            escalated=state.escalated,
            approvers=list(state.approvers),
            approver_roles=list(state.approver_roles),
            deadline=state.deadline,
            decisions=[
                wgql.WorkflowApprovalDecision(
                    level=decision.level + 1,
                    user_id=decision.user_id,
                    decision=wgql.WorkflowApprovalDecisionKind(decision.decision.value),
                    comment=decision.comment,
                    decided_at=decision.decided_at,
                )
                for decision in state.decisions
            ],
            reason=state.reason,
        )

    async def pending_approvals(self, caller: Caller) -> list[wgql.WorkflowApproval]:
        """Return the approval steps waiting for the caller's decision."""
        states = await self.runtime.list_pending_approvals(
            caller.workspace_id, caller.user_id, _role(caller)
        )
        return [self.approval_object(state) for state in states]

    async def decide_approval(
        self, caller: Caller, input: wgql.WorkflowApprovalDecideInput
    ) -> wgql.WorkflowApprovalPayload:
        """Store the caller's decision on an approval step and wake its run."""
        run_id = str(input.run)
        missing = f"No workflow run {run_id!r} in this workspace."
        run = await self.runtime.workflows.get_run(run_id)
        if run is None or run.workspace_id != caller.workspace_id:
            return _approval_failure(["run"], ErrorCode.NOT_FOUND, missing)
        decision: Literal["approve", "reject"] = (
            "approve"
            if input.decision is wgql.WorkflowApprovalDecisionKind.APPROVE
            else "reject"
        )
        try:
            state = await self.runtime.decide_approval(
                run_id,
                input.step_key,
                workspace_id=caller.workspace_id,
                user_id=caller.user_id,
                role=_role(caller),
                decision=decision,
                comment=input.comment,
            )
        except ApprovalWorkspaceError:
            return _approval_failure(["run"], ErrorCode.NOT_FOUND, missing)
        except ApprovalError as error:
            path = [] if error.code is ErrorCode.FORBIDDEN else ["stepKey"]
            return _approval_failure(path, error.code, str(error))
        return wgql.WorkflowApprovalPayload(
            approval=self.approval_object(state), errors=[]
        )


def _role(caller: Caller) -> str:
    return "admin" if caller.is_admin else "member"


def _approval_failure(
    path: list[str], code: ErrorCode, message: str
) -> wgql.WorkflowApprovalPayload:
    return wgql.WorkflowApprovalPayload(
        approval=None, errors=[gql.UserError(path=path, code=code, message=message)]
    )
