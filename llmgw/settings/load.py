"""Loading ``llmgw.toml``: where the settings come from, and the file's reference.

Where settings come from (first match wins):

1. the file given with ``--config`` (it must exist);
2. ``./llmgw.toml`` in the current directory, if present;
3. the environment, when ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY`` or ``GEMINI_API_KEY`` is
   set: a provider per key with a few current models each, plus the mock models and a ``demo``
   tenant (see ``llmgw.settings.default``);
4. the built-in default: a mock provider, models ``mock-small`` (aliases ``gpt-4o-mini``,
   ``claude-haiku-4-5``) and ``mock-large`` (aliases ``gpt-4o``, ``claude-sonnet-4-5``) and a
   ``demo`` tenant allowed every model.

Every problem in a file is reported as ``<file>: <key.path>: <what is wrong>`` and the gateway
does not start. Unknown keys are errors (with a "did you mean" hint), and so are values of the
wrong type (``true`` is not an integer).

TOML reference
--------------

``[server]``
    ``host`` (default ``"127.0.0.1"``), ``port`` (8080; 0-65535, 0 = any free port),
    ``max_body_bytes`` (4 MiB), ``drain_timeout_s`` (10: how long in-flight calls may finish
    on shutdown; a stream still open at that deadline ends with an in-band error event, is
    billed for what was delivered and recorded as ``aborted``), ``admin_key_env``
    (``"LLMGW_ADMIN_KEY"``: the variable holding the admin API key), ``write_timeout_s`` (30:
    a streaming client that reads nothing for this long is cut off — its upstream call is
    cancelled, its slots freed, it pays for what was produced and its row says
    ``client_write_timeout``).

``[audit]``
    ``queue_size`` (10000 rows waiting for the writer), ``queue_max_bytes`` (268435456, i.e.
    256 MiB, at least 1 MiB: the bodies those rows may hold in memory; when either bound is
    reached no row is dropped — new calls wait at the door until the writer has caught up),
    ``batch_size`` (500 rows per commit), ``flush_interval_s`` (0.05).
    ``durability``: when an answered call's row is safely on disk. ``"batched"`` (default):
    the answer goes out first and the writer thread commits rows every ``flush_interval_s``
    (or as soon as ``batch_size`` wait), so if the process is killed (SIGKILL, OOM, crash; a
    SIGTERM drains and loses nothing) the rows of about the last ``flush_interval_s`` of
    calls are lost, with their spend: rate x 0.05 s, e.g. ~5 rows at 100 calls/s, ~150 at
    3,000/s, and up to ``queue_size`` rows if the disk had fallen behind. ``"strict"``: the
    last bytes of every answer (a plain body, a stream's final event, a cache hit) are held
    until its row is committed; commits are grouped, one transaction for every row queued
    meanwhile. A killed process then loses no row of a call whose client got a complete
    answer. The state file keeps ``synchronous=NORMAL`` in WAL mode: a committed row survives
    the process dying, not a power loss before the next checkpoint. Error answers and calls
    the client abandoned are recorded as in ``"batched"``.

``[providers.<name>]``
    One upstream account; deployments refer to it by ``<name>``.
    ``kind``: ``"openai"`` (also any OpenAI-compatible server: vLLM, Ollama, ...),
    ``"anthropic"``, ``"gemini"`` or ``"mock"``; required.
    ``base_url``: default by kind: openai ``https://api.openai.com/v1``, anthropic
    ``https://api.anthropic.com``, gemini ``https://generativelanguage.googleapis.com``, mock none.
    ``api_key_env``: the environment variable holding the key; default by kind
    ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` / ``GEMINI_API_KEY`` (mock: none). There is no
    ``api_key`` key: secrets never go in this file.
    ``connect_timeout_s`` (5), ``read_timeout_s`` (120), ``max_connections`` (256),
    ``headers = { "X-Name" = "value" }`` (sent with every upstream call).
    For ``kind = "mock"`` only, a ``[providers.<name>.mock]`` table: ``ttft_ms`` (time to first
    token), ``tokens_per_s`` (stream speed), ``output_tokens`` (tokens per answer).

``[models.<public name>]``
    What callers put in ``"model"``. ``aliases = ["other-name", ...]`` are more names for it
    (an alias may not equal another model's name or another alias).
    ``deployments = [{ provider = "openai", model = "gpt-4o-2024-08-06", weight = 1 }, ...]``:
    at least one; ``provider`` names a ``[providers.<name>]``, ``model`` is the provider's own
    model name (a provider/model pair may appear once per model), ``weight`` (default 1) is
    for weighted routing, ``region = "eu"`` (optional) is matched by tenant region limits;
    ``max_concurrency``, ``rpm`` and ``tpm`` (optional, at least 1) are the upstream account's
    capacity for that model, which the gateway does not exceed.
    ``strategy``: how the deployments are ordered for each call, the next one taking over when
    one fails with a retryable error: ``"priority"`` (default: the order written),
    ``"weighted"`` (random by weight), ``"latency"`` (fastest recent average first; untried
    ones first), ``"cost"`` (cheapest input + output price first) or ``"least_busy"``
    (fewest calls in flight).
    ``fallbacks = ["other-model", ...]``: models (names or aliases) tried, in order, when every
    deployment of this one failed; their own fallbacks follow. A model may not name itself and
    fallbacks may not form a cycle (``a -> b -> a``).
    ``context_fallback = "bigger-model"``: the model used when a prompt exceeds this one's
    context window.

``[tenants."acme"]``, ``[tenants."acme/search"]``
    Tenant paths are ``/``-separated segments of ``a-z 0-9 _ -``. ``models = ["gpt-4o-mini"]``
    (model names or aliases) or ``["*"]`` for all; a child can only narrow what its parents
    allow. ``retention = "full" | "redacted" | "metadata"``: how much of each call the audit log
    keeps; the nearest declared value wins, default ``"full"``. ``redacted`` keeps bodies with
    card numbers (Luhn-checked), e-mail addresses, phone numbers, API keys and bearer tokens,
    and ``[audit] redact_patterns``, replaced by typed placeholders before storage. Parents
    of a declared tenant that are not declared themselves exist implicitly and inherit
    everything, and keys may be issued for deeper paths below a declared tenant (they inherit
    from it).
    ``weight`` (1, at least 1) is the tenant's share when deployments are short of capacity.

``[tenants."acme".limits]``
    Every key is optional (unset = unlimited): ``rpm`` (requests per minute), ``tpm`` (input +
    output tokens per minute), ``concurrency`` (calls in flight); integers at least 1. Rates
    sustain the limit per minute and allow bursts of up to a minute's worth. A call must fit
    the limits of every node from the org down to its key's tenant.
    ``[[tenants."acme".limits.budgets]]``, any number: ``period = "day" | "month" | "window"``
    (UTC day, calendar month, or fixed windows of ``window_s`` seconds since the epoch:
    ``window_s`` is required for ``"window"`` and refused otherwise), ``limit_usd`` (dollars,
    required: ``"25.00"``, ``"$25"``, ``25`` or ``0.1``, read exactly), ``hard`` (true: calls
    that could overspend are rejected; false: alerts only), ``model`` (a model name or alias:
    the budget counts only that model's calls). A tenant may not declare two budgets with the
    same period (and window and model).

``[tenants."acme".routing]``
    The tenant's routing policy; every key is optional. ``providers = ["openai", ...]``
    (declared provider names) and ``regions = ["eu", ...]`` limit every attempt of the
    tenant's calls, fallbacks included (a deployment without a ``region`` never matches a
    region limit); down the tenant tree they intersect, so a child can only narrow them. An
    empty list is an error. ``strategy`` and ``fallbacks`` (models) replace the model's own.
    ``allow_overrides = true`` honours the request headers ``x-llmgw-provider: <name>``
    (within the tenant's providers), ``x-llmgw-strategy: <strategy>`` and
    ``x-llmgw-fallback: none``; without it those headers are ignored. ``degraded_response``:
    text answered, clearly marked, when every deployment is down. Except for ``providers``
    and ``regions``, the nearest tenant that sets a key wins.

``[routing]``
    ``stream_resume`` (true: a stream that breaks mid-answer continues on another deployment).
    ``[routing.breaker]``, one circuit breaker per deployment: ``failure_rate`` (0.5, in
    (0, 1]) of at least ``min_calls`` (10) calls within ``window_s`` (30) failed, or
    ``consecutive_failures`` (5) in a row, opens it; ``slow_call_s`` (unset) counts slower calls
    as failures; it is probed again after ``open_s`` (5), doubling on each re-trip up to
    ``max_open_s`` (120, at least ``open_s``), with ``half_open_probes`` (2) trial calls; a probe
    out longer than ``probe_timeout_s`` (30) frees its slot for another.
    ``[routing.retry]``: ``max_attempts`` (3, across deployments and fallbacks),
    ``backoff_base_s`` (0.05) and ``backoff_cap_s`` (2, at least the base) for jittered
    backoff, and a retry budget: ``budget_ratio`` (0.2, in (0, 1]) of the calls in
    ``budget_window_s`` (10) plus ``budget_min_per_s`` (5, may be 0).
    ``[routing.timeouts]``: ``connect_s`` (5), ``first_byte_s`` (60: until response
    headers), ``ttft_s`` (60: until a stream's first content), ``idle_s`` (30: longest gap in a
    stream), ``total_s`` (600: the whole call, retries included). Counts are at least 1 and
    seconds greater than 0.

``[limits]``
    ``backend`` (``"local"``: counters in the process; ``"redis"``: shared by replicas),
    ``redis_url`` (``"redis://127.0.0.1:6379/0"``; ``redis://``, ``rediss://`` or
    ``unix://``), ``fail_mode`` (``"closed"``: reject calls while Redis is unreachable;
    ``"open"``: admit them), ``redis_connect_timeout_s`` (5: seconds to open a connection),
    ``redis_timeout_s`` (5: seconds to get a free pooled connection, and again for an
    answer; both run on the gateway's event loop and so include its lag in a burst on a busy
    host), ``redis_start_wait_s`` (5, or 0: how long start-up waits for Redis before serving
    with the fail mode), ``reserve_margin`` (``"1.10"``, a decimal at least 1: each call
    reserves its worst-case cost times this until settled), ``default_max_tokens`` (4096: the
    output bound of a call that sets none), ``queue_timeout_s`` (10: longest wait for a
    deployment with free capacity before a 429), ``alert_webhook`` (unset; an ``http(s)`` URL
    POSTed a JSON alert when a budget reaches 50, 80 and 100%).

``[cache]``
    The response cache. ``enabled`` (true), ``max_entries`` (500000, across tenants) and
    ``max_bytes`` (1 GiB of answers, prompts and vectors): past either cap the least recently
    used entries go; ``embedder`` (``"minilm-l6-v2-int8"``, the semantic cache's model). The
    policy keys below may also be set here, as the default for every tenant.

``[tenants."acme".cache]``, ``[tenants."acme".cache.models."<model>"]``
    A tenant's cache policy, and overrides for one public model (a name or alias); the nearest
    setting wins (model rule, then node, then parents, then ``[cache]``). ``mode``:
    ``"deterministic"`` (default: calls with temperature 0 or a seed), ``"always"`` or
    ``"off"``. ``scope``: who shares entries: ``"key"``, ``"tenant"`` (default: the key's
    tenant path), ``"team"`` (its first two segments) or ``"org"`` (its first segment), never
    wider. ``ttl_s`` (3600), ``max_ttl_s`` (86400: the most an ``x-llmgw-cache-ttl`` header
    may ask for). ``semantic`` (false): also answer paraphrases of cached questions;
    ``semantic_threshold`` (the embedder's calibrated default; a cosine similarity in (0, 1]);
    ``semantic_tools`` and ``semantic_nondeterministic`` (false): let calls with tools, or
    without temperature 0 or a seed, be matched by meaning too.

``[[pricing]]``
    Overrides or adds to the built-in price table, in dollars per million tokens: ``model``,
    ``provider`` (optional), ``input_per_mtok``, ``output_per_mtok``,
    ``cached_input_per_mtok`` (optional), ``effective = "2025-01-01"`` (from that date on;
    default 1970-01-01).

Dollar amounts (``limit_usd``, prices) are strings (``"0.15"``, ``"$0.15"``) or numbers; a
float is read as written (``0.1`` is exactly 0.1). They may not be negative, have at most 9
decimal places (a nano-dollar) and are at most $1,000,000,000 (``llmgw.settings.money``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from llmgw.settings.default import embedded_default, env_default
from llmgw.settings.fields import ConfigError
from llmgw.settings.parse import parse_settings
from llmgw.settings.schema import Settings

DEFAULT_CONFIG_NAME = "llmgw.toml"


def load_file(path: Path) -> Settings:
    """Read, parse and validate one TOML file; every failure is a ``ConfigError``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"invalid TOML: {exc}") from None
    return parse_settings(data, path)


def load_settings(path: Path | None = None) -> Settings:
    """Settings from ``path``, else ``./llmgw.toml``, else provider keys in the environment,
    else the built-in mock setup."""
    if path is not None:
        return load_file(path)
    local = Path(DEFAULT_CONFIG_NAME)
    if local.is_file():
        return load_file(local)
    return env_default(os.environ) or embedded_default()
