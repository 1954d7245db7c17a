"""The library API: one call from a service name to a prompt.

>>> r = ctxgrab.incident("payments", config="fixtures/demo/ctxgrab.yaml")   # doctest: +SKIP
>>> print(r.markdown)                                                        # doctest: +SKIP
>>> r.to_dict()["evidence"][0]["status"]                                     # doctest: +SKIP
'ok'

Inside a running event loop (a chatbot, a web handler) use ``await ctxgrab.aincident(...)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from . import aio
from . import signals as _signals
from .collectors import CollectFn, CollectRequest
from .config import Config, load_config
from .engine import collect_all, plan
from .errors import ConfigError, InputError
from .evidence import Evidence
from .redact import redact_evidence
from .render import evidence_context, render_template
from .telemetry import get_tracer
from .timeutil import Window, format_duration, format_time, parse_duration, parse_time

__all__ = [
    "IncidentResult",
    "incident",
    "aincident",
    "render_result",
    "save_evidence",
    "load_evidence",
    "render_saved",
    "resolve_window",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 1


@dataclass
class IncidentResult:
    """Everything one run produced: the evidence, the signals and the rendered prompt."""

    service: str
    at: datetime
    window: Window
    baseline: Window | None
    evidence: list[Evidence]
    signals: list[dict[str, Any]]
    template: str
    markdown: str
    description: str | None = None
    trimmed: list[str] = field(default_factory=list)
    kind: str = "incident"
    budget: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """All evidence as data (already redacted), for chatbots and ``--format json``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "service": self.service,
            "description": self.description,
            "at": self.at.isoformat(),
            "window": self.window.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "template": self.template,
            "budget": self.budget,
            "kind": self.kind,
            "signals": self.signals,
            # Durations stay out: the same evidence is the same bytes (they are in the spans).
            "evidence": [ev.model_dump(mode="json", exclude={"duration_ms"}) for ev in self.evidence],
        }

    def to_json(self) -> str:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a crafted source (YAML "\ud800"): \u-escape it
            text = json.dumps(self.to_dict(), indent=2, ensure_ascii=True) + "\n"
        return text


def resolve_window(
    config: Config,
    since: str | timedelta | None = None,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    at: str | datetime | None = None,
) -> tuple[datetime, Window, Window | None]:
    """``at`` (the clock), the window and the baseline window from options and config defaults."""
    try:
        now = parse_time(at) if at is not None else (config.defaults.at or datetime.now(timezone.utc))
        if since is not None and start is not None:
            # Both say where the window starts; quietly preferring one hid the other from the user.
            raise ValueError("--since and --from both set the window's start — fix: give one of them "
                             "(--since LENGTH ending at --at/--to, or --from TIME [--to TIME])")
        if start is not None or end is not None:
            if start is None:
                raise ValueError("--to needs --from")
            w_end = parse_time(end) if end is not None else now
            window = Window(parse_time(start), w_end)
            if at is None and config.defaults.at is None:
                now = w_end
        else:
            window = Window.ending(now, parse_duration(since or config.defaults.since))
        b = config.defaults.baseline
        baseline = window.before() if b == "previous" else window.shifted(parse_duration(b))
    except (ValueError, OverflowError) as e:
        raise ConfigError(f"bad time option: {e}") from None
    return now, window, baseline


def _render(result_fields: dict[str, Any], evidence: list[Evidence], template: str, user_dir: Path | None,
            trimmed: list[str], detail: str = "full") -> str:
    ctx = dict(result_fields)
    ctx.update(evidence_context(evidence))
    ctx["trimmed"] = trimmed
    ctx["detail"] = detail
    return render_template(template, ctx, user_dir)


def render_result(
    service: str,
    at: datetime,
    window: Window,
    baseline: Window | None,
    evidence: list[Evidence],
    *,
    description: str | None = None,
    template: str | None = None,
    templates_dir: Path | None = None,
    budget: int | None = None,
    max_chars: int | None = None,
) -> IncidentResult:
    """Derive signals, pick the template and render; no source is touched.

    ``max_chars`` fits the prompt in characters instead of tokens (a PagerDuty note),
    with the same trimming that keeps the headline facts.

    Live runs and saved evidence (``ctxgrab render``) both end here, which is
    why a saved file renders the same bytes as the run that wrote it.
    """
    sigs = _signals.derive(evidence, window)
    kind, chosen_by = _signals.choose_kind(sigs)
    name = template or kind
    fields = {
        "service": service,
        "description": description,
        "at": at,
        "at_text": format_time(at),
        "window": window,
        "window_text": f"{format_time(window.start)} → {format_time(window.end)} ({format_duration(window.length)})",
        "baseline": baseline,
        "signals": sigs,
        "limits": _signals.limits(evidence),
        "coverage": _signals.coverage_notes(evidence, window, sigs),
        "kind": kind,
        "kind_title": _signals.KIND_TITLES.get(kind, kind),
        "chosen_by": chosen_by,
        "template": name,
    }
    trimmed: list[str] = []
    if budget or max_chars:
        from .render.budget import DETAILS, fit_to_budget

        markdown, trimmed = fit_to_budget(
            evidence,
            lambda evs, notes, detail="full": _render(fields, evs, name, templates_dir, notes, detail),
            max_chars or budget,  # type: ignore[arg-type]
            details=DETAILS,
            **({"measure": len, "unit": "characters"} if max_chars else {}),
        )
    else:
        markdown = _render(fields, evidence, name, templates_dir, trimmed)
    return IncidentResult(service, at, window, baseline, evidence, sigs, name, markdown, description, trimmed, kind,
                          budget)


def render_saved(
    path: str | Path,
    *,
    template: str | None = None,
    budget: int | None = None,
    templates_dir: Path | None = None,
) -> IncidentResult:
    """Render an evidence file written by ``--save`` (``ctxgrab render``): the saved run's template and
    budget apply unless given here.

    The file is input like any other: one that parses but holds what no ctxgrab writes
    (a hand edit, a damaged copy) is an :class:`~ctxgrab.errors.InputError` with one line, never
    a traceback from deep inside the renderer.
    """
    saved = load_evidence(path)
    saved["template"] = template or saved["template"]
    saved["budget"] = budget if budget is not None else saved["budget"]
    try:
        return render_result(**saved, templates_dir=templates_dir)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as e:
        raise InputError(f"{path}: damaged evidence file: rendering it failed with {type(e).__name__}: "
                         f"{_first_line(e)} — fix: save the run again with `ctxgrab incident --save FILE`") from None


def save_evidence(result: IncidentResult, path: str | Path) -> None:
    """Write the collected, redacted evidence so ``ctxgrab render`` can render it again."""
    Path(path).write_text(result.to_json(), encoding="utf-8")


def load_evidence(path: str | Path) -> dict[str, Any]:
    """Read a file written by ``--save``; the schema version is checked.

    Returns the keyword arguments of :func:`render_result` (service, at, window,
    baseline, evidence, description, and the template and budget of the run that saved it).
    """
    p = Path(path)
    data = _read_evidence_json(p)
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(f"{p}: not a ctxgrab evidence file (no schema_version) — fix: write one with "
                         "`ctxgrab incident ... --save FILE`")
    version = data["schema_version"]
    if not isinstance(version, int) or version < 1:
        raise InputError(f"{p}: schema_version {version!r} is not valid")
    if version > SCHEMA_VERSION:
        raise InputError(f"{p}: written by a newer ctxgrab (evidence schema {version}); this one reads up to "
                         f"{SCHEMA_VERSION} — fix: upgrade ctxgrab")
    try:
        window = Window(parse_time(data["window"]["start"]), parse_time(data["window"]["end"]))
        baseline = (Window(parse_time(data["baseline"]["start"]), parse_time(data["baseline"]["end"]))
                    if data.get("baseline") else None)
        # Redacted again: files saved before a redaction rule existed get it too (idempotent).
        evidence = [redact_evidence(Evidence.model_validate(e)) for e in data["evidence"]]
        return {
            "service": str(data["service"]),
            "at": parse_time(data["at"]),
            "window": window,
            "baseline": baseline,
            "evidence": evidence,
            "description": data.get("description"),
            "template": data.get("template"),
            "budget": _saved_budget(data.get("budget")),
        }
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as e:
        raise InputError(f"{p}: malformed evidence file: {type(e).__name__}: {_first_line(e)}") from None


def _saved_budget(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"budget {value!r} is not a positive number of tokens")
    return value


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else ""


#: An evidence file larger than this (as read, or once a .gz is expanded) is refused; saved runs are
#: kilobytes to a few MiB.
MAX_EVIDENCE_BYTES = 64 * 1024 * 1024


def _read_evidence_json(p: Path) -> Any:
    """The parsed JSON of an evidence file (plain or gzip), bounded in size; every failure is one InputError."""
    import gzip
    import io
    import zlib

    try:
        with p.open("rb") as f:
            raw = f.read(MAX_EVIDENCE_BYTES + 1)
        if raw[:2] == b"\x1f\x8b":  # gzip magic: a saved file compressed for storage
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as g:
                raw = g.read(MAX_EVIDENCE_BYTES + 1)
    except OSError as e:  # also gzip.BadGzipFile
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    except (EOFError, zlib.error) as e:
        raise InputError(f"{p}: damaged gzip data: {e}") from None
    if len(raw) > MAX_EVIDENCE_BYTES:
        raise InputError(f"{p}: larger than {MAX_EVIDENCE_BYTES // 2**20} MiB: not an evidence file written by "
                         "`ctxgrab incident --save`")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not a ctxgrab evidence file: binary data (not UTF-8) at byte offset {e.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: not JSON (line {e.lineno}, column {e.colno}): {e.msg}") from None
    except RecursionError:
        raise InputError(f"{p}: not a ctxgrab evidence file: JSON nested too deeply") from None


async def aincident(
    service: str,
    since: str | timedelta | None = None,
    *,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    at: str | datetime | None = None,
    config: str | Path | Config | None = None,
    template: str | None = None,
    budget: int | None = None,
    tracer_provider: Any = None,
    on_plan: Callable[[int], None] | None = None,
    on_evidence: Callable[[Evidence], None] | None = None,
    collectors: Mapping[str, CollectFn] | None = None,
) -> IncidentResult:
    """Collect the evidence for ``service`` and render the prompt.

    ``since`` is the window length ending at ``at`` (default: the config's
    ``defaults.since`` ending now, or at the config's pinned ``defaults.at``);
    ``start``/``end`` give the window explicitly. ``config`` is a path, a loaded
    :class:`~ctxgrab.config.Config`, or None for discovery. ``on_plan`` gets the
    number of collectors once the run is planned and ``on_evidence`` each Evidence as
    it arrives (progress). ``collectors`` maps collector kinds to functions that
    replace the registered ones for this run.

    Example::

        result = await ctxgrab.aincident("payments", since="2h")
        await chat.send(result.markdown)
    """
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0):
        raise ConfigError(f"budget {budget!r}: the token budget must be a positive number of tokens; "
                          "None means no limit")
    cfg = config if isinstance(config, Config) else load_config(config)
    svc = cfg.service(service)
    now, window, baseline = resolve_window(cfg, since, start, end, at)
    request = CollectRequest(
        service=service,
        window=window,
        baseline=baseline,
        at=now,
        base_dir=cfg.base_dir,
        config=cfg,
        timeout_s=cfg.defaults.timeout_s,
    )
    tracer = get_tracer(tracer_provider)
    with tracer.start_as_current_span("ctxgrab incident") as span:
        span.set_attribute("ctxgrab.service", service)
        planned = plan(cfg, service)
        if on_plan:
            on_plan(len(planned))
        span.set_attribute("ctxgrab.collectors", len(planned))
        evidence = await collect_all(
            request,
            planned,
            deadline_s=cfg.defaults.deadline_s,
            tracer_provider=tracer_provider,
            redaction=getattr(cfg, "redaction", None),
            on_done=on_evidence,
            overrides=collectors,
        )
        user_templates = cfg.base_dir / cfg.defaults.templates_dir if cfg.defaults.templates_dir else None
        return render_result(
            service,
            now,
            window,
            baseline,
            evidence,
            description=svc.description,
            template=template or cfg.defaults.template,
            templates_dir=user_templates,
            budget=budget if budget is not None else cfg.defaults.budget,
        )


def incident(service: str, since: str | timedelta | None = None, **kwargs: Any) -> IncidentResult:
    """Blocking form of :func:`aincident` (not for use inside a running event loop).

    Example::

        import ctxgrab
        prompt = ctxgrab.incident("payments", since="2h").markdown
    """
    try:
        import asyncio

        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("ctxgrab.incident() was called inside a running event loop; use await ctxgrab.aincident()")
    return aio.run(lambda: aincident(service, since, **kwargs))
