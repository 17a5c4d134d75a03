"""The README's Python example, run verbatim (but for the address) against a real server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from service.server import EmailStoreServer

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_python() -> str:
    """The code between the README's python-example markers."""
    text = README.read_text()
    block = text.split("<!-- python-example:start -->")[1].split("<!-- python-example:end -->")[0]
    return block.split("```python", 1)[1].rsplit("```", 1)[0]


async def test_readme_python_example_runs_as_documented(server: EmailStoreServer) -> None:
    """The example stores a message, sees its retry deduplicated, reads it back, and gets
    NOT_FOUND for an unknown key: what the README says it prints."""
    code = readme_python().replace("localhost:50051", f"127.0.0.1:{server.port}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    key, message_id, deduplicated = lines[0].split()
    assert key.startswith("email_")
    assert message_id == f"<{key}@emailstore.invalid>"
    assert deduplicated == "True"
    assert lines[1] == "Quick question, Jane QUEUED"
    assert lines[2] == "NOT_FOUND message 'nope' not found"
