"""``llmgw audit export`` in both formats, with filters, to stdout and to a file."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

from llmgw.audit.record import AuditRecord
from llmgw.audit.writer import AuditWriter
from tests.conftest import llmgw_cmd


def make_state(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    w = AuditWriter(path)
    for i in range(5):
        w.submit(
            AuditRecord(
                id=f"req_{i}",
                tenant="acme" if i % 2 else "globex",
                ts=1000.0 + i,
                request_body='{"q": "a,\\"b\\"\\nc"}',
                stream=True,
            )
        )
    assert w.close()
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(llmgw_cmd(*args), capture_output=True, text=True, timeout=60)


def test_jsonl_and_csv(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    out = run("audit", "export", "--state", str(state))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == [f"req_{i}" for i in range(5)]
    assert rows[0]["stream"] is True and rows[0]["attempt_log"] == [] and rows[0]["hash"]
    target = tmp_path / "out.csv"
    out = run(
        "audit",
        "export",
        "--format",
        "csv",
        "--tenant",
        "acme",
        "-o",
        str(target),
        "--state",
        str(state),
    )
    assert out.returncode == 0, out.stderr
    parsed = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["id"] for r in parsed] == ["req_1", "req_3"]
    assert json.loads(parsed[0]["request_body"]) == {"q": 'a,"b"\nc'}
    bad = run("audit", "export", "--format", "xml", "--state", str(state))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
