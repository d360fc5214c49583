"""Schemathesis against the running local stack: every operation of the served OpenAPI
document, with generated valid and invalid input, all checks (schemathesis.toml says which
refusals are business rules). No answer may be a 5xx, and every answer must match the
document: status, headers, content type and body.

Bounded for `make test` (FUZZ_EXAMPLES per operation, 8 by default, FUZZ_MAX_TIME 90 s);
`make fuzz` runs a longer one. The figures are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_schemathesis(api_url: str, report: Path, examples: int, max_time: int) -> dict:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{api_url}/api/openapi.json",
        "--header",
        "Authorization: Bearer dev:schemathesis",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--max-time",
        str(max_time),
        "--seed",
        os.environ.get("FUZZ_SEED", "20261128"),
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    print(result.stdout[-4000:])
    assert report.exists(), result.stdout[-4000:] + result.stderr[-2000:]
    data = json.loads(report.read_text())
    assert result.returncode == 0, result.stdout[-8000:]
    return data


def test_every_answer_matches_the_document_and_none_is_a_5xx(stack, tmp_path):
    examples = int(os.environ.get("FUZZ_EXAMPLES", "8"))
    data = run_schemathesis(
        stack.api_url,
        tmp_path / "schemathesis.json",
        examples,
        int(os.environ.get("FUZZ_MAX_TIME", "90")),
    )
    cases = data["test_cases"]
    print(
        f"schemathesis: {data['operations']['tested']} operations, {cases['generated']} test "
        f"cases, {cases['with_failures']} with failures, {data['running_time']:.0f} s"
    )
    assert data["operations"]["tested"] == data["operations"]["total"] >= 10
    assert data["failures"] == [] and data["errors"] == []
