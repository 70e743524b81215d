"""Errors of the workflow engine."""

from __future__ import annotations

from blocks.errors import AppgraphError, ErrorCode, ProblemsError


class WorkflowError(AppgraphError):
    """Base class of errors the workflow engine raises on purpose."""


class WorkflowDefinitionError(ProblemsError):
    """A workflow definition is invalid; nothing was saved.

    Each problem's path points into the definition, such as
    ``("steps", 0, "then", 1, "config", "app")``.
    """


class StepError(WorkflowError):
    """A step failed. The message states why, in terms of the workflow definition.

    Args:
        message: What failed and what to change.
        retryable: Whether another attempt may succeed. The engine retries a
            retryable error by the step type's retry policy and fails the run
            at once on any other.
        retry_after: Seconds the other system asked to wait before the next
            attempt, such as an HTTP Retry-After. The engine waits at least
            that long, up to the policy's ``max_backoff``.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class RunStateError(WorkflowError):
    """A run cannot do what was requested in its current state."""


class ApprovalError(WorkflowError):
    """A decision on an approval step was rejected; nothing was stored.

    ``code`` is the :class:`~blocks.errors.ErrorCode` an API reports.
    """

    code: ErrorCode = ErrorCode.CONFLICT


class ApprovalNotFoundError(ApprovalError):
    """The run does not exist, or has no approval step with that key."""

    code = ErrorCode.NOT_FOUND


class ApprovalWorkspaceError(ApprovalError):
    """The run belongs to another workspace than the caller's."""

    code = ErrorCode.FORBIDDEN


class ApprovalNotWaitingError(ApprovalError):
    """The approval step is not waiting for a decision at this time."""


class NotApproverError(ApprovalError):
    """The user is not an approver of the current level."""

    code = ErrorCode.FORBIDDEN


class AlreadyDecidedError(ApprovalError):
    """The user already decided differently at the current level."""
