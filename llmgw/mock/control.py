"""The mock server's side routes: model lists, health, and the ``/_mock`` control API.

Chaos drills and benchmarks steer a running mock through these: add or clear faults while it
serves, read what it has seen (requests per model and per path, faults fired), reset it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from llmgw.mock.faults import Fault, FaultTable, parse_fault

DEFAULT_MODELS: tuple[str, ...] = ("mock-small", "mock-large")


@dataclass(slots=True)
class MockStats:
    """Request counters for ``/_mock/stats``."""

    requests: int = 0
    by_model: Counter[str] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)

    def count(self, model: str, path: str) -> None:
        self.requests += 1
        self.by_model[model] += 1
        self.by_path[path] += 1

    def clear(self) -> None:
        self.requests = 0
        self.by_model.clear()
        self.by_path.clear()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def parse_fault_items(data: Any) -> list[Fault]:
    """Faults from a control-API body: Fault fields, ``{"spec": ...}``, or a list of those."""
    items = data if isinstance(data, list) else [data]
    faults: list[Fault] = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"spec"}:
            faults.append(parse_fault(str(item["spec"])))
        else:
            faults.append(Fault.from_dict(item))
    return faults


class ControlRoutes:
    """Handlers for the side routes, over the server's fault table and stats."""

    def __init__(self, faults: FaultTable, stats: MockStats) -> None:
        self.faults = faults
        self.stats = stats

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/v1beta/models", self.models)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/_mock/faults", self.get_faults)
        app.router.add_post("/_mock/faults", self.add_faults)
        app.router.add_delete("/_mock/faults", self.clear_faults)
        app.router.add_get("/_mock/stats", self.get_stats)
        app.router.add_post("/_mock/reset", self.reset)

    def model_names(self) -> list[str]:
        """The defaults, then every model asked for or given a fault."""
        names = list(DEFAULT_MODELS)
        for name in [*self.stats.by_model, *(f["model"] for f in self.faults.faults())]:
            if name != "*" and name not in names:
                names.append(name)
        return names

    async def models(self, request: web.Request) -> web.Response:
        """The model list in the asking API's shape."""
        names = self.model_names()
        if request.path.startswith("/v1beta"):
            data: Any = {"models": [{"name": f"models/{n}", "displayName": n} for n in names]}
        elif "anthropic-version" in request.headers:
            created = "2025-01-01T00:00:00Z"
            items = [
                {"type": "model", "id": n, "display_name": n, "created_at": created} for n in names
            ]
            data = {"data": items, "has_more": False, "first_id": names[0], "last_id": names[-1]}
        else:
            data = {
                "object": "list",
                "data": [
                    {"id": n, "object": "model", "created": 0, "owned_by": "llmgw-mock"}
                    for n in names
                ],
            }
        return json_response(data)

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def get_faults(self, request: web.Request) -> web.Response:
        return json_response({"faults": self.faults.faults()})

    async def add_faults(self, request: web.Request) -> web.Response:
        try:
            new = parse_fault_items(orjson.loads(await request.read()))
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            return json_response({"error": {"message": str(exc) or "bad fault"}}, 400)
        for fault in new:
            self.faults.add(fault)
        return json_response({"added": len(new), "faults": self.faults.faults()}, 201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        return json_response({"removed": self.faults.clear(request.query.get("model"))})

    async def get_stats(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "requests": self.stats.requests,
                "by_model": dict(self.stats.by_model),
                "by_path": dict(self.stats.by_path),
                "faults_fired": dict(self.faults.fired),
                "active_faults": len(self.faults),
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.faults.clear()
        self.faults.fired.clear()
        self.stats.clear()
        return json_response({"ok": True})
