"""Hook specifications that plugins implement.

Every hook name starts with ``appgraph_`` and is called with keyword
arguments only, so adding an argument later does not break old plugins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from blocks.base import BlockType
    from workflows.steps.base import StepType

PROJECT_NAME = "appgraph"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def appgraph_block_types() -> Sequence[BlockType]:  # type: ignore[empty-body]
    """Return the block types this plugin provides.

    Each item is an instance of a :class:`blocks.BlockType` subclass. Names
    must be unique across all installed plugins; a clash is reported when the
    registry is built, naming both plugins.
    """


@hookspec
def appgraph_step_types() -> Sequence[StepType]:  # type: ignore[empty-body]
    """Return the workflow step types this plugin provides.

    Each item is an instance of a :class:`workflows.steps.StepType` subclass.
    Names must be unique across all installed plugins; a clash is reported
    when the step registry is built, naming both plugins.
    """
