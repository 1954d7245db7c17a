"""Rendering: Jinja templates over the evidence, deterministic to the byte.

Templates resolve from ``defaults.templates_dir`` (the user's) first, then the
bundled ``templates/``. Rendering uses ``StrictUndefined``: a template that names
a variable the context lacks is an error, not an empty string. The clock comes in
as a variable, so the same evidence and ``at`` render the same bytes.

Production text is escaped here, once, for every template (bundled, user and
plugin ones alike): the environment's ``finalize`` is :func:`.fence.finalize`, so
every ``{{ … }}`` value becomes one line of inert text unless it is
:class:`.fence.Safe` (made by ``fence`` / ``inline``, or the template's own
rendered text, which ``concat`` marks). :class:`_SeamExtension` tells ``finalize``
where a value sits when the template wrote backticks around it or put it in a
table row. See docs/templates.md, "Production text".
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from functools import lru_cache

import jinja2
import jinja2.ext
import jinja2.filters
import jinja2.lexer

from ..errors import RenderError
from ..evidence import Evidence
from ..resources import bundled_dir, plugin_dirs
from ..timeutil import format_duration, format_time, parse_time
from ..units import format_bytes, format_ms, format_num, format_pct, format_seconds, format_value
from .fence import DATA_NOTICE, Safe, code_body, escape, fence, finalize, inline

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


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    """Jinja's ``indent``, keeping :class:`Safe` text safe (``{{ q | fence | indent(4) }}``)."""
    out = _JINJA_INDENT(str(s), width, first, blank)
    return Safe(out) if isinstance(s, Safe) else out


_JINJA_INDENT = jinja2.filters.do_indent  # type: ignore[attr-defined]


def _seam(value: Any, where: str) -> Any:
    """Inserted by :class:`_SeamExtension` around a value the template placed in a context:
    ``code`` (between the template's own backticks), ``cell`` (a table row), ``start``
    (the start of a line or list item), or ``code cell``."""
    if "code" in where:
        return code_body(value, "cell" in where)
    if isinstance(value, Safe):
        return value
    return Safe(escape(value, table="cell" in where, start="start" in where))


# Template text before a value that leaves the value at the start of a line or of a
# list item / quote / heading (the list number may itself be a value: `{{ loop.index }}. `).
_BLOCK_START = re.compile(r"[ \t]*(?:(?:[-+*>]|\d*[.)]|#{1,6})[ \t]+)*")


class _SeamExtension(jinja2.ext.Extension):
    """Tells the seam where a value sits, from the template text around it.

    `` `{{ x }}` `` becomes ``{{ (x) | _seam("code") }}``: inside the template's own code
    span, where the block-marker escape is not needed and its backslash would show. A
    value in a table row (``| … |``) gets ``cell`` (``|`` escaped); a value at the start
    of a line or list item gets ``start`` (leading blanks dropped). Everything else is
    left to ``finalize``, which escapes every value the same way anyway.
    """

    def filter_stream(self, stream: jinja2.lexer.TokenStream) -> Any:
        tokens = list(stream)
        line = ""  # template text since the last newline
        i = 0
        T = jinja2.lexer.Token
        while i < len(tokens):
            tok = tokens[i]
            if tok.type == "data":
                line = (line + tok.value).rsplit("\n", 1)[-1]
            if (tok.type == "block_begin" and i + 1 < len(tokens) and tokens[i + 1].type == "name"
                    and tokens[i + 1].value == "filter"):
                # A filter block's result is written without finalize: it could undo the escaping
                # (replace("\\n", "\n")). Rejected rather than trusted.
                raise jinja2.TemplateSyntaxError(
                    "{% filter %} blocks are not supported: their output would bypass the escaping of "
                    "production text; apply the filter to the value instead ({{ x | upper }})",
                    tok.lineno, stream.name, stream.filename)
            if tok.type != "variable_begin":
                yield tok
                i += 1
                continue
            j = i
            while j < len(tokens) and tokens[j].type != "variable_end":
                j += 1
            if j == len(tokens):  # unclosed tag: the parser reports it
                yield from tokens[i:]
                return
            before = tokens[i - 1].value if i and tokens[i - 1].type == "data" else ""
            after = tokens[j + 1].value if j + 1 < len(tokens) and tokens[j + 1].type == "data" else ""
            where = []
            if before.endswith("`") and after.startswith("`"):
                where.append("code")
            elif _BLOCK_START.fullmatch(line):
                where.append("start")
            if line.lstrip().startswith("|"):
                where.append("cell")
            if not where:
                yield from tokens[i:j + 1]
            else:
                ln = tok.lineno
                yield tok
                yield T(ln, "lparen", "(")
                yield from tokens[i + 1:j]
                yield from (T(ln, "rparen", ")"), T(ln, "pipe", "|"), T(ln, "name", "_seam"), T(ln, "lparen", "("),
                            T(ln, "string", " ".join(where)), T(ln, "rparen", ")"), tokens[j])
            i = j + 1


class _Environment(jinja2.Environment):
    """The template's own rendered text (the whole render, blocks and ``super()``,
    macros, ``{% set %}`` blocks) is joined by ``concat``: it is made of template text
    and finalized values, so it is marked :class:`Safe` and not escaped again."""

    @staticmethod
    def concat(parts: Any) -> Safe:  # type: ignore[override]
        return Safe("".join(parts))


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
    env = _Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.PrefixLoader({"bundled": jinja2.FileSystemLoader(str(bundled_dir("templates")))}),
            jinja2.FileSystemLoader([str(d) for d in template_dirs(user_dir)]),
        ]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=finalize,
        extensions=[_SeamExtension],
    )
    env.filters.update(FILTERS)
    env.filters["indent"] = _indent
    env.filters["_seam"] = _seam
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
        return str(template.render(**context))
    except jinja2.UndefinedError as e:
        raise RenderError(f"template {name!r}: {e.message} — fix: the template names a variable that does not exist "
                          "(see docs/templates.md)") from None
    except jinja2.TemplateError as e:
        raise RenderError(f"template {name!r}: {escape(e)}") from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as e:
        # A value of the wrong type (a saved evidence file edited by hand, a collector's bug):
        # one line naming the template line, never a traceback. The message quotes the value: escaped.
        where = _template_line(e.__traceback__)
        raise RenderError(f"template {name!r}{where}: cannot render a value: {type(e).__name__}: "
                          f"{escape(str(e), lead=False)[:300]}") from None


def _template_line(tb: Any) -> str:
    """`` (sections/logs.md.j2 line 4)`` for the innermost template frame of a traceback."""
    found = ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = f" ({Path(filename).parent.name}/{Path(filename).name} line {tb.tb_lineno})"
        tb = tb.tb_next
    return found


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
