"""ctxgrab mcp: an MCP client (official SDK) talks to ``ctxgrab mcp`` over stdio and gets the demo prompt."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "fixtures" / "demo" / "ctxgrab.yaml"

mcp = pytest.importorskip("mcp", reason="the mcp SDK is a runtime dependency of ctxgrab mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402


def _params(*args: str) -> StdioServerParameters:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    # the real CLI entry point, as an assistant would start `ctxgrab mcp`
    return StdioServerParameters(
        command=sys.executable, args=["-c", "from ctxgrab.cli import main; main()", "mcp", *args], env=env, cwd=str(REPO)
    )


def _get(obj, *names):
    """Field of an SDK model across SDK versions (camelCase in mcp 1.x, snake_case in 2.x)."""
    for n in names:
        if hasattr(obj, n):
            return getattr(obj, n)
    raise AttributeError(names)


def _is_error(result) -> bool:
    return bool(_get(result, "is_error", "isError"))


def _text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.fixture
def demo_config() -> Path:
    if not DEMO.is_file():
        pytest.fail(f"demo config missing: {DEMO}")
    return DEMO


def test_incident_context_tool_over_stdio_returns_the_demo_prompt(demo_config: Path):
    import ctxgrab

    expected = ctxgrab.incident("payments", config=str(demo_config))

    async def main():
        with open(os.devnull, "w") as errlog:
            async with stdio_client(_params("--config", str(demo_config)), errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = await session.list_tools()
                    services = await session.call_tool("list_services", {})
                    md = await session.call_tool("incident_context", {"service": "payments"})
                    js = await session.call_tool("incident_context", {"service": "payments", "format": "json"})
                    bad = await session.call_tool("incident_context", {"service": "no-such-service"})
                    return tools, services, md, js, bad

    tools, services, md, js, bad = anyio.run(main)
    by_name = {t.name: t for t in tools.tools}
    assert set(by_name) == {"incident_context", "list_services"}
    assert set(_get(by_name["incident_context"], "input_schema", "inputSchema")["properties"]) == {"service", "since", "at", "format"}
    assert not _is_error(md) and _text(md) == expected.markdown
    assert json.loads(_text(js))["service"] == "payments"
    assert "payments" in _text(services)
    assert _is_error(bad) and "no-such-service" in _text(bad)


def test_mcp_exits_2_with_a_clear_message_on_a_missing_config(tmp_path: Path):
    import subprocess

    p = _params("--config", str(tmp_path / "missing.yaml"))
    proc = subprocess.run([p.command, *p.args], env=p.env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "missing.yaml" in proc.stderr and proc.stdout == ""
