"""Packs: declarative sets of collector instances, one YAML file each.

A pack names the metric queries (and later other inputs) a technology needs, so a
user writes ``packs: [jvm, http]`` instead of PromQL. Queries carry ``$selector``,
replaced with the service's label matchers (``service="payments"``)::

    name: jvm
    description: JVM heap, GC and threads
    metrics:
      - id: heap_used
        title: JVM heap used
        unit: bytes
        query: sum(jvm_memory_used_bytes{area="heap",$selector})

Packs resolve from ``defaults.packs_dir`` first, then the bundled ``collectors/``.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .resources import bundled_dir

__all__ = ["Pack", "PackMetric", "load_pack", "pack_dirs", "selector"]


class PackMetric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="identifier, unique in the pack")
    title: str = Field(description="label in the prompt")
    query: str = Field(description="PromQL with $selector")
    unit: str | None = Field(None, description="bytes, seconds, ratio, rps, …")
    limit_of: str | None = Field(None, description="id of the metric this one bounds (heap_max bounds heap_used)")


class Pack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    metrics: list[PackMetric] = Field(default_factory=list)


def pack_dirs(user_dir: Path | None) -> list[Path]:
    dirs = [user_dir] if user_dir else []
    dirs.append(bundled_dir("collectors"))
    return dirs


def load_pack(name: str, user_dir: Path | None = None) -> Pack:
    """Find and validate pack ``name``."""
    dirs = pack_dirs(user_dir)
    for d in dirs:
        for ext in (".yaml", ".yml"):
            p = d / f"{name}{ext}"
            if p.is_file():
                try:
                    data = yaml.safe_load(p.read_text(encoding="utf-8"))
                    return Pack.model_validate(data)
                except yaml.YAMLError as e:
                    raise ConfigError(f"{p}: not valid YAML: {e}") from None
                except ValidationError as e:
                    err = e.errors()[0]
                    key = ".".join(str(x) for x in err["loc"])
                    raise ConfigError(f"{p}: {key}: {err['msg']} — fix: correct the pack file") from None
    available = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.y*ml")})
    raise ConfigError(f"unknown pack {name!r} — fix: use one of: {', '.join(available) or 'none'}")


def selector(labels: dict[str, str]) -> str:
    """Label matchers for ``$selector``: ``{'service': 'payments'}`` → ``service="payments"``."""
    out = []
    for k, v in sorted(labels.items()):
        v = v.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'{k}="{v}"')
    return ",".join(out)


def fill(query: str, labels: dict[str, str]) -> str:
    """Fill ``$selector`` into a query, dropping the dangling comma when there are no labels."""
    sel = selector(labels)
    if not sel:
        query = query.replace(",$selector", "").replace("$selector,", "")
    return query.replace("$selector", sel)
