"""Record data as expressions see it, by the app version it was stored under."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blocks.definition import Definition, parse_definition
from blocks.errors import AppgraphError
from blocks.registry import BlockRegistry
from blocks.submission import expression_env
from store.base import Store

_CACHE_SIZE = 256


class RecordValues:
    """Converts stored record data to expression values, such as dates to dates.

    Parsed definitions are cached per (app, version), which never change.
    """

    def __init__(self, store: Store, blocks: BlockRegistry) -> None:
        self.store = store
        self.blocks = blocks
        self._definitions: dict[tuple[str, int], Definition | None] = {}

    async def env(
        self, app_id: str, version: int, data: object
    ) -> Mapping[str, Any] | None:
        """Return ``data`` as expression values, or None when it is not a mapping.

        Data of an app version that is missing or does not parse is returned
        unchanged.
        """
        if not isinstance(data, Mapping):
            return None
        definition = await self._definition(app_id, version)
        if definition is None:
            return dict(data)
        try:
            return expression_env(definition, self.blocks, data)
        except AppgraphError:
            return dict(data)

    async def _definition(self, app_id: str, number: int) -> Definition | None:
        key = (app_id, number)
        if key in self._definitions:
            return self._definitions[key]
        version = await self.store.get_version(app_id, number)
        definition = None
        if version is not None:
            try:
                definition = parse_definition(version.definition)
            except AppgraphError:
                definition = None
        if len(self._definitions) >= _CACHE_SIZE:
            self._definitions.pop(next(iter(self._definitions)))
        self._definitions[key] = definition
        return definition
