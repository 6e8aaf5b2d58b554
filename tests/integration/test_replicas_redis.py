"""Two gateway replicas share one set of limits and budgets through a real Redis."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import pytest
import redis as redis_client

from tests.conftest import Proc, free_port, llmgw_cmd, start_gateway, start_process
from tests.integration.conftest import create_key
from tests.redis_server import RedisServer, closed_port

CONFIG = """
[limits]
backend = "redis"
redis_url = "{redis}"
fail_mode = "closed"

[providers.m]
kind = "mock"

[models.chat]
deployments = [{{ provider = "m", model = "mock-small" }}]

[models.chat-open]
limits_fail_mode = "open"     # this route keeps serving, unmetered, while Redis is away
deployments = [{{ provider = "m", model = "mock-small" }}]

[tenants.shared]
models = ["*"]
[tenants.shared.limits]
rpm = 100

[tenants.wallet]
models = ["*"]
[[tenants.wallet.limits.budgets]]
period = "day"
limit_usd = "0.0005"
"""


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[Proc], dict[str, str], RedisServer]]:
    home = tmp_path_factory.mktemp("replicas")
    redis = RedisServer.start(home)
    config = home / "llmgw.toml"
    config.write_text(CONFIG.format(redis=redis.url))
    state = home / "state.db"  # keys are shared through the state file
    keys = {t: create_key(state, t, "k") for t in ("shared", "wallet")}
    procs = []
    for i in range(2):
        port = free_port()
        procs.append(
            start_process(
                llmgw_cmd(
                    "serve", "--config", str(config), "--state", str(state), "--port", str(port)
                ),
                home / f"replica{i}.log",
                f"http://127.0.0.1:{port}/readyz",
            )
        )
    yield procs, keys, redis
    for p in procs:
        p.stop()
    redis.stop()


def fire(procs: list[Proc], key: str, n: int, **kw: object) -> list[str]:
    """``n`` calls at once, alternating replicas; each outcome as "ok", the 429 error code, or
    "<status> <code>" for any other error (a 503 ``limits_unavailable`` shows as such)."""
    clients = [openai.OpenAI(base_url=f"{p.url}/v1", api_key=key, max_retries=0) for p in procs]
    out: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            clients[i % 2].chat.completions.create(
                model="chat", messages=[{"role": "user", "content": f"hi {i}"}], **kw
            )
            result = "ok"
        except openai.RateLimitError as exc:
            result = str(exc.code)
        except openai.APIStatusError as exc:
            result = f"{exc.status_code} {exc.code}"
        with lock:
            out.append(result)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_a_100_rpm_key_admits_at_most_100_across_two_replicas(
    replicas: tuple[list[Proc], dict[str, str], RedisServer],
) -> None:
    procs, keys, _ = replicas
    t0 = time.monotonic()
    outcomes = fire(procs, keys["shared"], 250)
    elapsed = time.monotonic() - t0
    admitted = outcomes.count("ok")
    # GCRA: a burst of up to 100, refilled at 100/min while the burst was being sent
    assert 100 <= admitted <= 100 + int(elapsed * 100 / 60) + 1, (Counter(outcomes), elapsed)
    assert outcomes.count("rate_limit_exceeded") == 250 - admitted, Counter(outcomes)


def test_a_budget_shared_by_replicas_is_never_overspent(
    replicas: tuple[list[Proc], dict[str, str], RedisServer], tmp_path: Path
) -> None:
    procs, keys, _ = replicas
    outcomes = fire(procs, keys["wallet"], 120, max_tokens=20)
    assert "budget_exceeded" in outcomes and outcomes.count("ok") > 5
    time.sleep(0.5)
    state = Path(procs[0].log).parent / "state.db"
    conn = sqlite3.connect(state)
    try:
        spent = conn.execute(
            "SELECT sum(cost_nanos) FROM audit_log WHERE tenant = 'wallet'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert 0 < spent <= 500_000  # $0.0005


def test_redis_down_fails_closed_with_503(
    replicas: tuple[list[Proc], dict[str, str], RedisServer],
) -> None:
    procs, keys, redis = replicas
    redis.stop()
    c = openai.OpenAI(base_url=f"{procs[0].url}/v1", api_key=keys["shared"], max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503 and info.value.code == "limits_unavailable"
    assert time.monotonic() - t0 < 2  # fast, not hung on the dead backend
    ok = c.chat.completions.create(model="chat-open", messages=[{"role": "user", "content": "x"}])
    assert ok.choices[0].message.content  # the fail-open route still serves


# ------------------------------------------------------------------ cold start

COLD_CONFIG = """
[limits]
backend = "redis"
redis_url = "{redis}"
fail_mode = "closed"

[providers.m]
kind = "mock"

[models.chat]
deployments = [{{ provider = "m", model = "mock-small" }}]

[tenants.burst]
models = ["*"]
[tenants.burst.limits]
rpm = 100000
tpm = 100000000
concurrency = 1000
[[tenants.burst.limits.budgets]]
period = "day"
limit_usd = "1000"
"""


async def burst(url: str, key: str, n: int) -> Counter[str]:
    """``n`` concurrent chat calls at once; each outcome as ``status`` or ``status code``."""
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    headers = {"authorization": f"Bearer {key}"}
    conn = aiohttp.TCPConnector(limit=n)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:

        async def one() -> str:
            async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
                if r.status == 200:
                    await r.read()
                    return "200"
                err = (await r.json())["error"]
                return f"{r.status} {err.get('code')}"

        return Counter(await asyncio.gather(*(one() for _ in range(n))))


def test_a_burst_right_after_start_on_a_fresh_redis_gets_no_spurious_503(
    tmp_path: Path,
) -> None:
    """300 calls at once, the moment the gateway reports ready, on a Redis that has never
    seen a connection or a script: every call is admitted (connections and scripts are warm
    before ready, and the timeouts hold on a loaded host)."""
    redis = RedisServer.start(tmp_path)
    try:
        config = tmp_path / "llmgw.toml"
        config.write_text(COLD_CONFIG.format(redis=redis.url))
        state = tmp_path / "state.db"
        key = create_key(state, "burst", "k")
        gw = start_gateway(tmp_path, config, state)
        try:
            outcomes = asyncio.run(burst(gw.url, key, 300))
        finally:
            gw.stop()
        assert outcomes == Counter({"200": 300}), (outcomes, gw.output()[-2000:])
        assert "unreachable" not in gw.output()
    finally:
        redis.stop()


DOWN_CONFIG = """
[limits]
backend = "redis"
redis_url = "{redis}"
fail_mode = "closed"
redis_start_wait_s = 1

[providers.m]
kind = "mock"

[models.chat]
deployments = [{{ provider = "m", model = "mock-small" }}]

[models.chat-open]
limits_fail_mode = "open"
deployments = [{{ provider = "m", model = "mock-small" }}]

[tenants.wallet]
models = ["*"]
[[tenants.wallet.limits.budgets]]
period = "day"
limit_usd = "10"
"""


def audit_spend(state: Path, tenant: str) -> tuple[int, int]:
    """(calls that cost something, nanos spent) of ``tenant`` in the audit log so far."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        n, spent = conn.execute(
            "SELECT count(*), coalesce(sum(cost_nanos), 0) FROM audit_log"
            " WHERE tenant = ? AND cost_nanos > 0",
            (tenant,),
        ).fetchone()
    finally:
        conn.close()
    return int(n), int(spent)


def test_a_redis_down_at_start_delays_start_up_by_a_bound_then_the_fail_mode_applies(
    tmp_path: Path,
) -> None:
    port = closed_port()
    config = tmp_path / "llmgw.toml"
    config.write_text(DOWN_CONFIG.format(redis=f"redis://127.0.0.1:{port}/0"))
    state = tmp_path / "state.db"
    key = create_key(state, "wallet", "k")
    t0 = time.monotonic()
    gw = start_gateway(tmp_path, config, state)
    redis = None
    try:
        assert time.monotonic() - t0 < 20  # waited redis_start_wait_s for Redis, not forever
        assert "unreachable at start" in gw.output()
        c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
        msg = [{"role": "user", "content": "x"}]
        with pytest.raises(openai.APIStatusError) as info:
            c.chat.completions.create(model="chat", messages=msg)  # type: ignore[arg-type]
        assert (info.value.status_code, info.value.code) == (503, "limits_unavailable")
        ok = c.chat.completions.create(model="chat-open", messages=msg)  # type: ignore[arg-type]
        assert ok.choices[0].message.content  # the fail-open route serves, unmetered

        redis = RedisServer.start(tmp_path, port=port)
        deadline = time.monotonic() + 20
        while True:  # the sync thread restores the budget's spend, then calls are admitted
            try:
                c.chat.completions.create(model="chat", messages=msg)  # type: ignore[arg-type]
                break
            except openai.APIStatusError as exc:
                assert exc.code == "limits_unavailable" and time.monotonic() < deadline
            time.sleep(0.1)
        # the unmetered call's cost was restored from the ledger before the first admission,
        # so Redis ends up holding every cent the audit log has for the tenant
        day = time.strftime("%Y-%m-%d", time.gmtime())
        deadline = time.monotonic() + 10
        while True:
            with redis_client.Redis.from_url(redis.url) as client:
                held = client.hgetall(f"llmgw:b:wallet|day|{day}")
            ledger = audit_spend(state, "wallet")
            calls, spent = ledger
            if (calls == 2 and held.get(b"reserved") == b"0") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert calls == 2 and spent > 0, ledger
        assert (int(held[b"spent"]), int(held[b"reserved"])) == (spent, 0), held
    finally:
        gw.stop()
        if redis is not None:
            redis.stop()
