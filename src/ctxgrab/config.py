"""The configuration file, ``ctxgrab.yaml``, as pydantic models.

Three top-level sections: ``sources`` (where data lives), ``services`` (what to
collect for each service) and ``defaults`` (window, timeouts, template). Unknown
keys, wrong types, unset ``${ENV_VAR}`` references and unknown services are
:class:`~ctxgrab.errors.ConfigError`\\ s whose one-line message names the file,
the key and the fix. ``docs/configuration.md`` documents every field; a test keeps
the two in step.

>>> cfg = load_config("fixtures/demo/ctxgrab.yaml")      # doctest: +SKIP
>>> cfg.services["payments"].packs                         # doctest: +SKIP
['jvm', 'http']

Discovery order (:func:`find_config`): ``--config``, ``$CTXGRAB_CONFIG``,
``./ctxgrab.yaml``, ``~/.config/ctxgrab/config.yaml``.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .configfile import check_url, expand_env, read_yaml
from .errors import ConfigError, UnknownServiceError
from .redact import RedactionConfig
from .server.config import ServerConfig
from .timeutil import parse_duration, parse_time

__all__ = [
    "Config",
    "KubernetesEntry",
    "DatabaseEntry",
    "Defaults",
    "SourceConfig",
    "ServiceConfig",
    "LogEntry",
    "MetricEntry",
    "DeploysEntry",
    "SettingsEntry",
    "TraceEntry",
    "RepoEntry",
    "StagingEntry",
    "find_config",
    "load_config",
    "config_from_dict",
    "SOURCE_TYPES",
]

SourceType = Literal[
    "prometheus", "victoriametrics", "prometheus_files", "alertmanager", "loki", "kubernetes", "postgres",
    "jaeger", "tempo",
]
SOURCE_TYPES: tuple[str, ...] = get_args(SourceType)


_METRIC_TYPES = ("prometheus", "victoriametrics", "prometheus_files")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_duration(v: Any) -> Any:
    if v is None:
        return v
    try:
        parse_duration(v)
    except ValueError as e:
        raise ValueError(str(e)) from None
    return str(v)


class Defaults(_Model):
    """Run-wide defaults; every one can be overridden on the command line."""

    since: str = Field("2h", description="window length ending at `at`, e.g. 30m, 2h, 1d")
    timeout_s: float = Field(20.0, gt=0, description="per-collector timeout in seconds")
    deadline_s: float = Field(60.0, gt=0, description="global deadline for the whole collection, seconds")
    at: datetime | None = Field(None, description="pinned 'now' (ISO 8601); unset means the real clock")
    baseline: str = Field(
        "previous",
        description="baseline window: `previous` (the window just before), `1d` or `1w` earlier, or any duration",
    )
    template: str | None = Field(None, description="template name to use instead of the default `incident`")
    templates_dir: str | None = Field(None, description="directory searched for templates before the bundled ones")
    packs_dir: str | None = Field(None, description="directory searched for packs before the bundled ones")
    budget: int | None = Field(None, gt=0, description="token budget for the prompt; unset means no limit")
    parse_memory_mib: int = Field(
        2048, gt=0, description="memory cap (MiB) for each file parser (GC logs, heap dumps, settings files, saved replies over 8 MiB), enforced")

    _since = field_validator("since")(classmethod(lambda cls, v: _check_duration(v)))

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, v: str) -> str:
        if v != "previous":
            _check_duration(v)
        return v

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, v: Any) -> Any:
        if v is None or isinstance(v, datetime):
            return parse_time(v) if v is not None else None
        try:
            return parse_time(v)
        except ValueError as e:
            raise ValueError(str(e)) from None


class SourceConfig(_Model):
    """A data source. Which fields apply depends on ``type``; secrets only as ``${ENV_VAR}``."""

    type: SourceType
    url: str | None = Field(None, description="base URL, may carry a path prefix (e.g. /prometheus)")
    path: str | None = Field(None, description="directory of saved API responses (prometheus_files)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers")
    org_id: str | None = Field(None, description="tenant, sent as X-Scope-OrgID")
    bearer_token: str | None = Field(None, description="sent as Authorization: Bearer …")
    username: str | None = Field(None, description="basic auth user")
    password: str | None = Field(None, description="basic auth password")
    verify_tls: bool = Field(True, description="verify the server's TLS certificate")
    ca_file: str | None = Field(None, description="CA bundle for TLS verification")
    timeout_s: float | None = Field(None, gt=0, description="per-request timeout; defaults to defaults.timeout_s")
    kubeconfig: str | None = Field(None, description="kubeconfig path (kubernetes); unset means in-cluster")
    token_file: str | None = Field(None, description="file holding a bearer token, re-read on each request (kubernetes)")
    context: str | None = Field(None, description="kubeconfig context (kubernetes)")
    namespace: str | None = Field(None, description="default namespace (kubernetes)")
    dsn: str | None = Field(None, description="connection string (postgres)")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return check_url(v) if v is not None else v


class LogEntry(_Model):
    """One log input: a file glob, or a query against a log source."""

    path: str | None = Field(None, description="file glob; rotated and .gz files included")
    source: str | None = Field(None, description="name of a `loki` source to query instead of files")
    query: str | None = Field(None, description="LogQL query (with `source`)")
    format: Literal["auto", "text", "json"] = Field("auto", description="line format")
    title: str | None = Field(None, description="label in the prompt")
    timezone: str = Field("UTC", description="IANA zone of times written without one (e.g. Europe/Berlin)")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from .analysis.logformat import zone

        zone(v)  # ValueError names the zone
        return v


class TraceEntry(_Model):
    """One trace input: OTLP JSON files, or a Jaeger or Tempo source."""

    path: str | None = Field(None, description="glob of OTLP JSON lines files (.gz and rotated sets included)")
    source: str | None = Field(None, description="name of a `jaeger` or `tempo` source to query instead of files")
    service: str | None = Field(None, description="service name in the traces (default: the config's service name)")
    operation: str | None = Field(None, description="only traces of this entry operation (jaeger `operation`)")
    query: str | None = Field(None, description="TraceQL selecting the traces (tempo); default: the service's")
    min_duration: str | None = Field(None, description="jaeger: only traces at least this long (500ms, 2s); "
                                                       "the figures then describe those traces only")
    limit: int = Field(240, gt=0, le=5000, description="traces fetched per window from a source, spread over "
                                                       "12 equal slices of it")
    max_spans: int = Field(3_000_000, gt=0, description="spans read from files at most; more is a partial result")
    title: str | None = Field(None, description="label in the prompt")

    _min_duration = field_validator("min_duration")(classmethod(lambda cls, v: _check_duration(v)))


class MetricEntry(_Model):
    """An extra metric query beside the packs."""

    id: str = Field(description="identifier; with a prometheus_files source, the saved file is <path>/<id>.json")
    query: str = Field("", description="PromQL; `$selector` is replaced with the service's label matchers")
    title: str | None = Field(None, description="label in the prompt")
    unit: str | None = Field(None, description="bytes, seconds, ratio, rps, … (how values are formatted)")
    source: str | None = Field(None, description="source name; defaults to the service's metrics_source")
    limit_of: str | None = Field(None, description="id of the metric this one bounds (pool max bounds pool active)")


class DeploysEntry(_Model):
    """Deployment history from a file of deploy events."""

    path: str = Field(description="YAML or JSON file of deploy events")
    rollback: str | None = Field(None, description="the exact rollback command to show")


class SettingsEntry(_Model):
    """Settings that bound resources, read from a file."""

    path: str = Field(description=".properties, .yaml/.yml, .json, .env, or a file of JVM flags")
    keys: list[str] = Field(default_factory=list, description="keys to show; empty means all (capped)")
    format: Literal["auto", "properties", "yaml", "json", "env", "jvm"] = Field("auto", description="file format")


class KubernetesEntry(_Model):
    """The service's workload in Kubernetes: rollout history and the rollback plan."""

    source: str = Field(description="name of a `kubernetes` source")
    deployment: str | None = Field(None, description="Deployment name")
    rollout: str | None = Field(None, description="Argo Rollout name, instead of `deployment`")
    namespace: str | None = Field(None, description="namespace; default: the source's, the context's or in-cluster")
    min_healthy: str = Field("30m", description="how long a revision must have run to count as last known good")
    max_restarts: int = Field(3, ge=0, description="restarts at or above this make a revision not good")

    _min_healthy = field_validator("min_healthy")(classmethod(lambda cls, v: _check_duration(v)))


class DatabaseEntry(_Model):
    """The service's PostgreSQL database, read-only."""

    source: str = Field(description="name of a `postgres` source")
    tables: list[str] = Field(default_factory=list, description="tables whose size and load to report")
    sample_s: float = Field(1.0, gt=0, le=30, description="interval over which rates (TPS, rows written/s) are measured")
    long_query_s: float = Field(30.0, gt=0, description="queries running longer than this are listed")
    long_xact_s: float = Field(60.0, gt=0, description="transactions open longer than this are listed")
    statement_timeout_ms: int = Field(5000, gt=0, description="statement_timeout of every query ctxgrab runs")


class RepoEntry(_Model):
    """The service's source repository: the commits between the last known good and the current version."""

    path: str = Field(description="a local clone (bare or not) or a `git bundle` file; never fetched from")
    tag: str = Field("v{version}", description="how a deploy version maps to a git ref; `{version}` is replaced")
    max_commits: int = Field(12, ge=1, le=200, description="commits listed in the prompt (the most relevant first)")
    max_files: int = Field(12, ge=1, le=200, description="changed files listed in the prompt")

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if "{version}" not in v:
            raise ValueError("tag must contain {version}, e.g. v{version} or release/{version}")
        return v


class StagingEntry(_Model):
    """The service's staging twin: the same packs with other label values, for parity facts."""

    labels: dict[str, str] = Field(default_factory=dict, description="label values that select staging (merged over the service's labels)")
    deploys: DeploysEntry | None = Field(None, description="staging's deploy history file")
    kubernetes: KubernetesEntry | None = Field(None, description="staging's Kubernetes workload")
    database: DatabaseEntry | None = Field(None, description="staging's PostgreSQL database")
    metrics_source: str | None = Field(None, description="source for staging's metrics; default: the service's")


class ServiceConfig(_Model):
    """What to collect for one service."""

    description: str | None = Field(None, description="one line on what the service does, shown in the prompt")
    labels: dict[str, str] = Field(default_factory=dict, description="label matchers filled into pack queries")
    packs: list[str] = Field(default_factory=list, description="packs to run (jvm, http, process, …)")
    metrics_source: str | None = Field(None, description="source the packs query; default: the only metrics source")
    metrics: list[MetricEntry] = Field(default_factory=list, description="extra metric queries")
    logs: list[LogEntry] = Field(default_factory=list, description="log files or log queries")
    gc_logs: list[str] = Field(default_factory=list, description="GC log globs")
    heap_dumps: list[str] = Field(default_factory=list, description="heap dump (HPROF) or class histogram globs")
    thread_dumps: list[str] = Field(default_factory=list, description="JVM thread dump globs (jstack, jcmd "
                                    "Thread.print, kill -3 output in a log, JDK 21 JSON), read together in time order")
    flight_recordings: list[str] = Field(default_factory=list, description="JFR recording globs (.jfr); the newest "
                                         "is read with the JDK's jfr tool")
    deploys: DeploysEntry | None = Field(None, description="deploy history file and rollback command")
    settings: list[SettingsEntry] = Field(default_factory=list, description="settings files and keys")
    kubernetes: KubernetesEntry | None = Field(None, description="Kubernetes workload (replaces `deploys`)")
    database: DatabaseEntry | None = Field(None, description="PostgreSQL database facts")
    traces: list[TraceEntry] = Field(default_factory=list, description="OTLP JSON trace files, Jaeger or Tempo")
    repo: RepoEntry | None = Field(None, description="source repository: what changed between the deployed versions")
    staging: StagingEntry | None = Field(None, description="staging twin: version, traffic and data size against production")

    @field_validator("packs")
    @classmethod
    def _packs(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"pack names are letters, digits, '_', '.', '-': {name!r}")
        return v


class Config(_Model):
    """A whole ``ctxgrab.yaml``."""

    defaults: Defaults = Field(default_factory=Defaults)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    redaction: RedactionConfig = Field(default_factory=RedactionConfig, description="redaction rules and switches")
    server: ServerConfig | None = Field(None, description="`ctxgrab serve`: PagerDuty webhooks (docs/pagerduty.md)")
    _path: Path | None = PrivateAttr(None)

    @property
    def path(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._path

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config resolve against the config file's folder."""
        return self.path.parent if self.path else Path.cwd()

    def service(self, name: str) -> ServiceConfig:
        if name not in self.services:
            where = self.path or "the config"
            known = ", ".join(sorted(self.services)) or "none"
            raise UnknownServiceError(
                f"{where}: services.{name}: unknown service {name!r} — fix: use one of: {known}, "
                f"or add it under `services:`"
            )
        return self.services[name]

    def metrics_source_for(self, service: ServiceConfig) -> str | None:
        if service.metrics_source:
            return service.metrics_source
        metric_sources = [n for n, s in self.sources.items() if s.type in _METRIC_TYPES]
        return metric_sources[0] if len(metric_sources) == 1 else None


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fix_for(err: dict[str, Any], model_fields: list[str] | None) -> str:
    t = err["type"]
    if t == "extra_forbidden":
        allowed = f" (allowed here: {', '.join(model_fields)})" if model_fields else ""
        return f"unknown key — fix: remove it or correct the spelling{allowed}"
    if t == "missing":
        return "required key is missing — fix: add it"
    if t == "literal_error":
        return f"{err['msg']} — fix: use one of the allowed values"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{msg} — fix: correct the value (see docs/configuration.md)"


def _allowed_fields(loc: tuple[Any, ...]) -> list[str] | None:
    """The field names allowed at the parent of ``loc`` (for 'unknown key' messages)."""
    model: Any = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is Config and part in ("sources", "services"):
            model = {"sources": SourceConfig, "services": ServiceConfig}[part]
            continue
        if model in (SourceConfig, ServiceConfig) and part not in model.model_fields:
            continue  # a source or service name
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann, *(inner or [])]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else None


def config_from_dict(data: Any, path: Path | str | None = None, env: dict[str, str] | None = None) -> Config:
    """Validate a parsed config mapping; errors name ``path`` and the key."""
    where = str(path) if path else "<config>"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping with sources/services/defaults")
    env = dict(os.environ) if env is None else env
    # The server section's secrets are needed only where `ctxgrab serve` runs, which
    # expands them strictly (ctxgrab.server.config.load_server_config); everywhere else an
    # unset one is empty, so an engineer can run `ctxgrab incident` on the same file.
    server = data.get("server")
    data = expand_env({k: v for k, v in data.items() if k != "server"}, where, "", env)
    if server is not None:
        data["server"] = expand_env(server, where, "server", env, lenient=True)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        first = errors[0]
        msg = f"{where}: {_loc(first['loc'])}: {_fix_for(first, _allowed_fields(first['loc']))}"
        if len(errors) > 1:
            msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise ConfigError(msg) from None
    cfg._path = Path(path).resolve() if path else None
    _check_references(cfg, where)
    _check_traces(cfg, where)
    return cfg


def _check_references(cfg: Config, where: str) -> None:
    from .packs import load_pack  # packs read their files through this module's helpers

    if cfg.server is not None:
        for pd_id, name in cfg.server.services.items():
            if name not in cfg.services:
                raise ConfigError(
                    f"{where}: server.services.{pd_id}: no service named {name!r} — fix: use one of: "
                    f"{', '.join(sorted(cfg.services)) or 'none'}, or add it under `services:`"
                )
    for name, svc in cfg.services.items():
        for i, pack in enumerate(svc.packs):
            user_packs = cfg.base_dir / cfg.defaults.packs_dir if cfg.defaults.packs_dir else None
            try:
                load_pack(pack, user_packs)
            except ConfigError as e:
                raise ConfigError(f"{where}: services.{name}.packs[{i}]: {e}") from None
        needs_source = bool(svc.packs) or any(not m.source for m in svc.metrics)
        if needs_source and not cfg.metrics_source_for(svc):
            metric_sources = [n for n, s in cfg.sources.items() if s.type in _METRIC_TYPES]
            raise ConfigError(
                f"{where}: services.{name}.metrics_source: the service's packs and metrics need a metrics source, "
                f"and {'there are several' if metric_sources else 'there is none'} — fix: "
                + (f"set metrics_source to one of: {', '.join(metric_sources)}" if metric_sources
                   else "define a source of type prometheus, victoriametrics or prometheus_files")
            )
        if svc.metrics_source and svc.metrics_source not in cfg.sources:
            raise ConfigError(
                f"{where}: services.{name}.metrics_source: no source named {svc.metrics_source!r} — "
                f"fix: define it under `sources:` or use one of: {', '.join(cfg.sources) or 'none'}"
            )
        for i, m in enumerate(svc.metrics):
            if m.source and m.source not in cfg.sources:
                raise ConfigError(
                    f"{where}: services.{name}.metrics[{i}].source: no source named {m.source!r} — "
                    "fix: define it under `sources:`"
                )
        for key, entry_ref, want in (("kubernetes", svc.kubernetes, "kubernetes"), ("database", svc.database, "postgres")):
            if entry_ref is None:
                continue
            src = cfg.sources.get(entry_ref.source)
            if src is None or src.type != want:
                raise ConfigError(
                    f"{where}: services.{name}.{key}.source: no source of type {want} named {entry_ref.source!r} — "
                    f"fix: define it under `sources:` with `type: {want}`"
                )
        if svc.staging is not None:
            for key, entry_ref, want in (("kubernetes", svc.staging.kubernetes, "kubernetes"),
                                         ("database", svc.staging.database, "postgres")):
                if entry_ref is None:
                    continue
                src = cfg.sources.get(entry_ref.source)
                if src is None or src.type != want:
                    raise ConfigError(
                        f"{where}: services.{name}.staging.{key}.source: no source of type {want} named "
                        f"{entry_ref.source!r} — fix: define it under `sources:` with `type: {want}`"
                    )
            if svc.staging.metrics_source and svc.staging.metrics_source not in cfg.sources:
                raise ConfigError(
                    f"{where}: services.{name}.staging.metrics_source: no source named "
                    f"{svc.staging.metrics_source!r} — fix: define it under `sources:`"
                )
        if svc.kubernetes and not (svc.kubernetes.deployment or svc.kubernetes.rollout):
            raise ConfigError(f"{where}: services.{name}.kubernetes: give `deployment` or `rollout` — "
                              "fix: e.g. {deployment: payments, source: k8s}")
        for i, entry in enumerate(svc.logs):
            if bool(entry.path) == bool(entry.source):
                raise ConfigError(
                    f"{where}: services.{name}.logs[{i}]: give exactly one of `path` (files) or `source` (Loki) — "
                    'fix: e.g. {path: "/var/log/app/*.log"}'
                )
            if entry.source and entry.source not in cfg.sources:
                raise ConfigError(
                    f"{where}: services.{name}.logs[{i}].source: no source named {entry.source!r} — "
                    "fix: define it under `sources:`"
                )


def _check_traces(cfg: Config, where: str) -> None:
    for name, svc in cfg.services.items():
        for i, entry in enumerate(svc.traces):
            if bool(entry.path) == bool(entry.source):
                raise ConfigError(
                    f"{where}: services.{name}.traces[{i}]: give exactly one of `path` (OTLP JSON files) or `source` "
                    '(jaeger or tempo) — fix: e.g. {path: "/var/otel/traces*.json"}'
                )
            src = cfg.sources.get(entry.source) if entry.source else None
            if entry.source and (src is None or src.type not in ("jaeger", "tempo")):
                raise ConfigError(
                    f"{where}: services.{name}.traces[{i}].source: no source of type jaeger or tempo named "
                    f"{entry.source!r} — fix: define it under `sources:` with `type: jaeger` or `type: tempo`"
                )
            if src is not None and not src.url:
                raise ConfigError(f"{where}: sources.{entry.source}.url: a {src.type} source needs a url — "
                                  "fix: e.g. url: http://jaeger-query:16686")


def find_config(explicit: str | Path | None = None, env: dict[str, str] | None = None) -> Path:
    """The config file to use: ``--config``, ``$CTXGRAB_CONFIG``, ``./ctxgrab.yaml``, ``~/.config/ctxgrab/config.yaml``."""
    env = dict(os.environ) if env is None else env
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found — fix: check the --config path")
        return p
    if env.get("CTXGRAB_CONFIG"):
        p = Path(env["CTXGRAB_CONFIG"]).expanduser()
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found — fix: check $CTXGRAB_CONFIG")
        return p
    candidates = [Path.cwd() / "ctxgrab.yaml", Path.home() / ".config" / "ctxgrab" / "config.yaml"]
    for p in candidates:
        if p.is_file():
            return p
    raise ConfigError(
        "no config found (looked for --config, $CTXGRAB_CONFIG, ./ctxgrab.yaml, ~/.config/ctxgrab/config.yaml) — "
        "fix: pass --config FILE or create ctxgrab.yaml (see docs/configuration.md)"
    )


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Find, read and validate the config file."""
    p = find_config(path, env)
    return config_from_dict(read_yaml(p), p, env)
