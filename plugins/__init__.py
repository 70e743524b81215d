"""The plugin host: hook markers, hook specifications and the plugin manager.

Third-party distributions expose a module under the ``appgraph.plugins``
entry-point group and implement hooks with :data:`hookimpl`::

    from plugins import hookimpl

    @hookimpl
    def appgraph_block_types():
        return [MoneyBlockType()]
"""

from plugins.hookspecs import PROJECT_NAME, hookimpl, hookspec
from plugins.manager import ENTRY_POINT_GROUP, PluginError, create_plugin_manager

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "PluginError",
    "create_plugin_manager",
    "hookimpl",
    "hookspec",
]
