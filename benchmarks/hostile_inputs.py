"""Hostile request bodies against a real gateway: what status and error code each one gets.

Starts a real ``llmgw mock serve`` and a real ``llmgw serve`` in front of it (the response cache
on for every call of tenant ``cached``, off for tenant ``plain``; OpenAI- and Anthropic-format
HTTP providers; an admin key), sends each case once, and prints a table: case, status, the
error's code (OpenAI ``error.code``, Anthropic ``error.type``), whether the body is JSON, and
whether the gateway logged a traceback for it.

    python benchmarks/hostile_inputs.py [--src DIR]

``--src`` runs the gateway from another checkout (e.g. an export of an older branch) to compare
before and after. Traffic stays on 127.0.0.1; every request has a 20 s timeout. Exit status 1
when any case got a 5xx, a non-JSON body or a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from overhead import free_port  # the benchmarks' one port picker

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "hostile-admin-key"

CONFIG = """
[audit]
flush_interval_s = 0.02

[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"

[providers.up-anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{mock}"

[models.gpt]
deployments = [{{ provider = "up", model = "gpt-4o-mini" }}]

[models.claude]
deployments = [{{ provider = "up-anthropic", model = "claude-haiku-4-5" }}]

[tenants.cached]
models = ["*"]
cache = {{ mode = "always" }}

[tenants.plain]
models = ["*"]
cache = {{ mode = "off" }}
"""


def nested(depth: int, leaf: str = "1") -> str:
    """JSON text of ``depth`` arrays inside each other (built as text: no encoder recursion)."""
    return "[" * depth + leaf + "]" * depth


def nested_obj(depth: int) -> str:
    """JSON text of ``depth`` objects inside each other."""
    return '{"a":' * depth + "1" + "}" * depth


USER = '[{"role":"user","content":"hi"}]'


def oai(extra: str = "", model: str = "gpt", messages: str = USER) -> bytes:
    tail = f",{extra}" if extra else ""
    return f'{{"model":"{model}","messages":{messages}{tail}}}'.encode()


def ant(extra: str = "", model: str = "claude", messages: str = USER) -> bytes:
    tail = f",{extra}" if extra else ""
    return f'{{"model":"{model}","max_tokens":16,"messages":{messages}{tail}}}'.encode()


TOOL_USE_1000 = (
    '[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use",'
    f'"id":"t1","name":"f","input":{nested_obj(1000)}}}]}},'
    '{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}]'
)
TOOL_USE_300 = TOOL_USE_1000.replace(nested_obj(1000), nested_obj(300))
IMAGE_LIST = (
    '[{"role":"user","content":[{"type":"image","source":{"type":"base64",'
    '"media_type":[],"data":"AAAA"}}]}]'
)
ASSISTANT_TYPE_LIST = (
    '[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":[]}]},'
    '{"role":"user","content":"again"}]'
)
OAI_TOOL_300 = (
    '"tools":[{"type":"function","function":{"name":"f","parameters":'
    f'{{"type":"object","properties":{{"x":{nested_obj(300)}}}}}}}}}]'
)
ANT_TOOL_300 = (
    '"tools":[{"name":"f","input_schema":{"type":"object","properties":{"x":'
    f"{nested_obj(300)}}}}}}}]"
)

ECHO_300 = (  # the mock answers with the tool's const: a 300-deep tool input comes back
    '"tool_choice":{"type":"tool","name":"f"},"tools":[{"name":"f","input_schema":'
    f'{{"type":"object","required":["x"],"properties":{{"x":{{"const":{nested_obj(300)}}}}}}}}}]'
)
ARGS_1000 = (  # an OpenAI tool call whose arguments (a string) hold 1000-deep JSON
    '[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1",'
    '"type":"function","function":{"name":"f","arguments":'
    + json.dumps(nested_obj(1000))
    + '}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]'
)
HUGE = (2**63, 2**64)

# (case, tenant or "admin", path, body); every request is a POST
Case = tuple[str, str, str, bytes]
CASES: list[Case] = [
    ("openai nested 300, cache on", "cached", "oai", oai(f'"x":{nested(300)}')),
    ("openai nested 600, cache on", "cached", "oai", oai(f'"x":{nested(600)}')),
    ("openai nested 1000, cache on", "cached", "oai", oai(f'"x":{nested(1000)}')),
    ("openai nested 300, to HTTP provider", "plain", "oai", oai(f'"x":{nested(300)}')),
    ("openai nested 300, stream, to HTTP", "plain", "oai", oai(f'"stream":true,"x":{nested(300)}')),
    ("openai nested 300, to anthropic HTTP", "plain", "oai", oai(f'"x":{nested(300)}', "claude")),
    ("openai response_format.type []", "plain", "oai", oai('"response_format":{"type":[]}')),
    ("openai tool schema 300, stream", "plain", "oai", oai(f'"stream":true,{OAI_TOOL_300}')),
    (
        "openai arguments 1000 deep, anthropic",
        "plain",
        "oai",
        oai(model="claude", messages=ARGS_1000),
    ),
    ("openai max_tokens 2^63", "plain", "oai", oai(f'"max_tokens":{2**63}')),
    ("openai seed 2^63", "plain", "oai", oai(f'"seed":{2**63}')),
    ("openai seed 2^64", "plain", "oai", oai(f'"seed":{2**64}')),
    ("openai n 2^63", "plain", "oai", oai(f'"n":{2**63}')),
    ("openai lone surrogate \\ud800", "plain", "oai", oai('"user":"\\ud800"')),
    ("openai invalid UTF-8", "plain", "oai", oai('"user":"\xff"').replace(b"\xc3\xbf", b"\xff")),
    ("openai NaN literal", "plain", "oai", oai('"temperature":NaN')),
    ("anthropic nested 300, cache on", "cached", "ant", ant(f'"x":{nested(300)}')),
    ("anthropic image media_type []", "plain", "ant", ant(messages=IMAGE_LIST)),
    ("anthropic assistant block type []", "plain", "ant", ant(messages=ASSISTANT_TYPE_LIST)),
    ("anthropic tool_use.input 1000 deep", "plain", "ant", ant(messages=TOOL_USE_1000)),
    ("anthropic tool_use.input 300 deep", "plain", "ant", ant(messages=TOOL_USE_300)),
    (
        "anthropic tool_use.input 300, openai",
        "plain",
        "ant",
        ant(model="gpt", messages=TOOL_USE_300),
    ),
    ("anthropic tool schema 300, stream", "plain", "ant", ant(f'"stream":true,{ANT_TOOL_300}')),
    ("anthropic answer echoes 300-deep input", "plain", "ant", ant(ECHO_300)),
    ("anthropic max_tokens 2^63", "plain", "ant", ant().replace(b":16,", f":{2**63},".encode())),
    ("cache flag nested 300", "cached", "flag", f'{{"request_id":{nested(300)}}}'.encode()),
    *(
        (f"admin fault {field} 2^{n.bit_length() - 1}", "admin", "faults", body)
        for field in ("after_tokens", "count", "for_s")
        for n in HUGE
        for body in [f'{{"deployment":"*","kind":"cut","{field}":{n}}}'.encode()]
    ),
    ("admin breaker nested 600", "admin", "breaker", f'{{"force":{nested(600)}}}'.encode()),
    ("admin budget rpm 2^64", "admin", "budget", f'{{"rpm":{2**64}}}'.encode()),
]
PATHS = {
    "oai": "/v1/chat/completions",
    "ant": "/v1/messages",
    "flag": "/v1/cache/flag",
    "faults": "/admin/faults",
    "breaker": "/admin/breakers/up/gpt-4o-mini",
    "budget": "/admin/budgets/plain",
}


def start(args: list[str], log: Path, ready: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``args`` running in the checkout ``env["PYTHONPATH"]`` (``-m`` puts the working directory
    first on the import path, so it must be that checkout too)."""
    proc = subprocess.Popen(
        args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=env["PYTHONPATH"]
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{args[2:4]} exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(ready, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"{args[2:4]} not ready:\n{log.read_text(errors='replace')}")


@dataclass
class Row:
    case: str
    status: int
    code: str
    json_body: bool
    traceback: bool
    message: str = ""


def error_code(data: object) -> tuple[str, str]:
    """The error's code (or type) and the start of its message."""
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return "-", ""
    err = data["error"]
    return str(err.get("code") or err.get("type") or "-"), str(err.get("message", ""))[:44]


def run(src: Path, workdir: Path) -> tuple[list[Row], str]:
    env = {**os.environ, "PYTHONPATH": str(src), "LLMGW_ADMIN_KEY": ADMIN_KEY}
    py = [sys.executable, "-m", "llmgw"]
    mock_port, gw_port = free_port(), free_port()
    mock = start(
        [*py, "mock", "serve", "--port", str(mock_port)],
        workdir / "mock.log",
        f"http://127.0.0.1:{mock_port}/healthz",
        env,
    )
    procs = [mock]
    try:
        config = workdir / "llmgw.toml"
        config.write_text(CONFIG.format(mock=mock_port))
        state = workdir / "state.db"
        keys = {}
        for tenant in ("cached", "plain"):
            out = subprocess.run(
                [
                    *py,
                    "keys",
                    "create",
                    "-t",
                    tenant,
                    "-n",
                    "probe",
                    "--json",
                    "--state",
                    str(state),
                ],
                capture_output=True,
                check=True,
                env=env,
                cwd=src,
                timeout=60,
            )
            keys[tenant] = json.loads(out.stdout)["secret"]
        keys["admin"] = ADMIN_KEY
        log = workdir / "gw.log"
        base = f"http://127.0.0.1:{gw_port}"
        gw_args = [*py, "serve", "--config", str(config), "--state", str(state)]
        procs.append(start([*gw_args, "--port", str(gw_port)], log, f"{base}/readyz", env))
        rows = [send(base, keys, case, log) for case in CASES]
        listed = httpx.get(
            f"{base}/admin/faults", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=20
        )
        try:
            faults = str(len(listed.json()["faults"]))
        except (ValueError, KeyError):
            faults = f"unknown: GET /admin/faults answered {listed.status_code}, not JSON"
        return rows, faults
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(20)


def send(base: str, keys: dict[str, str], case: Case, log: Path) -> Row:
    name, who, path, body = case
    before = log.stat().st_size
    headers = {"authorization": f"Bearer {keys[who]}", "content-type": "application/json"}
    if path == "ant":
        headers["anthropic-version"] = "2023-06-01"
    resp = httpx.post(base + PATHS[path], content=body, headers=headers, timeout=20)
    message = ""
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        code, is_json = "(stream)", True
    else:
        try:
            data = resp.json()
            (code, message), is_json = error_code(data), True
        except ValueError:
            code, is_json = "-", False
    time.sleep(0.05)  # let the log line land
    with log.open("rb") as fh:
        fh.seek(before)
        traced = b"Traceback" in fh.read()
    return Row(name, resp.status_code, code, is_json, traced, message)


def table(rows: list[Row], faults: str, out: Callable[[str], None] = print) -> bool:
    width = max(len(r.case) for r in rows)
    out(f"{'case':<{width}}  status  {'error code':<22} json  traceback  message")
    bad = False
    for r in rows:
        flag = r.status >= 500 or not r.json_body or r.traceback
        bad = bad or flag
        out(
            f"{r.case:<{width}}  {r.status:<6}  {r.code:<22} {'yes' if r.json_body else 'NO':<5} "
            f"{'YES' if r.traceback else 'no':<10} {r.message}"
        )
    out(f"faults active after the admin cases: {faults} (0 = the bad ones changed nothing)")
    return not bad and faults == "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT, help="checkout to run llmgw from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmgw-hostile-") as tmp:
        rows, faults = run(args.src.resolve(), Path(tmp))
    sys.exit(0 if table(rows, faults) else 1)


if __name__ == "__main__":
    main()
