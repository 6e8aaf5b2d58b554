"""Save SVG screenshots of ``llmgw tui`` for the README, from a running gateway.

    LLMGW_ADMIN_KEY=... python examples/tui_screenshots.py http://127.0.0.1:8080 [docs]

Writes ``tui-main.svg``, ``tui-tenant.svg`` and ``tui-help.svg`` into the output folder
(default ``docs``). The gateway needs the admin key set and, for a lively picture, some traffic.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from llmgw.tui.app import GatewayTUI
from llmgw.tui.source import AdminSource, SourceError, check_gateway

SIZE = (160, 48)


async def shoot(url: str, key: str, out: Path) -> None:
    app = GatewayTUI(AdminSource(url, key))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(60):  # up to 3 s for the first data to arrive
            if app.tenants.row_count or app.deployments.row_count:
                break
            await pilot.pause(0.05)
        await pilot.pause(1.0)  # a couple of refreshes and some live calls
        app.save_screenshot("tui-main.svg", str(out))
        if app.tenants.row_count:
            await pilot.press("enter")
            await pilot.pause(0.5)
            app.save_screenshot("tui-tenant.svg", str(out))
            await pilot.press("escape")
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        app.save_screenshot("tui-help.svg", str(out))


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    url = sys.argv[1]
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs")
    key = os.environ.get("LLMGW_ADMIN_KEY", "")
    if not key:
        print("error: set LLMGW_ADMIN_KEY to the gateway's admin key", file=sys.stderr)
        return 2
    try:
        check_gateway(url, key)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(url, key, out))
    print(f"screenshots written to {out}/tui-*.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
