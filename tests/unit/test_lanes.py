"""Per-tenant lanes for large bodies: one at a time per tenant, small ones never wait."""

from __future__ import annotations

import asyncio

from llmgw.gateway.lanes import TenantLanes, content_length


def test_one_large_body_per_tenant_at_a_time_and_small_ones_pass() -> None:
    async def run() -> None:
        lanes = TenantLanes(threshold=100)
        inside: dict[str, int] = {"a": 0, "b": 0}
        most: dict[str, int] = {"a": 0, "b": 0}

        async def call(tenant: str, size: int | None) -> None:
            async with lanes.lane(tenant, size):
                inside[tenant] += 1
                most[tenant] = max(most[tenant], inside[tenant])
                await asyncio.sleep(0.01)
                inside[tenant] -= 1

        await asyncio.gather(*(call("a", 1000) for _ in range(4)), call("b", None))
        assert most == {"a": 1, "b": 1}
        assert lanes.held() == 0  # nothing kept for idle tenants
        small = [call("a", 10) for _ in range(4)]
        await asyncio.gather(*small)
        assert most["a"] == 4  # small bodies are never serialised

    asyncio.run(run())


def test_content_length() -> None:
    assert content_length("123") == 123
    assert content_length(None) is None
    assert content_length("-1") is None and content_length("1e3") is None
