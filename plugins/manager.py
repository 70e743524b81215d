"""Creation of the plugin manager and discovery of installed plugins."""

from __future__ import annotations

import logging

import pluggy

from plugins import hookspecs
from plugins.hookspecs import PROJECT_NAME

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "appgraph.plugins"


class PluginError(Exception):
    """A plugin could not be loaded or registered; the message names it."""


def create_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """Create a plugin manager with the built-in block and step types registered.

    Built-in block types and workflow step types register through the same
    ``appgraph_block_types`` and ``appgraph_step_types`` hooks that third
    parties implement. With ``load_entry_points`` set,
    distributions exposing the ``appgraph.plugins`` entry-point group are
    loaded as well.
    """
    import blocks.builtin
    import workflows.steps.builtin

    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(blocks.builtin, name="appgraph.builtin")
    manager.register(workflows.steps.builtin, name="appgraph.builtin_steps")

    if load_entry_points:
        try:
            count = manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as error:
            raise PluginError(
                f"Loading plugins from the {ENTRY_POINT_GROUP!r} entry-point group"
                f" failed: {error}. Uninstall or fix the plugin named above."
            ) from error
        logger.debug("Loaded %d plugin(s) from entry points", count)

    manager.check_pending()
    return manager
