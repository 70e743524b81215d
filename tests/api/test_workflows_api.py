"""Workflows through GraphQL: definitions, runs, effects, rights and tenancy.

The runtime of this module sends email to an aiosmtpd server and lets HTTP
steps reach 127.0.0.1, where an HTTP receiver records each request.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import main
from api.limits import Limits
from api.schema import workflows as wgql
from api.settings import Settings
from store import Role
from store.workflows import ApprovalStatus, Decision, RunStatus, StepStatus
from tests.api.runtime_fixtures import Served, Workspace, initialise, subscribe
from tests.workflows.receivers import HttpReceiver, SmtpReceiver
from workflows.email import SmtpSettings
from workflows.model import TriggerType
from workflows.settings import WorkflowSettings

APPGRAPH = Path(sys.executable).with_name("appgraph")

FAST = WorkflowSettings(
    dispatch_interval=0.05,
    sweep_interval=0.2,
    schedule_interval=0.5,
    worker_threads=2,
    worker_timeout=0.1,
)

ORDERS: dict[str, Any] = {
    "blocks": [
        {"id": "name", "type": "text"},
        {"id": "amount", "type": "number"},
    ]
}

WORKFLOW_FIELDS = """
  id appId appSlug name currentVersion triggerType enabled createdAt updatedAt
"""

CREATE = f"""
mutation($input: WorkflowCreateInput!) {{
  workflowCreate(input: $input) {{
    workflow {{ {WORKFLOW_FIELDS} }}
    version {{ workflowId number author note definition }}
    errors {{ path code message }}
  }}
}}
"""

SAVE = """
mutation($input: WorkflowSaveInput!) {
  workflowSave(input: $input) {
    workflow { currentVersion name }
    version { number note author }
    errors { path code message }
  }
}
"""

ROLLBACK = """
mutation($input: WorkflowRollbackInput!) {
  workflowRollback(input: $input) {
    workflow { currentVersion name }
    version { number note definition }
    errors { path code message }
  }
}
"""

START = """
mutation($input: WorkflowRunStartInput!) {
  workflowRunStart(input: $input) {
    run { id status triggerKind requestedBy workflowVersion trigger }
    errors { path code message }
  }
}
"""

RETRY = """
mutation($input: WorkflowRunRetryInput!) {
  workflowRunRetry(input: $input) {
    run { id status }
    errors { path code message }
  }
}
"""

CANCEL = """
mutation($input: WorkflowRunCancelInput!) {
  workflowRunCancel(input: $input) {
    run { id status cancelledBy cancelReason finishedAt nextAttemptAt }
    errors { path code message }
  }
}
"""

WORKFLOWS = f"query($app: String!) {{ workflows(app: $app) {{ {WORKFLOW_FIELDS} }} }}"

WORKFLOW = """
query($id: ID!) {
  workflow(id: $id) {
    id name currentVersion
    definition
    versions { number author note }
    diff(fromVersion: 1, toVersion: 2) {
      fromVersion toVersion changedFields addedSteps removedSteps
      changedSteps { stepId changes }
    }
  }
}
"""

WORKFLOW_NAME = "query($id: ID!) { workflow(id: $id) { id name } }"
WORKFLOW_DEFINITION = "query($id: ID!) { workflow(id: $id) { definition } }"

RUNS = """
query($workflow: ID!, $status: WorkflowRunStatus, $first: Int, $after: String) {
  workflowRuns(workflow: $workflow, status: $status, first: $first, after: $after) {
    nodes { id status recordId requestedBy }
    pageInfo { hasNextPage endCursor }
  }
}
"""

RUN = """
query($id: ID!) {
  workflowRun(id: $id) {
    id workflowId workflowVersion status triggerKind recordId requestedBy depth
    trigger createdAt startedAt finishedAt error errorStep
    steps {
      key stepId stepType status attempts startedAt finishedAt durationMs
      input inputTruncated output outputTruncated branch error
    }
  }
}
"""

STEP_TYPES = """
{
  stepTypes {
    name label description configSchema branches maxAttempts timeout plugin
  }
}
"""

PENDING = """
{
  pendingApprovals {
    runId stepKey workflowId recordId level levelCount status escalated
    approvers approverRoles deadline reason
    decisions { level userId decision comment }
  }
}
"""

DECIDE = """
mutation($input: WorkflowApprovalDecideInput!) {
  workflowApprovalDecide(input: $input) {
    approval { runId stepKey status decisions { userId decision comment } }
    errors { path code message }
  }
}
"""

RUN_CHANGED = """
subscription($workflow: ID!) {
  workflowRunChanged(workflow: $workflow) {
    run { id status }
    previousStatus
  }
}
"""


def email_and_webhook(url: str) -> dict[str, Any]:
    return {
        "name": "Announce orders",
        "trigger": {"type": "record_created"},
        "steps": [
            {
                "id": "notify",
                "type": "send_email",
                "config": {
                    "to": ["sales@example.com"],
                    "subject": "Order {{ record.name }}",
                    "text": "Amount: {{ record.amount }}",
                },
            },
            {
                "id": "hook",
                "type": "http_request",
                "config": {
                    "url": url,
                    "body": {"order": "{{ record.name }}", "via": "appgraph"},
                },
            },
        ],
    }


def manual(
    name: str = "Ping", steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": {"type": "manual"},
        "steps": steps
        if steps is not None
        else [{"id": "pause", "type": "wait", "config": {"duration": {"seconds": 0}}}],
    }


LONG_WAIT = [{"id": "pause", "type": "wait", "config": {"duration": {"days": 3650}}}]


# Fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def mailbox() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, mailbox: SmtpReceiver
) -> Iterator[Served]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("workflows-api"),
        limits=Limits(max_page_size=5),
        workflow=FAST,
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=mailbox.port,
            from_address="workflows@example.com",
            starttls=False,
            timeout=5.0,
        ),
        allow_networks=("127.0.0.1/32",),
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Served(client, app.state.runtime)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


# Helpers ---------------------------------------------------------------------


def create_workflow(
    served: Served, workspace: Workspace, app: str, definition: dict[str, Any]
) -> dict[str, Any]:
    payload = served.data(
        workspace.admin,
        CREATE,
        {"input": {"app": app, "definition": definition, "note": "first"}},
    )["workflowCreate"]
    assert payload["errors"] == []
    workflow = payload["workflow"]
    assert isinstance(workflow, dict)
    return workflow


def start_run(
    served: Served, token: str, workflow_id: str, run_input: Any = None
) -> dict[str, Any]:
    payload = served.data(
        token, START, {"input": {"workflow": workflow_id, "input": run_input}}
    )["workflowRunStart"]
    assert payload["errors"] == []
    run = payload["run"]
    assert isinstance(run, dict)
    return run


def wait_for_run(
    served: Served, token: str, run_id: str, statuses: tuple[str, ...]
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        run = served.data(token, RUN, {"id": run_id})["workflowRun"]
        if run["status"] in statuses:
            assert isinstance(run, dict)
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"Run {run_id} stayed {run['status']}: {run}")
        time.sleep(0.05)


def wait_for_first_run(served: Served, token: str, workflow_id: str) -> str:
    deadline = time.monotonic() + 20
    while True:
        nodes = served.data(token, RUNS, {"workflow": workflow_id})["workflowRuns"][
            "nodes"
        ]
        if nodes:
            run_id = nodes[0]["id"]
            assert isinstance(run_id, str)
            return run_id
        if time.monotonic() > deadline:
            raise AssertionError(f"Workflow {workflow_id} started no run.")
        time.sleep(0.05)


def submit_order(served: Served, workspace: Workspace, app: dict[str, Any]) -> str:
    """Submit an order through the app's generated create mutation."""
    field, type_name = app["fieldName"], app["typeName"]
    document = f"""
    mutation($data: {type_name}Data!) {{
      {field}Create(input: {{data: $data}}) {{ record {{ id }} errors {{ message }} }}
    }}
    """
    payload = served.data(
        workspace.admin, document, {"data": {"name": "Lamp", "amount": 120}}
    )[f"{field}Create"]
    assert payload["errors"] == []
    record_id = payload["record"]["id"]
    assert isinstance(record_id, str)
    return record_id


# A submission runs its workflow --------------------------------------------------


def test_submission_sends_email_and_webhook(
    served: Served, mailbox: SmtpReceiver, receiver: HttpReceiver
) -> None:
    workspace = served.workspace()
    app = workspace.create_app("orders", ORDERS)["app"]
    workflow = create_workflow(
        served, workspace, "orders", email_and_webhook(receiver.url("/orders"))
    )
    assert workflow["name"] == "Announce orders"
    assert workflow["triggerType"] == "RECORD_CREATED"
    assert workflow["enabled"] is True
    assert workflow["currentVersion"] == 1
    assert workflow["appSlug"] == "orders"

    record_id = submit_order(served, workspace, app)
    run_id = wait_for_first_run(served, workspace.admin, workflow["id"])
    run = wait_for_run(served, workspace.admin, run_id, ("COMPLETED", "FAILED"))

    assert run["status"] == "COMPLETED", run
    assert run["error"] is None
    assert run["triggerKind"] == "RECORD_CREATED"
    assert run["recordId"] == record_id
    assert run["workflowVersion"] == 1
    assert run["depth"] == 1
    assert run["finishedAt"] is not None
    notify, hook = run["steps"]
    assert notify["key"] == "notify"
    assert notify["stepType"] == "send_email"
    assert notify["status"] == "DONE"
    assert notify["attempts"] == 1
    assert notify["output"]["recipients"] == ["sales@example.com"]
    assert notify["durationMs"] >= 0
    assert hook["stepType"] == "http_request"
    assert hook["status"] == "DONE"
    assert hook["output"]["status"] == 200
    assert hook["outputTruncated"] is False

    (mail,) = [m for m in mailbox.messages if m.message["Subject"] == "Order Lamp"]
    assert mail.recipients == ["sales@example.com"]
    assert mail.message.get_content().strip() == "Amount: 120"
    (request,) = receiver.requests
    assert request.path == "/orders"
    assert request.json() == {"order": "Lamp", "via": "appgraph"}
    assert request.headers["idempotency-key"] == f"{run_id}:hook"


def test_step_types_catalogue(served: Served) -> None:
    workspace = served.workspace()

    types = {
        t["name"]: t for t in served.data(workspace.admin, STEP_TYPES)["stepTypes"]
    }

    assert {"send_email", "http_request", "condition", "for_each"} <= set(types)
    assert types["condition"]["branches"] == ["then", "else"]
    assert types["http_request"]["label"] == "HTTP request"
    assert types["http_request"]["maxAttempts"] == 5
    assert types["http_request"]["configSchema"]["required"] == ["url"]
    assert types["send_email"]["plugin"]


def test_graphql_enums_match_engine() -> None:
    assert {str(e.value) for e in wgql.WorkflowRunStatus} == {
        s.value for s in RunStatus
    }
    assert {str(e.value) for e in wgql.WorkflowStepStatus} == {
        s.value for s in StepStatus
    }
    assert {str(e.value) for e in wgql.WorkflowTriggerType} == {
        t.value for t in TriggerType
    }
    assert {str(e.value) for e in wgql.WorkflowApprovalStatus} == {
        s.value for s in ApprovalStatus
    }
    assert {str(e.value) for e in wgql.WorkflowApprovalDecisionKind} == {
        d.value for d in Decision
    }


# Definitions ---------------------------------------------------------------------


def test_invalid_definition_reports_step_paths(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    definition = {
        "name": "Broken",
        "trigger": {"type": "record_created"},
        "steps": [
            {"id": "mail", "type": "send_email", "config": {"subject": "no recipient"}},
            {"id": "mail", "type": "teleport", "config": {}},
            {"id": "check", "type": "condition", "config": {"if": "record.amount >"}},
        ],
    }

    payload = served.data(
        workspace.admin, CREATE, {"input": {"app": "orders", "definition": definition}}
    )["workflowCreate"]

    assert payload["workflow"] is None
    assert payload["version"] is None
    errors = {(".".join(e["path"]), e["code"]) for e in payload["errors"]}
    assert ("definition.steps.1.id", "DUPLICATE_ID") in errors
    assert ("definition.steps.1.type", "UNKNOWN_REFERENCE") in errors
    assert ("definition.steps.2.config.if", "INVALID_EXPRESSION") in errors
    assert any(
        path.startswith("definition.steps.0.config") and code == "INVALID_CONFIG"
        for path, code in errors
    ), errors
    messages = [e["message"] for e in payload["errors"]]
    assert any("Unknown step type 'teleport'" in m for m in messages), messages
    assert served.data(workspace.admin, WORKFLOWS, {"app": "orders"}) == {
        "workflows": []
    }


def test_definition_must_be_an_object(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)

    payload = served.data(
        workspace.admin, CREATE, {"input": {"app": "orders", "definition": [1]}}
    )["workflowCreate"]

    assert payload["errors"] == [
        {
            "path": ["definition"],
            "code": "INVALID_TYPE",
            "message": "The definition must be a JSON object with name, trigger "
            "and steps.",
        }
    ]


def test_create_for_unknown_app(served: Served) -> None:
    workspace = served.workspace()

    payload = served.data(
        workspace.admin, CREATE, {"input": {"app": "nowhere", "definition": manual()}}
    )["workflowCreate"]

    assert payload["errors"] == [
        {
            "path": ["app"],
            "code": "NOT_FOUND",
            "message": "No app 'nowhere' in this workspace.",
        }
    ]


def test_save_diff_and_rollback(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    workflow = create_workflow(served, workspace, "orders", manual("Ping"))
    workflow_id = workflow["id"]
    second = manual(
        "Ping twice",
        [
            {"id": "pause", "type": "wait", "config": {"duration": {"seconds": 1}}},
            {"id": "stop_here", "type": "stop", "config": {}},
        ],
    )

    saved = served.data(
        workspace.admin,
        SAVE,
        {
            "input": {
                "workflow": workflow_id,
                "definition": second,
                "expectedVersion": 1,
                "note": "add a stop",
            }
        },
    )["workflowSave"]
    assert saved == {
        "workflow": {"currentVersion": 2, "name": "Ping twice"},
        "version": {"number": 2, "note": "add a stop", "author": "admin"},
        "errors": [],
    }

    detail = served.data(workspace.admin, WORKFLOW, {"id": workflow_id})["workflow"]
    assert detail["currentVersion"] == 2
    assert detail["definition"]["name"] == "Ping twice"
    assert [v["number"] for v in detail["versions"]] == [1, 2]
    assert detail["versions"][0]["note"] == "first"
    assert detail["diff"] == {
        "fromVersion": 1,
        "toVersion": 2,
        "changedFields": ["name"],
        "addedSteps": ["stop_here"],
        "removedSteps": [],
        "changedSteps": [{"stepId": "pause", "changes": ["config"]}],
    }

    stale = served.data(
        workspace.admin,
        SAVE,
        {
            "input": {
                "workflow": workflow_id,
                "definition": manual(),
                "expectedVersion": 1,
            }
        },
    )["workflowSave"]
    assert stale["workflow"] is None
    assert [(e["path"], e["code"]) for e in stale["errors"]] == [
        (["expectedVersion"], "CONFLICT")
    ]

    rolled = served.data(
        workspace.admin, ROLLBACK, {"input": {"workflow": workflow_id, "toVersion": 1}}
    )["workflowRollback"]
    assert rolled["errors"] == []
    assert rolled["workflow"] == {"currentVersion": 3, "name": "Ping"}
    assert rolled["version"]["note"] == "Rollback to version 1"

    missing = served.data(
        workspace.admin, ROLLBACK, {"input": {"workflow": workflow_id, "toVersion": 9}}
    )["workflowRollback"]
    assert missing["errors"] == [
        {
            "path": ["toVersion"],
            "code": "NOT_FOUND",
            "message": f"Workflow {workflow_id!r} has no version 9; versions run "
            f"from 1 to 3.",
        }
    ]


def test_invalid_save_keeps_current_version(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    workflow_id = create_workflow(served, workspace, "orders", manual())["id"]
    broken = manual("Broken", [{"id": "x", "type": "create_record", "config": {}}])

    payload = served.data(
        workspace.admin,
        SAVE,
        {"input": {"workflow": workflow_id, "definition": broken}},
    )["workflowSave"]

    assert payload["workflow"] is None
    assert payload["errors"]
    assert all(e["path"][:3] == ["definition", "steps", "0"] for e in payload["errors"])
    detail = served.data(workspace.admin, WORKFLOW_NAME, {"id": workflow_id})
    assert detail["workflow"]["name"] == "Ping"


# Runs ------------------------------------------------------------------------------


def test_manual_run_with_input(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    workflow_id = create_workflow(served, workspace, "orders", manual())["id"]

    run = start_run(served, workspace.admin, workflow_id, {"reason": "check"})

    assert run["triggerKind"] == "MANUAL"
    assert run["requestedBy"] == "admin"
    assert run["trigger"]["input"] == {"reason": "check"}
    finished = wait_for_run(served, workspace.admin, run["id"], ("COMPLETED",))
    assert [s["stepId"] for s in finished["steps"]] == ["pause"]


def test_manual_start_rejections(served: Served, receiver: HttpReceiver) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    on_create = create_workflow(
        served, workspace, "orders", email_and_webhook(receiver.url())
    )["id"]
    workflow_id = create_workflow(served, workspace, "orders", manual())["id"]

    not_manual = served.data(
        workspace.admin, START, {"input": {"workflow": on_create}}
    )["workflowRunStart"]
    bad_input = served.data(
        workspace.admin, START, {"input": {"workflow": workflow_id, "input": [1, 2]}}
    )["workflowRunStart"]

    assert not_manual["run"] is None
    assert not_manual["errors"] == [
        {
            "path": ["workflow"],
            "code": "INVALID",
            "message": f"Workflow {on_create!r} has a record_created trigger; only "
            "workflows with a manual trigger can be started by hand.",
        }
    ]
    assert bad_input["errors"] == [
        {
            "path": ["input"],
            "code": "INVALID_TYPE",
            "message": "The run input must be a JSON object or null, got list.",
        }
    ]


def test_run_pages_and_status_filter(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    workflow_id = create_workflow(served, workspace, "orders", manual())["id"]
    started = [start_run(served, workspace.admin, workflow_id)["id"] for _ in range(3)]
    for run_id in started:
        wait_for_run(served, workspace.admin, run_id, ("COMPLETED",))

    first = served.data(workspace.admin, RUNS, {"workflow": workflow_id, "first": 2})
    page = first["workflowRuns"]
    assert [n["id"] for n in page["nodes"]] == started[::-1][:2]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = served.data(
        workspace.admin,
        RUNS,
        {"workflow": workflow_id, "first": 2, "after": page["pageInfo"]["endCursor"]},
    )["workflowRuns"]
    assert [n["id"] for n in rest["nodes"]] == [started[0]]
    assert rest["pageInfo"]["hasNextPage"] is False
    failed = served.data(
        workspace.admin, RUNS, {"workflow": workflow_id, "status": "FAILED"}
    )["workflowRuns"]
    assert failed["nodes"] == []
    assert served.errors(
        workspace.admin, RUNS, {"workflow": workflow_id, "first": 99}
    ) == [
        "`first` must be between 1 and 5, got 99; page through larger results "
        "with `after`."
    ]


def test_retry_failed_run(served: Served, receiver: HttpReceiver) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    receiver.fail_first = 1
    receiver.fail_status = 400
    hook = {"id": "hook", "type": "http_request", "config": {"url": receiver.url()}}
    workflow_id = create_workflow(served, workspace, "orders", manual("Hook", [hook]))[
        "id"
    ]
    run_id = start_run(served, workspace.admin, workflow_id)["id"]

    failed = wait_for_run(served, workspace.admin, run_id, ("FAILED", "COMPLETED"))
    assert failed["status"] == "FAILED"
    assert failed["errorStep"] == "hook"
    assert "400" in failed["error"]
    (step,) = failed["steps"]
    assert step["status"] == "FAILED"
    assert step["attempts"] == 1
    assert "400" in step["error"]

    retried = served.data(workspace.admin, RETRY, {"input": {"run": run_id}})[
        "workflowRunRetry"
    ]
    assert retried["errors"] == []
    assert retried["run"]["id"] == run_id
    done = wait_for_run(served, workspace.admin, run_id, ("COMPLETED", "FAILED"))
    assert done["status"] == "COMPLETED"
    assert done["error"] is None
    assert done["steps"][0]["status"] == "DONE"
    assert receiver.counts[f"{run_id}:hook"] == 2

    again = served.data(workspace.admin, RETRY, {"input": {"run": run_id}})[
        "workflowRunRetry"
    ]
    assert again["run"] is None
    assert [(e["path"], e["code"]) for e in again["errors"]] == [(["run"], "CONFLICT")]


def test_cancel_waiting_run(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    workflow_id = create_workflow(
        served, workspace, "orders", manual("Slow", LONG_WAIT)
    )["id"]
    run_id = start_run(served, workspace.admin, workflow_id)["id"]
    wait_for_run(served, workspace.admin, run_id, ("WAITING",))

    cancelled = served.data(
        workspace.admin, CANCEL, {"input": {"run": run_id, "reason": "Duplicate"}}
    )["workflowRunCancel"]

    assert cancelled["errors"] == []
    run = cancelled["run"]
    assert run["id"] == run_id
    assert run["status"] == "CANCELLED"
    assert run["cancelledBy"] == "admin"
    assert run["cancelReason"] == "Duplicate"
    assert run["finishedAt"] is not None
    assert run["nextAttemptAt"] is None
    stored = served.data(workspace.admin, RUN, {"id": run_id})["workflowRun"]
    assert stored["status"] == "CANCELLED"
    assert [(s["stepId"], s["status"]) for s in stored["steps"]] == [
        ("pause", "WAITING")
    ]
    listed = served.data(
        workspace.admin, RUNS, {"workflow": workflow_id, "status": "CANCELLED"}
    )["workflowRuns"]["nodes"]
    assert [n["id"] for n in listed] == [run_id]

    again = served.data(workspace.admin, CANCEL, {"input": {"run": run_id}})[
        "workflowRunCancel"
    ]
    assert again == {
        "run": None,
        "errors": [
            {
                "path": ["run"],
                "code": "CONFLICT",
                "message": f"Run {run_id!r} is cancelled. Only a queued, running, "
                "waiting or failed run can be cancelled.",
            }
        ],
    }


def test_cancel_rejects_long_reason(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    workflow_id = create_workflow(
        served, workspace, "orders", manual("Slow", LONG_WAIT)
    )["id"]
    run_id = start_run(served, workspace.admin, workflow_id)["id"]

    rejected = served.data(
        workspace.admin, CANCEL, {"input": {"run": run_id, "reason": "x" * 1001}}
    )["workflowRunCancel"]

    assert rejected == {
        "run": None,
        "errors": [
            {
                "path": ["reason"],
                "code": "TOO_LONG",
                "message": "The reason has 1001 characters, more than the maximum "
                "of 1000. Shorten it.",
            }
        ],
    }
    run = served.data(workspace.admin, RUN, {"id": run_id})["workflowRun"]
    assert run["status"] != "CANCELLED"


def test_cancel_completed_run_conflicts(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    workflow_id = create_workflow(served, workspace, "orders", manual())["id"]
    run_id = start_run(served, workspace.admin, workflow_id)["id"]
    wait_for_run(served, workspace.admin, run_id, ("COMPLETED",))

    refused = served.data(workspace.admin, CANCEL, {"input": {"run": run_id}})[
        "workflowRunCancel"
    ]

    assert refused == {
        "run": None,
        "errors": [
            {
                "path": ["run"],
                "code": "CONFLICT",
                "message": f"Run {run_id!r} is completed. Only a queued, running, "
                "waiting or failed run can be cancelled.",
            }
        ],
    }
    run = served.data(workspace.admin, RUN, {"id": run_id})["workflowRun"]
    assert run["status"] == "COMPLETED"


def test_cancel_during_approval(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    approval = {
        "id": "manager",
        "type": "approval",
        "config": {"levels": [{"name": "Manager", "approvers": ["user:amina"]}]},
    }
    workflow_id = create_workflow(
        served, workspace, "orders", manual("Approve", [approval])
    )["id"]
    amina = workspace.token(Role.MEMBER, "amina")
    run_id = start_run(served, workspace.admin, workflow_id)["id"]
    wait_for_run(served, workspace.admin, run_id, ("WAITING",))
    (pending,) = served.data(amina, PENDING)["pendingApprovals"]
    assert pending["runId"] == run_id

    cancelled = served.data(workspace.admin, CANCEL, {"input": {"run": run_id}})[
        "workflowRunCancel"
    ]
    assert cancelled["errors"] == []
    assert cancelled["run"]["cancelReason"] is None

    assert served.data(amina, PENDING) == {"pendingApprovals": []}
    decide = {"run": run_id, "stepKey": "manager", "decision": "APPROVE"}
    late = served.data(amina, DECIDE, {"input": decide})["workflowApprovalDecide"]
    assert late == {
        "approval": None,
        "errors": [
            {
                "path": ["stepKey"],
                "code": "CONFLICT",
                "message": f"Run {run_id!r} is cancelled, so step 'manager' takes "
                "no more decisions.",
            }
        ],
    }


def test_run_changes_are_pushed(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS)
    steps = [{"id": "pause", "type": "wait", "config": {"duration": {"seconds": 1}}}]
    workflow_id = create_workflow(served, workspace, "orders", manual("Slow", steps))[
        "id"
    ]

    with served.socket() as ws:
        initialise(ws, workspace.admin)
        subscribe(ws, "runs", RUN_CHANGED, {"workflow": workflow_id})
        run_id = start_run(served, workspace.admin, workflow_id)["id"]
        events: list[dict[str, Any]] = []
        while not events or events[-1]["run"]["status"] != "COMPLETED":
            message = ws.receive_json()
            assert message["type"] == "next", message
            events.append(message["payload"]["data"]["workflowRunChanged"])

    assert {e["run"]["id"] for e in events} == {run_id}
    assert events[-1]["previousStatus"] in (None, "QUEUED", "RUNNING", "WAITING")
    statuses = [e["run"]["status"] for e in events]
    assert len(statuses) == len(set(statuses))


def test_approval_decided_through_mutation(
    served: Served, mailbox: SmtpReceiver, receiver: HttpReceiver
) -> None:
    workspace = served.workspace()
    other = served.workspace()
    app = workspace.create_app("orders", ORDERS)["app"]
    approval = {
        "id": "manager",
        "type": "approval",
        "config": {
            "levels": [{"name": "Manager", "approvers": ["user:amina"]}],
            "attributes": {"email": {"amina": "amina@example.com"}},
        },
    }
    hook = {"id": "hook", "type": "http_request", "config": {"url": receiver.url()}}
    definition = {
        "name": "Approve orders",
        "trigger": {"type": "record_created"},
        "steps": [approval, hook],
    }
    workflow_id = create_workflow(served, workspace, "orders", definition)["id"]
    amina = workspace.token(Role.MEMBER, "amina")
    baraka = workspace.token(Role.MEMBER, "baraka")

    record_id = submit_order(served, workspace, app)
    run_id = wait_for_first_run(served, workspace.admin, workflow_id)
    wait_for_run(served, workspace.admin, run_id, ("WAITING",))

    (pending,) = served.data(amina, PENDING)["pendingApprovals"]
    assert pending["runId"] == run_id
    assert pending["stepKey"] == "manager"
    assert pending["recordId"] == record_id
    assert (pending["level"], pending["levelCount"]) == (1, 1)
    assert pending["status"] == "PENDING"
    assert pending["approvers"] == ["amina"]
    assert pending["decisions"] == []
    assert served.data(baraka, PENDING) == {"pendingApprovals": []}
    assert [
        m.recipients for m in mailbox.messages if "amina@example.com" in m.recipients
    ] == [["amina@example.com"]]
    assert receiver.requests == []

    decide = {"run": run_id, "stepKey": "manager", "decision": "APPROVE"}
    forbidden = served.data(baraka, DECIDE, {"input": decide})["workflowApprovalDecide"]
    assert forbidden == {
        "approval": None,
        "errors": [
            {
                "path": [],
                "code": "FORBIDDEN",
                "message": f"User 'baraka' is not an approver of level 1 of step "
                f"'manager' in run {run_id!r}.",
            }
        ],
    }
    foreign = served.data(other.admin, DECIDE, {"input": decide})[
        "workflowApprovalDecide"
    ]
    assert foreign["errors"] == [
        {
            "path": ["run"],
            "code": "NOT_FOUND",
            "message": f"No workflow run {run_id!r} in this workspace.",
        }
    ]
    wrong_step = served.data(amina, DECIDE, {"input": {**decide, "stepKey": "hook"}})[
        "workflowApprovalDecide"
    ]
    assert [(e["path"], e["code"]) for e in wrong_step["errors"]] == [
        (["stepKey"], "NOT_FOUND")
    ]

    approved = served.data(
        amina, DECIDE, {"input": {**decide, "comment": "Within budget"}}
    )["workflowApprovalDecide"]
    assert approved["errors"] == []
    assert approved["approval"]["decisions"] == [
        {"userId": "amina", "decision": "APPROVE", "comment": "Within budget"}
    ]
    done = wait_for_run(served, workspace.admin, run_id, ("COMPLETED", "FAILED"))
    assert done["status"] == "COMPLETED", done
    assert [s["stepId"] for s in done["steps"]] == ["manager", "hook"]
    assert len(receiver.requests) == 1
    assert served.data(amina, PENDING) == {"pendingApprovals": []}

    late = served.data(amina, DECIDE, {"input": {**decide, "decision": "REJECT"}})[
        "workflowApprovalDecide"
    ]
    assert [(e["path"], e["code"]) for e in late["errors"]] == [
        (["stepKey"], "CONFLICT")
    ]


# Rights and tenancy ----------------------------------------------------------------


def test_member_cannot_edit(served: Served) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS, shared=True)
    workflow_id = create_workflow(served, workspace, "orders", manual())["id"]
    member = workspace.token(Role.MEMBER, "amina")
    run_id = start_run(served, workspace.admin, workflow_id)["id"]
    wait_for_run(served, workspace.admin, run_id, ("COMPLETED",))

    created = served.data(
        member, CREATE, {"input": {"app": "orders", "definition": manual()}}
    )["workflowCreate"]
    saved = served.data(
        member, SAVE, {"input": {"workflow": workflow_id, "definition": manual("X")}}
    )["workflowSave"]
    rolled = served.data(
        member, ROLLBACK, {"input": {"workflow": workflow_id, "toVersion": 1}}
    )["workflowRollback"]
    retried = served.data(member, RETRY, {"input": {"run": run_id}})["workflowRunRetry"]

    assert created["errors"] == [
        {
            "path": [],
            "code": "FORBIDDEN",
            "message": "Only workspace admins may create workflows; use an admin "
            "token.",
        }
    ]
    assert [e["message"] for e in saved["errors"]] == [
        "Only workspace admins may change workflows; use an admin token."
    ]
    assert [e["code"] for e in rolled["errors"]] == ["FORBIDDEN"]
    assert [e["code"] for e in retried["errors"]] == ["FORBIDDEN"]
    assert served.errors(member, WORKFLOW_DEFINITION, {"id": workflow_id}) == [
        "Only workspace admins may read workflow definitions; use an admin token."
    ]
    detail = served.data(workspace.admin, WORKFLOW_NAME, {"id": workflow_id})
    assert detail["workflow"]["name"] == "Ping"


def test_member_starts_shared_manual_workflow(
    served: Served, receiver: HttpReceiver
) -> None:
    workspace = served.workspace()
    workspace.create_app("orders", ORDERS, shared=True)
    workspace.create_app("secret", ORDERS)
    shared_id = create_workflow(served, workspace, "orders", manual("Shared"))["id"]
    create_workflow(served, workspace, "orders", email_and_webhook(receiver.url()))
    hidden_id = create_workflow(served, workspace, "secret", manual("Hidden"))["id"]
    amina = workspace.token(Role.MEMBER, "amina")
    baraka = workspace.token(Role.MEMBER, "baraka")
    admin_run = start_run(served, workspace.admin, shared_id)["id"]

    listed = served.data(amina, WORKFLOWS, {"app": "orders"})["workflows"]
    assert [w["name"] for w in listed] == ["Shared"]
    run = start_run(served, amina, shared_id, {"note": "from the field"})
    assert run["requestedBy"] == "amina"
    wait_for_run(served, amina, run["id"], ("COMPLETED",))

    own = served.data(amina, RUNS, {"workflow": shared_id})["workflowRuns"]["nodes"]
    assert [n["id"] for n in own] == [run["id"]]
    assert served.data(baraka, RUNS, {"workflow": shared_id})["workflowRuns"] == {
        "nodes": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
    assert served.data(baraka, RUN, {"id": run["id"]}) == {"workflowRun": None}
    assert served.data(amina, RUN, {"id": admin_run}) == {"workflowRun": None}
    assert served.data(amina, WORKFLOW_NAME, {"id": hidden_id}) == {"workflow": None}
    hidden = served.data(amina, START, {"input": {"workflow": hidden_id}})[
        "workflowRunStart"
    ]
    assert hidden["errors"] == [
        {
            "path": ["workflow"],
            "code": "NOT_FOUND",
            "message": f"No workflow {hidden_id!r} in this workspace.",
        }
    ]


def test_other_workspace_sees_nothing(served: Served) -> None:
    workspace = served.workspace()
    other = served.workspace()
    workspace.create_app("orders", ORDERS)
    other.create_app("orders", ORDERS)
    workflow_id = create_workflow(served, workspace, "orders", manual())["id"]
    run_id = start_run(served, workspace.admin, workflow_id)["id"]
    wait_for_run(served, workspace.admin, run_id, ("COMPLETED",))
    missing = f"No workflow {workflow_id!r} in this workspace."

    assert served.data(other.admin, WORKFLOWS, {"app": "orders"}) == {"workflows": []}
    assert served.data(other.admin, WORKFLOW_NAME, {"id": workflow_id}) == {
        "workflow": None
    }
    assert served.data(other.admin, RUN, {"id": run_id}) == {"workflowRun": None}
    assert served.errors(other.admin, RUNS, {"workflow": workflow_id}) == [missing]
    saved = served.data(
        other.admin, SAVE, {"input": {"workflow": workflow_id, "definition": manual()}}
    )["workflowSave"]
    assert saved["errors"] == [
        {"path": ["workflow"], "code": "NOT_FOUND", "message": missing}
    ]
    started = served.data(other.admin, START, {"input": {"workflow": workflow_id}})[
        "workflowRunStart"
    ]
    assert [e["message"] for e in started["errors"]] == [missing]
    retried = served.data(other.admin, RETRY, {"input": {"run": run_id}})[
        "workflowRunRetry"
    ]
    assert retried["errors"] == [
        {
            "path": ["run"],
            "code": "NOT_FOUND",
            "message": f"No workflow run {run_id!r} in this workspace.",
        }
    ]

    with served.socket() as ws:
        initialise(ws, other.admin)
        subscribe(ws, "runs", RUN_CHANGED, {"workflow": workflow_id})
        message = ws.receive_json()
    assert message["type"] == "error"
    assert [e["message"] for e in message["payload"]] == [missing]


def test_member_cancels_own_runs_only(served: Served) -> None:
    workspace = served.workspace()
    other = served.workspace()
    workspace.create_app("orders", ORDERS, shared=True)
    workflow_id = create_workflow(
        served, workspace, "orders", manual("Slow", LONG_WAIT)
    )["id"]
    amina = workspace.token(Role.MEMBER, "amina")
    baraka = workspace.token(Role.MEMBER, "baraka")
    own = start_run(served, amina, workflow_id)["id"]
    admin_run = start_run(served, workspace.admin, workflow_id)["id"]

    foreign = served.data(other.admin, CANCEL, {"input": {"run": own}})[
        "workflowRunCancel"
    ]
    by_baraka = served.data(baraka, CANCEL, {"input": {"run": own}})[
        "workflowRunCancel"
    ]
    admins = served.data(amina, CANCEL, {"input": {"run": admin_run}})[
        "workflowRunCancel"
    ]
    by_amina = served.data(
        amina, CANCEL, {"input": {"run": own, "reason": "Started by mistake"}}
    )["workflowRunCancel"]

    for refused, run_id in ((foreign, own), (by_baraka, own), (admins, admin_run)):
        assert refused == {
            "run": None,
            "errors": [
                {
                    "path": ["run"],
                    "code": "NOT_FOUND",
                    "message": f"No workflow run {run_id!r} in this workspace.",
                }
            ],
        }
    assert by_amina["errors"] == []
    assert by_amina["run"]["status"] == "CANCELLED"
    assert by_amina["run"]["cancelledBy"] == "amina"
    assert by_amina["run"]["cancelReason"] == "Started by mistake"
    still = served.data(workspace.admin, RUN, {"id": admin_run})["workflowRun"]
    assert still["status"] != "CANCELLED"


# Settings and the worker command ------------------------------------------------


WORKFLOW_ENV = (
    "APPGRAPH_REDIS_URL",
    "APPGRAPH_SMTP_HOST",
    "APPGRAPH_SMTP_PORT",
    "APPGRAPH_SMTP_USER",
    "APPGRAPH_SMTP_PASSWORD",
    "APPGRAPH_SMTP_FROM",
    "APPGRAPH_SMTP_STARTTLS",
    "APPGRAPH_ALLOW_NETWORKS",
    "APPGRAPH_WORKFLOW_MAX_CHAIN_DEPTH",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in WORKFLOW_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_read_workflow_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APPGRAPH_REDIS_URL", "redis://127.0.0.1:6379/3")
    clean_env.setenv("APPGRAPH_SMTP_HOST", "mail.example.com")
    clean_env.setenv("APPGRAPH_SMTP_PORT", "2525")
    clean_env.setenv("APPGRAPH_SMTP_USER", "robot")
    clean_env.setenv("APPGRAPH_SMTP_PASSWORD", "hunter2")
    clean_env.setenv("APPGRAPH_SMTP_FROM", "robot@example.com")
    clean_env.setenv("APPGRAPH_SMTP_STARTTLS", "false")
    clean_env.setenv("APPGRAPH_ALLOW_NETWORKS", "10.1.0.0/16, 192.168.4.7/32")
    clean_env.setenv("APPGRAPH_WORKFLOW_MAX_CHAIN_DEPTH", "3")

    settings = Settings.from_env()

    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.workflow.max_chain_depth == 3
    assert settings.allow_networks == ("10.1.0.0/16", "192.168.4.7/32")
    smtp = settings.smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.username) == ("mail.example.com", 2525, "robot")
    assert smtp.from_address == "robot@example.com"
    assert smtp.starttls is False
    assert smtp.password is not None
    assert smtp.password.reveal() == "hunter2"
    assert "hunter2" not in repr(settings)
    resources = settings.step_resources()
    assert resources.smtp is smtp
    assert resources.http is not None
    assert [str(n) for n in resources.http.policy.networks] == [
        "10.1.0.0/16",
        "192.168.4.7/32",
    ]


def test_settings_defaults_without_env(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()

    assert settings.redis_url is None
    assert settings.smtp is None
    assert settings.allow_networks == ()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "APPGRAPH_ALLOW_NETWORKS",
            "10.0.0.0/8,intranet",
            "APPGRAPH_ALLOW_NETWORKS has an invalid network 'intranet'; expected "
            "comma-separated CIDRs such as 10.0.0.0/8,192.168.1.0/24.",
        ),
        (
            "APPGRAPH_SMTP_STARTTLS",
            "sometimes",
            "APPGRAPH_SMTP_STARTTLS must be true or false, got 'sometimes'.",
        ),
        (
            "APPGRAPH_SMTP_PORT",
            "smtp",
            "APPGRAPH_SMTP_PORT must be an integer, got 'smtp'.",
        ),
    ],
)
def test_settings_reject_malformed_env(
    clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    clean_env.setenv("APPGRAPH_SMTP_HOST", "mail.example.com")
    clean_env.setenv("APPGRAPH_SMTP_FROM", "robot@example.com")
    clean_env.setenv(name, value)

    with pytest.raises(ValueError) as raised:
        Settings.from_env()

    assert str(raised.value) == message


def test_smtp_host_needs_sender(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APPGRAPH_SMTP_HOST", "mail.example.com")

    with pytest.raises(ValueError) as raised:
        Settings.from_env()

    assert str(raised.value) == (
        "APPGRAPH_SMTP_FROM is missing; set it to the sender address of workflow "
        "email, such as workflows@example.com."
    )


def test_worker_command_needs_redis_url(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "worker"]) == 2

    assert capsys.readouterr().err == (
        "error: appgraph worker needs a Redis URL. Set APPGRAPH_REDIS_URL (such as "
        "redis://127.0.0.1:6379/0) for both `appgraph serve` and `appgraph worker`, "
        "or pass --redis-url.\n"
    )


def test_worker_command_needs_database(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["--data-dir", str(tmp_path), "worker", "--redis-url", "redis://127.0.0.1:1/0"]
    )

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: no database at {tmp_path / 'appgraph.sqlite3'}; start `appgraph "
        f"serve` with the same --data-dir first.\n"
    )


def test_command_rejects_malformed_env(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("APPGRAPH_ALLOW_NETWORKS", "intranet")

    assert main(["--data-dir", str(tmp_path), "worker"]) == 2

    assert capsys.readouterr().err == (
        "error: APPGRAPH_ALLOW_NETWORKS has an invalid network 'intranet'; "
        "expected comma-separated CIDRs such as 10.0.0.0/8,192.168.1.0/24.\n"
    )


@pytest.mark.slow
def test_redis_runs_wait_for_worker_command(
    tmp_path: Path, redis_url: str, receiver: HttpReceiver
) -> None:
    queue = f"wf_api_{uuid.uuid4().hex[:12]}"
    workflow_settings = WorkflowSettings(
        redis_url=redis_url,
        queue_name=queue,
        dispatch_interval=0.05,
        sweep_interval=0.2,
        worker_timeout=0.1,
    )
    settings = Settings(
        data_dir=tmp_path, workflow=workflow_settings, allow_networks=("127.0.0.1/32",)
    )
    app = create_app(settings)
    with TestClient(app) as client:
        served = Served(client, app.state.runtime)
        workspace = served.workspace()
        workspace.create_app("orders", ORDERS)
        hook = {"id": "hook", "type": "http_request", "config": {"url": receiver.url()}}
        workflow_id = create_workflow(
            served, workspace, "orders", manual("Hook", [hook])
        )["id"]
        run_id = start_run(served, workspace.admin, workflow_id)["id"]
        time.sleep(0.3)
        queued = served.data(workspace.admin, RUN, {"id": run_id})["workflowRun"]
        assert queued["status"] == "QUEUED"
        assert receiver.requests == []

        env = {
            **os.environ,
            "APPGRAPH_REDIS_URL": redis_url,
            "APPGRAPH_WORKFLOW_QUEUE_NAME": queue,
            "APPGRAPH_WORKFLOW_WORKER_TIMEOUT": "0.1",
            "APPGRAPH_ALLOW_NETWORKS": "127.0.0.1/32",
        }
        worker = subprocess.Popen(
            [str(APPGRAPH), "--data-dir", str(tmp_path), "worker", "--threads", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            done = wait_for_run(
                served, workspace.admin, run_id, ("COMPLETED", "FAILED")
            )
        finally:
            worker.terminate()
            output = worker.communicate(timeout=20)[0].decode()

    assert done["status"] == "COMPLETED", output
    assert len(receiver.requests) == 1
    assert "Workflow worker started on queue " + queue in output
    assert worker.returncode == 0, output
