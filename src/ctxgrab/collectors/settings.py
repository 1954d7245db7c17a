"""Settings that bound resources: chosen keys from properties, YAML, JSON, env files and JVM flags.

Params: ``files``: a list of ``{path, keys, format}`` (the service's ``settings:``).

Payload (``data``)::

    {"files": [{"path": "...", "format": "properties",
                "values": [{"key": "server.max-websocket-sessions", "value": "10000"},
                           {"key": "-Xmx", "value": "8g", "bytes": 8589934592}],
                "missing": ["keys asked for but not found"]}]}
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from ..yamlsafe import safe_load as safe_yaml
from ..configfile import yaml_error_line
from ..errors import InputError
from ..evidence import Evidence, Status
from .. import parsebudget
from ..units import parse_size
from . import CollectRequest

KIND = "settings"
MAX_KEYS = 40  # when no keys are named, show at most this many

_JVM_FLAG = re.compile(r"^-(?:XX:[+-]?|X(?:mx|ms|ss|mn)|D)")


def _flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        out[prefix] = json.dumps(obj)
    else:
        out[prefix] = "" if obj is None else str(obj).lower() if isinstance(obj, bool) else str(obj)
    return out


def parse_properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):  # continuation lines
            line = line[:-1] + lines[i].strip()
            i += 1
        if not line or line[0] in "#!":
            continue
        m = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
        else:
            out[line] = ""
    return out


def parse_env(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ")
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip().strip("'\"")
    return out


def parse_jvm_flags(text: str) -> dict[str, str]:
    """``-Xmx8g`` → ``{"-Xmx": "8g"}``, ``-XX:+UseG1GC`` → ``{"-XX:UseG1GC": "true"}``."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        for tok in tokens:
            if m := re.match(r"^-X(mx|ms|ss|mn)(\S+)$", tok):
                out[f"-X{m.group(1)}"] = m.group(2)
            elif m := re.match(r"^-XX:([+-])(\w+)$", tok):
                out[f"-XX:{m.group(2)}"] = "true" if m.group(1) == "+" else "false"
            elif m := re.match(r"^-XX:(\w+)=(.*)$", tok):
                out[f"-XX:{m.group(1)}"] = m.group(2)
            elif m := re.match(r"^-D([^=]+)=(.*)$", tok):
                out[f"-D{m.group(1)}"] = m.group(2)
    return out


def detect_format(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".properties":
        return "properties"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    if suffix == ".env" or path.name == ".env":
        return "env"
    tokens = " ".join(line.split("#", 1)[0] for line in text.splitlines()).split()
    if tokens and sum(1 for t in tokens if _JVM_FLAG.match(t)) >= max(1, len(tokens) // 2):
        return "jvm"
    return "properties"


def read_settings(path: Path, fmt: str) -> tuple[str, dict[str, str]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    fmt = detect_format(path, text) if fmt == "auto" else fmt
    try:
        if fmt == "yaml":
            values = _flatten(safe_yaml(text) or {})
        elif fmt == "json":
            values = _flatten(json.loads(text))
        elif fmt == "env":
            values = parse_env(text)
        elif fmt == "jvm":
            values = parse_jvm_flags(text)
        else:
            values = parse_properties(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}:{yaml_error_line(e)}") from None
    return fmt, values


# JVM flags whose value is a size (-Xmx8g); other keys count as sizes when the value carries a unit.
_SIZE_FLAGS = re.compile(r"^-X(?:mx|ms|ss|mn)$|^-XX:\w*Size$")
_SIZED_VALUE = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:[kKmMgGtT]i?[bB]?|[bB])\s*$")


def _annotate(key: str, value: str) -> dict[str, Any]:
    """The value as read, plus ``bytes`` when it is a size (so the prompt writes it with units.py)."""
    out: dict[str, Any] = {"key": key, "value": value}
    if _SIZE_FLAGS.match(key) or _SIZED_VALUE.match(value):
        n = parse_size(value)
        if n is not None:
            out["bytes"] = n
    return out


def _lookup(values: dict[str, str], key: str) -> tuple[str, str] | None:
    if key in values:
        return key, values[key]
    # Relaxed binding, as Spring does it: server.maxWebsocketSessions ~ server.max-websocket-sessions.
    norm = re.sub(r"[-_]", "", key).lower()
    for k, v in values.items():
        if re.sub(r"[-_]", "", k).lower() == norm:
            return k, v
    return None


async def collect(request: CollectRequest, params: dict[str, Any]) -> Evidence:
    base = {"kind": KIND, "name": "settings", "title": "Settings"}
    files = []
    warnings = []
    for entry in params.get("files", []):
        path = request.resolve(entry["path"])
        if not path.is_file():
            warnings.append(f"settings file not found: {path}")
            continue
        try:
            fmt, values = await parsebudget.arun(read_settings, path, entry.get("format", "auto"),
                                                 what=f"settings file {path}")
        except InputError as e:
            warnings.append(str(e))
            continue
        keys = entry.get("keys") or []
        chosen, missing = [], []
        if keys:
            for key in keys:
                hit = _lookup(values, key)
                if hit:
                    chosen.append(_annotate(hit[0], hit[1]))
                else:
                    missing.append(key)
        else:
            chosen = [_annotate(k, v) for k, v in list(values.items())[:MAX_KEYS]]
        files.append({"path": entry["path"], "format": fmt, "values": chosen, "missing": missing})
    if not files:
        return Evidence(**base, status=Status.error if warnings else Status.empty,
                        reason=warnings[0] if warnings else "no settings configured", warnings=warnings[1:])
    return Evidence(**base, data={"files": files}, warnings=warnings)
