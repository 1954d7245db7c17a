"""units.py is the one place that writes numbers: memory in IEC units, settings sizes read the JVM's way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ctxgrab.units import format_bytes, format_rate, format_value, parse_size


@pytest.mark.parametrize(("n", "text"), [
    (6_000_000_000, "5.6 GiB"),  # 6e9 bytes is 5.59 GiB: dividing by 1024³ means saying GiB
    (8 * 1024**3, "8.0 GiB"),
    (512 * 1024**2, "512 MiB"),
    (1536, "1.5 KiB"),
    (100, "100 B"),
    (-3 * 1024**2, "-3.0 MiB"),
])
def test_bytes_are_iec(n: int, text: str) -> None:
    assert format_bytes(n) == text
    assert format_value(n, "bytes") == text


@pytest.mark.parametrize(("text", "n"), [
    ("8g", 8 * 1024**3), ("8G", 8 * 1024**3), ("512m", 512 * 1024**2), ("64k", 65536),
    ("10MB", 10 * 1024**2), ("8Gi", 8 * 1024**3), ("1024", 1024), (" 2g ", 2 * 1024**3),
])
def test_parse_size_reads_jvm_spring_and_kubernetes_sizes(text: str, n: int) -> None:
    assert parse_size(text) == n


def test_parse_size_rejects_what_is_not_a_size() -> None:
    assert [parse_size(x) for x in ("none", "true", "", "8 apples", None)] == [None] * 5
    assert parse_size("500M", si=True) == 500_000_000 and parse_size("500Mi", si=True) == 500 * 1024**2


def test_unknown_rate_is_not_zero() -> None:
    assert format_rate(None) == "n/a" and format_rate(1234.4) == "1,234/s"


def test_settings_sizes_are_written_by_units(tmp_path: Path) -> None:
    from ctxgrab.collectors.settings import collect
    from ctxgrab.render import environment
    from ctxgrab.testing import make_request

    (tmp_path / "jvm.options").write_text("-Xmx8g -Xms2048m -XX:MaxDirectMemorySize=512m -XX:+UseG1GC\n")
    (tmp_path / "app.properties").write_text("spring.servlet.multipart.max-file-size=10MB\npool.size=30\n")
    req = make_request({"services": {"s": {}}}, "s", base_dir=tmp_path)
    ev = asyncio.run(collect(req, {"files": [{"path": "jvm.options"}, {"path": "app.properties"}]}))
    out = environment().get_template("sections/settings.md.j2").render(ev=ev)
    assert "`-Xmx` = `8g` (8.0 GiB)" in out
    assert "`-Xms` = `2048m` (2.0 GiB)" in out
    assert "`-XX:MaxDirectMemorySize` = `512m` (512 MiB)" in out
    assert "`spring.servlet.multipart.max-file-size` = `10MB` (10.0 MiB)" in out
    assert "`pool.size` = `30`\n" in out and "`-XX:UseG1GC` = `true`\n" in out
