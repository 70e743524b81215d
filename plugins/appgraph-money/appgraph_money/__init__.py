"""An appgraph plugin for money: a ``money`` block and a ``money_total`` step.

The ``appgraph.plugins`` entry point names this module, so the hook
implementations below are what appgraph registers.
"""

from __future__ import annotations

from blocks import BlockType
from plugins import hookimpl
from workflows.steps import StepType

from .block import MoneyBlockType
from .total import MoneyTotalStepType

__all__ = ["MoneyBlockType", "MoneyTotalStepType"]


@hookimpl
def appgraph_block_types() -> list[BlockType]:
    """Register the money block type."""
    return [MoneyBlockType()]


@hookimpl
def appgraph_step_types() -> list[StepType]:
    """Register the money_total step type."""
    return [MoneyTotalStepType()]
