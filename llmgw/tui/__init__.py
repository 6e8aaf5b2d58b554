"""The ``llmgw tui`` operations view: a Textual app over the admin API or a state file.

``GatewayTUI(source)`` is the app; ``AdminSource(url, key)`` and ``StateSource(path)`` are its
data sources. Textual is imported only when these names are used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AdminSource", "GatewayTUI", "SourceError", "StateSource"]


def __getattr__(name: str) -> Any:
    if name == "GatewayTUI":
        from llmgw.tui.app import GatewayTUI

        return GatewayTUI
    if name in ("AdminSource", "SourceError"):
        from llmgw.tui import source

        return getattr(source, name)
    if name == "StateSource":
        from llmgw.tui.state_source import StateSource

        return StateSource
    raise AttributeError(name)
