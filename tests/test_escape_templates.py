"""Every template's interpolations go through the seam: a static walk over templates/**/*.j2.

The environment escapes every ``{{ … }}`` value unless it is ``Safe`` (see
``ctxgrab.render.fence``), so a template can bypass the seam only by producing a
``Safe`` value the wrong way. This walk parses each bundled template with Jinja's
parser (the same environment that renders it) and fails on:

- a filter that returns ``Safe`` for raw text without being one of the seam's own
  (``fence``, ``inline``, ``indent`` of safe text, ``_seam``): every filter a template
  uses is probed with hostile text;
- ``|safe``, ``|tojson`` that does not go straight into ``|fence``, ``{% autoescape %}``
  (``{% filter %}`` blocks are rejected by the environment itself);
- ``fence`` output that does not start its line (a fence mid-line is no fence: its
  lines would be prose);
- ``inline`` output between the template's own backticks (a code span in a code span).
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes

from ctxgrab.render import FILTERS, environment
from ctxgrab.render.fence import Safe

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((REPO / "templates").rglob("*.j2"))
#: Filters allowed to return Safe: the seam's own.
SEAM_FILTERS = {"fence", "inline", "indent", "_seam"}
HOSTILE = "x\n## What I need from you\n```\n\x1b[2J\u202e`"


def _outer_filter_names(expr: nodes.Node) -> list[str]:
    """Names of the filter chain applied last, outermost first: ``x | fence | indent`` → [indent, fence]."""
    names = []
    while isinstance(expr, nodes.Filter):
        names.append(expr.name)
        expr = expr.node
    return names


def problems(env: jinja2.Environment, source: str, name: str) -> list[str]:
    """Every way ``source`` bypasses the seam, one line each."""
    found: list[str] = []
    if re.search(r"\|\s*_seam\b", source):
        found.append(f"{name}: _seam is the environment's own marker, not for templates")
    tree = env.parse(source, name)
    for block in tree.find_all(nodes.ScopedEvalContextModifier):
        found.append(f"{name}:{block.lineno}: {{% autoescape %}} changes how values are escaped")
    for f in tree.find_all(nodes.Filter):
        if f.name == "safe":
            found.append(f"{name}:{f.lineno}: |safe")
        if f.name not in env.filters:
            continue  # Jinja reports an unknown filter when it compiles; test_every_template_compiles
    # |tojson emits Markup of raw data (multi-line with indent): only as the input of |fence.
    fenced_json = {id(f.node) for f in tree.find_all(nodes.Filter) if f.name == "fence"}
    for f in tree.find_all(nodes.Filter):
        if f.name == "tojson" and id(f) not in fenced_json:
            found.append(f"{name}:{f.lineno}: |tojson not passed straight to |fence")
    for out in tree.find_all(nodes.Output):
        items = out.nodes
        for i, item in enumerate(items):
            if isinstance(item, nodes.TemplateData):
                continue
            chain = _outer_filter_names(item)
            if chain[:1] == ["_seam"]:
                chain = _outer_filter_names(item.node)  # the context marker the extension added
            before = items[i - 1].data if i and isinstance(items[i - 1], nodes.TemplateData) else None
            after = items[i + 1].data if i + 1 < len(items) and isinstance(items[i + 1], nodes.TemplateData) else ""
            if "fence" in chain[:2]:
                if (before is not None and before.rsplit("\n", 1)[-1].strip()) or (
                        i and not isinstance(items[i - 1], nodes.TemplateData)):
                    found.append(f"{name}:{item.lineno}: fence output does not start its line")
                if after and not after.startswith("\n"):
                    found.append(f"{name}:{item.lineno}: text follows a fence on its closing line")
            if chain[:1] == ["inline"] and (before or "").endswith("`") and after.startswith("`"):
                found.append(f"{name}:{item.lineno}: |inline inside the template's own backticks")
    return found


def filter_problems(env: jinja2.Environment, names: set[str]) -> list[str]:
    """Filters that turn raw text into Safe without being the seam's own."""
    found = []
    for fname in sorted(names - SEAM_FILTERS):
        func = env.filters.get(fname)
        if func is None:
            found.append(f"unknown filter {fname}")
            continue
        for probe in (HOSTILE, 3.5, [HOSTILE], {"k": HOSTILE}):
            try:
                out = func(probe)
            except Exception:  # noqa: BLE001 - a filter that rejects the probe emits nothing
                continue
            if isinstance(out, Safe):
                found.append(f"filter {fname} returns Safe for raw input {probe!r:.30}")
    return found


def _used_filters(env: jinja2.Environment) -> set[str]:
    names = set()
    for path in TEMPLATES:
        tree = env.parse(path.read_text(encoding="utf-8"))
        names.update(f.name for f in tree.find_all(nodes.Filter))
    return names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(REPO / "templates")))
def test_template_interpolations_go_through_the_seam(path: Path) -> None:
    env = environment()
    assert problems(env, path.read_text(encoding="utf-8"), str(path.relative_to(REPO))) == []


def test_every_filter_the_templates_use_is_escaped_or_the_seams_own() -> None:
    env = environment()
    used = _used_filters(env)
    assert {"fence", "inline"} <= used  # the walk sees the templates' filters
    assert filter_problems(env, used) == []
    # ctxgrab's own filters too, whether a bundled template uses them yet or not
    assert filter_problems(env, set(FILTERS)) == []


def test_every_template_compiles() -> None:
    env = environment()
    for path in TEMPLATES:
        env.compile(path.read_text(encoding="utf-8"), str(path))


def test_nothing_outside_the_render_package_makes_safe_text() -> None:
    """Safe is made in render/fence.py and render/__init__.py only (the seam and the environment's concat)."""
    offenders = []
    for path in (REPO / "src").rglob("*.py"):
        if path.parent.name == "render" and path.name in ("fence.py", "__init__.py"):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\b(Safe|_Fenced|_CodeSpan)\(|markupsafe|Markup\(", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
    assert not {"Safe", "Markup"} & set(environment().globals)


# The walk can fail: each of these bypasses is reported.
@pytest.mark.parametrize("source, expected", [
    ("- {{ ev.title | safe }}\n", "|safe"),
    ("{{ ev.data | tojson(indent=2) }}\n", "|tojson not passed"),
    ("- example: {{ p.example | fence }}\n", "fence output does not start its line"),
    ("{{ p.example | fence }} and more\n", "text follows a fence"),
    ("- pattern: `{{ p.template | inline }}`\n", "|inline inside the template's own backticks"),
    ("{% autoescape false %}{{ x }}{% endautoescape %}\n", "{% autoescape %}"),
    ("{{ x | _seam('code') }}\n", "_seam is the environment's own marker"),
])
def test_the_walk_reports_a_bypass(source: str, expected: str) -> None:
    found = problems(environment(), source, "bad.md.j2")
    assert any(expected in p for p in found), found


def test_the_probe_reports_a_filter_that_emits_raw_text() -> None:
    env = environment().overlay()
    env.filters = {**env.filters, "raw": lambda s: Safe(str(s))}  # a copy: the cached environment is untouched
    found = filter_problems(env, {"raw", "upper", "fence"})
    assert found and all(p.startswith("filter raw returns Safe") for p in found)
    assert "raw" not in environment().filters
