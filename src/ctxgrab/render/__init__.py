"""Rendering: Jinja templates over the evidence, deterministic to the byte.

Templates resolve from ``defaults.templates_dir`` (the user's) first, then the
bundled ``templates/``. Rendering uses ``StrictUndefined``: a template that names
a variable the context lacks is an error, not an empty string. The clock comes in
as a variable, so the same evidence and ``at`` render the same bytes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from functools import lru_cache

import jinja2

from ..errors import RenderError
from ..evidence import Evidence
from ..resources import bundled_dir, plugin_dirs
from ..timeutil import format_duration, format_time, parse_time
from ..units import format_bytes, format_ms, format_num, format_pct, format_seconds, format_value
from .fence import DATA_NOTICE, fence, inline

__all__ = ["environment", "render_template", "template_names", "FILTERS"]


def _hhmm(value: Any) -> str:
    if value is None:
        return "n/a"
    dt = parse_time(value) if not isinstance(value, datetime) else value
    return dt.astimezone(timezone.utc).strftime("%H:%M")


def _when(value: Any) -> str:
    if value is None:
        return "n/a"
    return format_time(parse_time(value) if not isinstance(value, datetime) else value)


def _ts(value: float) -> str:
    return format_time(datetime.fromtimestamp(float(value), tz=timezone.utc))


def _ts_hhmm(value: float) -> str:
    return datetime.fromtimestamp(float(value), tz=timezone.utc).strftime("%H:%M")


FILTERS = {
    "bytes": format_bytes,
    "ms": format_ms,
    "seconds": format_seconds,
    "pct": format_pct,
    "num": format_num,
    "value": format_value,
    "dur": format_duration,
    "hhmm": _hhmm,
    "when": _when,
    "ts": _ts,
    "ts_hhmm": _ts_hhmm,
    "fence": fence,
    "inline": inline,
}


def template_dirs(user_dir: Path | None) -> list[Path]:
    """The user's folder, then packages registered under ``ctxgrab.packs``, then the bundled templates."""
    dirs = [user_dir] if user_dir else []
    dirs.extend(plugin_dirs("templates"))
    dirs.append(bundled_dir("templates"))
    return dirs


@lru_cache(maxsize=16)
def environment(user_dir: Path | None = None) -> jinja2.Environment:
    """A strict Jinja environment. ``bundled/NAME`` always names a bundled template,
    so a user template of the same name can extend it: ``{% extends "bundled/incident.md.j2" %}``."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.PrefixLoader({"bundled": jinja2.FileSystemLoader(str(bundled_dir("templates")))}),
            jinja2.FileSystemLoader([str(d) for d in template_dirs(user_dir)]),
        ]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    env.globals["data_notice"] = DATA_NOTICE
    return env


def template_names(user_dir: Path | None = None) -> list[str]:
    """Names accepted by ``--template`` (file names without ``.md.j2``)."""
    names = set()
    for d in template_dirs(user_dir):
        names.update(p.name[: -len(".md.j2")] for p in d.glob("*.md.j2") if not p.name.startswith("_"))
    return sorted(names)


def render_template(name: str, context: dict[str, Any], user_dir: Path | None = None) -> str:
    env = environment(user_dir)
    try:
        template = env.get_template(f"{name}.md.j2")
    except jinja2.TemplateNotFound:
        raise RenderError(
            f"unknown template {name!r} — fix: use one of: {', '.join(template_names(user_dir))}"
        ) from None
    try:
        return template.render(**context)
    except jinja2.UndefinedError as e:
        raise RenderError(f"template {name!r}: {e.message} — fix: the template names a variable that does not exist "
                          "(see docs/templates.md)") from None
    except jinja2.TemplateError as e:
        raise RenderError(f"template {name!r}: {e}") from None


def evidence_context(evidence: list[Evidence]) -> dict[str, Any]:
    """Evidence grouped for templates: by kind, the gaps, metrics by id."""
    by_kind: dict[str, list[Evidence]] = {}
    for ev in evidence:
        by_kind.setdefault(ev.kind, []).append(ev)
    metrics = {ev.data.get("id", ev.name): ev for ev in by_kind.get("metrics", [])}
    return {
        "evidence": evidence,
        "by_kind": by_kind,
        "metrics": metrics,
        "gaps": [ev for ev in evidence if ev.is_gap],
    }
