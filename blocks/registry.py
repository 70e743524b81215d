"""The registry of block types collected from plugins."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import pluggy

from blocks.base import BlockRole, BlockType
from plugins.manager import PluginError, create_plugin_manager

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class RegisteredBlockType:
    """A block type with the name of the plugin that provides it."""

    block_type: BlockType
    plugin: str


class BlockRegistry:
    """Block types by name, checked when the registry is built."""

    def __init__(self) -> None:
        self._entries: dict[str, RegisteredBlockType] = {}

    @classmethod
    def from_plugin_manager(cls, manager: pluggy.PluginManager) -> BlockRegistry:
        """Collect block types from every ``appgraph_block_types`` implementation."""
        registry = cls()
        for impl in manager.hook.appgraph_block_types.get_hookimpls():
            plugin_name = manager.get_name(impl.plugin) or repr(impl.plugin)
            block_types = cast(Sequence[BlockType], impl.function())
            for block_type in block_types:
                registry.add(block_type, plugin_name)
        return registry

    @classmethod
    def default(cls, *, load_entry_points: bool = True) -> BlockRegistry:
        """Build the registry of built-in and installed plugin block types."""
        manager = create_plugin_manager(load_entry_points=load_entry_points)
        return cls.from_plugin_manager(manager)

    def add(self, block_type: BlockType, plugin: str) -> None:
        """Register ``block_type`` as provided by ``plugin``.

        Raises:
            PluginError: the type is not a BlockType, its name is invalid, or
                another plugin registered the same name.
        """
        if not isinstance(block_type, BlockType):
            raise PluginError(
                f"Plugin {plugin!r} returned {block_type!r} from "
                "appgraph_block_types; expected BlockType instances."
            )
        name = getattr(block_type, "name", None)
        if not isinstance(name, str) or not _TYPE_NAME.match(name):
            raise PluginError(
                f"Plugin {plugin!r} registered a block type named {name!r}; names "
                "are 1-40 lowercase letters, digits or '_', starting with a letter."
            )
        if not getattr(block_type, "label", None):
            raise PluginError(f"Block type {name!r} of {plugin!r} has no label.")
        existing = self._entries.get(name)
        if existing is not None:
            raise PluginError(
                f"Block type {name!r} is registered by both {existing.plugin!r} "
                f"and {plugin!r}; uninstall one of them."
            )
        self._entries[name] = RegisteredBlockType(block_type, plugin)

    def get(self, name: str) -> BlockType | None:
        """Return the block type called ``name``, or None."""
        entry = self._entries.get(name)
        return entry.block_type if entry else None

    def __getitem__(self, name: str) -> BlockType:
        return self._entries[name].block_type

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[RegisteredBlockType]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        """Return the registered type names, sorted."""
        return sorted(self._entries)

    def is_container(self, name: str) -> bool:
        """Return whether blocks of type ``name`` have children."""
        block_type = self.get(name)
        return block_type is not None and block_type.role in (
            BlockRole.SECTION,
            BlockRole.REPEAT,
        )
