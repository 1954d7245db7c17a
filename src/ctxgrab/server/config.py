"""``server:`` section of ``ctxgrab.yaml``: the PagerDuty webhook receiver.

Secrets are written as ``${ENV_VAR}`` references and kept as
:class:`pydantic.SecretStr`, so they never show in a repr, a log line or a traceback.

Example ``ctxgrab.yaml``::

    server:
      webhook_secrets: ["${PD_WEBHOOK_SECRET}", "${PD_WEBHOOK_SECRET_OLD:-}"]
      api_token: ${PD_API_TOKEN}
      from_email: oncall-bot@example.com
      queue_path: /var/lib/ctxgrab/queue.sqlite3
      services: {PSVC9KX: payments}
      public_base_url: https://ctxgrab.example.com
      prompt_token: ${CTXGRAB_PROMPT_TOKEN}

>>> cfg = ServerConfig(webhook_secrets=["s3cret"], services={"PSVC9KX": "payments"})
>>> cfg.services["PSVC9KX"], cfg.note_max_chars
('payments', 4000)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ..configfile import check_url, expand_env, read_yaml
from ..errors import ConfigError

__all__ = [
    "ServerConfig",
    "RetryPolicy",
    "BreakerPolicy",
    "load_server_config",
    "load_pipeline_config",
    "DEFAULT_TRIGGER_EVENTS",
]

DEFAULT_TRIGGER_EVENTS = ["incident.triggered", "incident.reopened"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryPolicy(_Model):
    """How a PagerDuty call is retried on 429, 5xx, timeouts and connection errors."""

    attempts: int = Field(5, ge=1, le=20, description="tries per call, the first included")
    base_delay_s: float = Field(0.5, gt=0, description="first backoff; doubles each try, full jitter")
    max_delay_s: float = Field(30.0, gt=0, description="cap on one backoff (a longer Retry-After reschedules the job)")


class BreakerPolicy(_Model):
    """Circuit breaker per downstream (PagerDuty API host, collection)."""

    failure_threshold: int = Field(5, ge=1, description="consecutive failures that open the circuit")
    reset_after_s: float = Field(30.0, gt=0, description="how long it stays open before one trial call")


class ServerConfig(_Model):
    """The ``server:`` section: webhook receiver, job queue and PagerDuty REST client."""

    webhook_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="signing secrets of the webhook subscription(s); several during rotation; empty entries ignored",
    )
    api_token: SecretStr | None = Field(None, description="PagerDuty REST API key, sent as `Token token=…`")
    from_email: str | None = Field(None, description="email of a PagerDuty user, sent as `From` on note writes")
    api_base_url: str = Field("https://api.pagerduty.com", description="REST API base (EU: https://api.eu.pagerduty.com)")
    queue_path: str = Field("ctxgrab-queue.sqlite3", description="SQLite job queue file; relative to the config file")
    queue: SecretStr | None = Field(
        None,
        description="a PostgreSQL queue shared by several replicas: `postgresql://ctxgrab@db/ctxgrab` "
        "(password through ${ENV}); unset means the SQLite file `queue_path`",
    )
    lease_s: float | None = Field(
        None, gt=0, description="how long a claimed job is held without renewal; renewed every third of it while "
        "the job runs (default 60 s with a shared queue, collection_timeout_s + 600 s with SQLite)",
    )
    queue_sync: Literal["full", "normal"] = Field(
        "full",
        description="full: an acknowledged job survives a killed process, an OS crash and power loss; normal: a "
        "killed process only (no disk sync per commit: a little faster)",
    )
    services: dict[str, str] = Field(
        default_factory=dict, description="PagerDuty service id → ctxgrab service name (events of others are ignored)"
    )
    trigger_events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGER_EVENTS),
        description="event types that (re)build the incident's note; all others get 202 and are ignored",
    )
    bot_user_id: str | None = Field(None, description="PagerDuty user id of the API key's user: its events are ignored")
    note_max_chars: int = Field(4000, ge=500, le=60000, description="note length cap; longer prompts are cut with a link")
    public_base_url: str | None = Field(None, description="external URL of this server, used in the note's link")
    prompt_token: SecretStr | None = Field(
        None, description="protects GET /incidents/{id}/prompt; unset disables that endpoint"
    )
    retention_days: float = Field(30.0, gt=0, description="finished jobs and their prompts are kept this long")
    max_body_bytes: int = Field(262144, ge=1024, description="larger webhook bodies get 413 (PagerDuty drops > 256 KB)")
    max_header_bytes: int = Field(
        16384, ge=1024, le=1048576, description="request line and headers larger than this get 400 and are closed"
    )
    max_headers: int = Field(64, ge=8, le=1000, description="requests with more header fields get 431")
    header_timeout_s: float = Field(
        10.0, gt=0, le=300, description="a connection that has not sent a whole request head by then is closed (408)"
    )
    body_timeout_s: float = Field(
        10.0, gt=0, le=300, description="a request body not received in full by then gets 408 and is closed"
    )
    keep_alive_s: float = Field(5.0, gt=0, le=300, description="an idle keep-alive connection is closed after this")
    max_connections: int = Field(
        256, ge=1, le=100000, description="open connections at most; more are closed at once (503 above it)"
    )
    workers: int = Field(2, ge=1, le=64, description="collections run at the same time")
    collection_timeout_s: float = Field(120.0, gt=0, description="a collection that takes longer is retried later")
    job_attempts: int = Field(8, ge=1, description="tries per job before it is marked failed")
    job_retry_base_s: float = Field(5.0, gt=0, description="first delay before a failed job is tried again; doubles")
    http_timeout_s: float = Field(10.0, gt=0, description="timeout of one PagerDuty REST request")
    api_concurrency: int = Field(1, ge=1, le=16, description="PagerDuty requests in flight at once (PagerDuty asks to serialize)")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    breaker: BreakerPolicy = Field(default_factory=BreakerPolicy)
    prompt_builder: str | None = Field(
        None,
        description="`module:callable` of an async (service, at) -> str used instead of ctxgrab's own pipeline",
    )

    @field_validator("api_base_url", "public_base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return check_url(v) if v is not None else v

    @field_validator("queue")
    @classmethod
    def _queue(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not re.match(r"^postgres(ql)?://", v.get_secret_value()):
            raise ValueError("must be a PostgreSQL URL, postgresql://user@host/db (leave it unset for SQLite)")
        return v

    @field_validator("webhook_secrets")
    @classmethod
    def _secrets(cls, v: list[SecretStr]) -> list[SecretStr]:
        # "${OLD_SECRET:-}" expands to "" outside a rotation: drop it rather than accept an empty key.
        return [s for s in v if s.get_secret_value().strip()]

    @field_validator("from_email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", v):
            raise ValueError(f"must be the email address of a PagerDuty user, got {v!r}")
        return v

    def secrets(self) -> list[str]:
        """The webhook secrets in clear, for signature checks."""
        return [s.get_secret_value() for s in self.webhook_secrets]

    def resolved_queue_path(self, base_dir: Path | None = None) -> Path:
        p = Path(self.queue_path).expanduser()
        return p if p.is_absolute() or base_dir is None else base_dir / p


def load_server_config(path: str | Path, env: dict[str, str] | None = None) -> ServerConfig:
    """Read only the ``server:`` section of a config file, expanding ``${ENV}`` references.

    The rest of the file is validated by the pipeline when a collection runs; reading
    just this section lets ``ctxgrab serve`` start and answer webhooks on its own.

    >>> load_server_config("ctxgrab.yaml").services      # doctest: +SKIP
    {'PSVC9KX': 'payments'}
    """
    p = Path(path)
    where = str(p)
    data = read_yaml(p)
    if not isinstance(data, dict) or not isinstance(data.get("server"), dict):
        raise ConfigError(f"{where}: server: section missing — fix: add a `server:` mapping (see docs/pagerduty.md)")
    section = expand_env(data["server"], where, "server", dict(os.environ) if env is None else env)
    try:
        return ServerConfig.model_validate(section)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            model: Any = ServerConfig
            for part in err["loc"][:-1]:  # retry.x, breaker.x
                sub = model.model_fields.get(part) if isinstance(part, str) else None
                model = sub.annotation if sub is not None else model
            fields = ", ".join(sorted(getattr(model, "model_fields", {})))
            fix = f"unknown key — fix: remove it or correct the spelling (allowed here: {fields})"
        else:
            fix = err["msg"].removeprefix("Value error, ") + " — fix: correct the value (see docs/pagerduty.md)"
        raise ConfigError(f"{where}: server.{loc}: {fix}") from None


def load_pipeline_config(path: str | Path) -> Any:
    """The whole config as the pipeline's ``Config``, without the ``server:`` section.

    Collections (in ``ctxgrab serve``'s worker and in ``ctxgrab mcp``) never need the
    server section, so its ``${ENV}`` secrets (PagerDuty key, webhook secret) need not be
    set where only collections run, e.g. in a chat assistant's environment.
    """
    from ..config import config_from_dict

    p = Path(path)
    data = read_yaml(p)
    if isinstance(data, dict):
        data.pop("server", None)
    return config_from_dict(data, p)
