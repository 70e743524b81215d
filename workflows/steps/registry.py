"""The registry of workflow step types collected from plugins."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import pluggy

from plugins.manager import PluginError, create_plugin_manager
from workflows.steps.base import StepType

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class RegisteredStepType:
    """A step type with the name of the plugin that provides it."""

    step_type: StepType
    plugin: str


class StepRegistry:
    """Step types by name, checked when the registry is built."""

    def __init__(self) -> None:
        self._entries: dict[str, RegisteredStepType] = {}

    @classmethod
    def from_plugin_manager(cls, manager: pluggy.PluginManager) -> StepRegistry:
        """Collect step types from every ``appgraph_step_types`` implementation."""
        registry = cls()
        for impl in manager.hook.appgraph_step_types.get_hookimpls():
            plugin_name = manager.get_name(impl.plugin) or repr(impl.plugin)
            step_types = cast(Sequence[StepType], impl.function())
            for step_type in step_types:
                registry.add(step_type, plugin_name)
        return registry

    @classmethod
    def default(cls, *, load_entry_points: bool = True) -> StepRegistry:
        """Build the registry of built-in and installed plugin step types."""
        manager = create_plugin_manager(load_entry_points=load_entry_points)
        return cls.from_plugin_manager(manager)

    def add(self, step_type: StepType, plugin: str) -> None:
        """Register ``step_type`` as provided by ``plugin``.

        Raises:
            PluginError: the type is not a StepType, its name or branches are
                invalid, or another plugin registered the same name.
        """
        if not isinstance(step_type, StepType):
            raise PluginError(
                f"Plugin {plugin!r} returned {step_type!r} from "
                "appgraph_step_types; expected StepType instances."
            )
        name = getattr(step_type, "name", None)
        if not isinstance(name, str) or not _TYPE_NAME.match(name):
            raise PluginError(
                f"Plugin {plugin!r} registered a step type named {name!r}; names "
                "are 1-40 lowercase letters, digits or '_', starting with a letter."
            )
        if not getattr(step_type, "label", None):
            raise PluginError(f"Step type {name!r} of {plugin!r} has no label.")
        reserved = {"id", "type", "label", "config"} & set(step_type.branches)
        if reserved:
            raise PluginError(
                f"Step type {name!r} of {plugin!r} names a branch "
                f"{sorted(reserved)[0]!r}, which is a reserved step key."
            )
        existing = self._entries.get(name)
        if existing is not None:
            raise PluginError(
                f"Step type {name!r} is registered by both {existing.plugin!r} "
                f"and {plugin!r}; uninstall one of them."
            )
        self._entries[name] = RegisteredStepType(step_type, plugin)

    def get(self, name: str) -> StepType | None:
        """Return the step type called ``name``, or None."""
        entry = self._entries.get(name)
        return entry.step_type if entry else None

    def __getitem__(self, name: str) -> StepType:
        return self._entries[name].step_type

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[RegisteredStepType]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        """Return the registered type names, sorted."""
        return sorted(self._entries)
