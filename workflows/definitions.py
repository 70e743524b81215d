"""Saving, listing, rolling back and comparing workflow definitions.

Every save validates the whole definition against the installed step types
and the workspace's apps, then stores it as the next immutable version.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from blocks.definition import parse_definition
from blocks.errors import AppgraphError, NotFoundError
from store.base import Store
from store.models import App
from store.workflows import Workflow, WorkflowStore, WorkflowVersion
from workflows.model import Step, WorkflowDefinition, dump_workflow, parse_workflow
from workflows.steps.base import StepConfigContext
from workflows.steps.registry import StepRegistry
from workflows.validation import check_workflow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepChange:
    """A step present in both versions whose type, config, place or label changed."""

    step_id: str
    changes: tuple[str, ...]
    """Names of what changed: ``type``, ``config``, ``label``, ``position``."""


@dataclass(frozen=True)
class WorkflowDiff:
    """Changes between two versions of a workflow."""

    from_version: int
    to_version: int
    changed_fields: tuple[str, ...] = ()
    """Top-level keys that changed: ``name``, ``description``, ``enabled``,
    ``trigger``."""
    added_steps: tuple[str, ...] = ()
    removed_steps: tuple[str, ...] = ()
    changed_steps: tuple[StepChange, ...] = field(default_factory=tuple)


class WorkflowDefinitions:
    """Workflow definitions of every workspace, validated on save.

    Args:
        store: The record store, for apps and their definitions.
        workflows: The workflow store.
        steps: The installed step types.
    """

    def __init__(self, store: Store, workflows: WorkflowStore, steps: StepRegistry):
        self.store = store
        self.workflows = workflows
        self.steps = steps

    async def create(
        self,
        workspace_id: str,
        app_id: str,
        data: Mapping[str, Any],
        author: str,
        note: str = "",
    ) -> tuple[Workflow, WorkflowVersion]:
        """Validate a definition and create a workflow of an app with it.

        Raises:
            WorkflowDefinitionError: with every problem of the definition.
            NotFoundError: the app is not in the workspace.
        """
        app = await self._app(workspace_id, app_id)
        definition = await self.check(app, data)
        workflow, version = await self.workflows.create_workflow(
            workspace_id,
            app.id,
            definition.name,
            dump_workflow(definition),
            author,
            note,
        )
        logger.info("Created workflow %s of app %s", workflow.id, app.id)
        return workflow, version

    async def save(
        self,
        workflow_id: str,
        data: Mapping[str, Any],
        author: str,
        note: str = "",
        expected_current: int | None = None,
    ) -> WorkflowVersion:
        """Validate a definition and save it as the workflow's next version.

        Raises:
            WorkflowDefinitionError: with every problem of the definition.
            NotFoundError: the workflow does not exist.
            ConflictError: ``expected_current`` is not the current version.
        """
        workflow = await self._workflow(workflow_id)
        app = await self._app(workflow.workspace_id, workflow.app_id)
        definition = await self.check(app, data)
        version = await self.workflows.save_workflow_version(
            workflow_id,
            definition.name,
            dump_workflow(definition),
            author,
            note,
            expected_current,
        )
        logger.info("Saved version %d of workflow %s", version.number, workflow_id)
        return version

    async def rollback(
        self, workflow_id: str, to_version: int, author: str
    ) -> WorkflowVersion:
        """Save an earlier version's definition again as the next version.

        The old definition is validated again, because apps and step types
        may have changed since.

        Raises:
            NotFoundError: the workflow or the version does not exist.
            WorkflowDefinitionError: the old definition is no longer valid.
        """
        workflow = await self._workflow(workflow_id)
        old = await self.workflows.get_workflow_version(workflow_id, to_version)
        if old is None:
            raise NotFoundError(
                f"Workflow {workflow_id!r} has no version {to_version}; versions "
                f"run from 1 to {workflow.current_version}."
            )
        return await self.save(
            workflow_id,
            old.definition,
            author,
            note=f"Rollback to version {to_version}",
        )

    async def diff(
        self, workflow_id: str, from_version: int, to_version: int
    ) -> WorkflowDiff:
        """Return what changed from one version of a workflow to another.

        Raises:
            NotFoundError: the workflow or a version does not exist.
        """
        old = await self._version(workflow_id, from_version)
        new = await self._version(workflow_id, to_version)
        return diff_workflows(
            parse_workflow(old.definition),
            parse_workflow(new.definition),
            from_version,
            to_version,
        )

    async def check(self, app: App, data: Mapping[str, Any]) -> WorkflowDefinition:
        """Validate a definition for a workflow of ``app`` and return it.

        Raises:
            WorkflowDefinitionError: with every problem of the definition.
        """
        context = await self.config_context(app)
        return check_workflow(data, self.steps, context)

    async def config_context(self, app: App) -> StepConfigContext:
        """Return the apps and fields a definition for ``app`` may name."""
        apps = await self.store.list_apps(app.workspace_id)
        fields: dict[str, frozenset[str]] = {}
        for each in apps:
            version = await self.store.get_version(each.id, each.current_version)
            if version is None:
                continue
            try:
                definition = parse_definition(version.definition)
            except AppgraphError:
                continue
            fields[each.slug] = frozenset(block.id for block in definition.blocks)
        return StepConfigContext(
            app_slugs=frozenset(each.slug for each in apps),
            app_fields=fields,
            own_app_slug=app.slug,
        )

    async def _app(self, workspace_id: str, app_id: str) -> App:
        app = await self.store.get_app(app_id)
        if app is None or app.workspace_id != workspace_id:
            raise NotFoundError(
                f"App {app_id!r} was not found in the workspace. Check the app id."
            )
        return app

    async def _workflow(self, workflow_id: str) -> Workflow:
        workflow = await self.workflows.get_workflow(workflow_id)
        if workflow is None:
            raise NotFoundError(
                f"Workflow {workflow_id!r} was not found. Check the workflow id."
            )
        return workflow

    async def _version(self, workflow_id: str, number: int) -> WorkflowVersion:
        version = await self.workflows.get_workflow_version(workflow_id, number)
        if version is None:
            raise NotFoundError(f"Workflow {workflow_id!r} has no version {number}.")
        return version


def diff_workflows(
    old: WorkflowDefinition,
    new: WorkflowDefinition,
    from_version: int = 0,
    to_version: int = 0,
) -> WorkflowDiff:
    """Return what changed from ``old`` to ``new``, matching steps by id."""
    old_dump, new_dump = dump_workflow(old), dump_workflow(new)
    changed_fields = tuple(
        key
        for key in ("name", "description", "enabled", "trigger")
        if old_dump[key] != new_dump[key]
    )
    old_steps = _steps_by_id(old)
    new_steps = _steps_by_id(new)
    changed = []
    for step_id in new_steps.keys() & old_steps.keys():
        (old_place, old_step), (new_place, new_step) = (
            old_steps[step_id],
            new_steps[step_id],
        )
        what = []
        if old_step.type != new_step.type:
            what.append("type")
        if dict(old_step.config) != dict(new_step.config):
            what.append("config")
        if old_step.label != new_step.label:
            what.append("label")
        if old_place != new_place:
            what.append("position")
        if what:
            changed.append(StepChange(step_id, tuple(what)))
    return WorkflowDiff(
        from_version=from_version,
        to_version=to_version,
        changed_fields=changed_fields,
        added_steps=tuple(s for s in new_steps if s not in old_steps),
        removed_steps=tuple(s for s in old_steps if s not in new_steps),
        changed_steps=tuple(sorted(changed, key=lambda c: c.step_id)),
    )


def _steps_by_id(
    definition: WorkflowDefinition,
) -> dict[str, tuple[tuple[str | int, ...], Step]]:
    """Return each step with its place: parent step id, branch and index."""
    result: dict[str, tuple[tuple[str | int, ...], Step]] = {}

    def visit(steps: tuple[Step, ...], parent: tuple[str | int, ...]) -> None:
        for index, step in enumerate(steps):
            result[step.id] = ((*parent, index), step)
            for branch, children in step.branches.items():
                visit(children, (step.id, branch))

    visit(definition.steps, ())
    return result
