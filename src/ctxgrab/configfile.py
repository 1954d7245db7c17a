"""Reading a config file: YAML with ``${ENV_VAR}`` references, errors that name file and key.

Shared by the pipeline's config (:mod:`ctxgrab.config`) and the server's section
(:mod:`ctxgrab.server.config`).

>>> expand_env({"url": "${HOST:-localhost}:9090"}, "c.yaml", "", env={})
{'url': 'localhost:9090'}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .yamlsafe import UnsafeYAML, safe_load

__all__ = ["expand_env", "read_yaml", "yaml_error_line", "check_url"]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, where: str, key: str, env: dict[str, str], *, lenient: bool = False) -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string of ``value``.

    An unset variable without a default is a ConfigError naming ``where`` and the key,
    or, with ``lenient``, the empty string.
    """
    if isinstance(value, dict):
        return {k: expand_env(v, where, f"{key}.{k}" if key else str(k), env, lenient=lenient)
                for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where, f"{key}[{i}]", env, lenient=lenient) for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            if lenient:
                return ""
            raise ConfigError(
                f"{where}: {key}: environment variable {name} is not set — fix: export {name}=… "
                f"or write ${{{name}:-default}}"
            )

        return _ENV_RE.sub(sub, value)
    return value


def read_yaml(path: Path) -> Any:
    """The parsed YAML of ``path``; unreadable, non-UTF-8 and refused files (alias bombs, duplicate
    keys, deep nesting: :mod:`ctxgrab.yamlsafe`) and syntax errors are one-line ConfigErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
                          f"{e.start}) — fix: save the file as UTF-8") from None
    try:
        return safe_load(text)
    except yaml.YAMLError as e:
        fix = e.fix if isinstance(e, UnsafeYAML) else "correct the syntax"
        raise ConfigError(f"{path}:{yaml_error_line(e)} — fix: {fix}") from None


def yaml_error_line(e: Exception) -> str:
    """`` line 3, column 7: not valid YAML: expected ':'``: a YAML error on one line."""
    mark = getattr(e, "problem_mark", None)
    at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{at}: {problem}" if isinstance(e, UnsafeYAML) else f"{at}: not valid YAML: {problem}"


def check_url(value: str) -> str:
    """``value`` without a trailing slash if it is an http(s) URL with a host and a valid port; else ValueError.

    >>> check_url("http://prometheus:9090/")
    'http://prometheus:9090'
    >>> check_url("http://127.0.0.1:99999")
    Traceback (most recent call last):
    ...
    ValueError: port 99999 is out of range (1-65535) in 'http://127.0.0.1:99999'
    """
    from urllib.parse import urlsplit

    if not re.match(r"^https?://", value):
        raise ValueError(f"must start with http:// or https://, got {value!r}")
    if re.search(r"\s", value):
        raise ValueError(f"must not contain spaces, got {value!r}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as e:
        m = re.search(r"//[^/]*:(\d+)", value)
        if m and "range" in str(e):
            raise ValueError(f"port {m.group(1)} is out of range (1-65535) in {value!r}") from None
        raise ValueError(f"not a valid URL ({e}): {value!r}") from None
    if not parts.hostname:
        raise ValueError(f"no host name in {value!r}")
    host = parts.hostname
    if ":" not in host:  # not an IPv6 literal: what the resolver will do with it fails here, not mid-run
        labels = host.rstrip(".").split(".")
        if len(host) > 253 or any(not 1 <= len(label) <= 63 for label in labels):
            raise ValueError(f"host name {host[:80]!r} is not valid (empty or over-long label)")
        if not host.isascii() or "xn--" in host:
            try:
                import idna  # httpx's own dependency: the same check its connections make

                idna.encode(host, uts46=True)
            except ImportError:  # pragma: no cover
                pass
            except (UnicodeError, ValueError) as e:  # idna.IDNAError is a UnicodeError
                raise ValueError(f"host name {host[:80]!r} is not valid ({e})") from None
    if port == 0:
        raise ValueError(f"port 0 is out of range (1-65535) in {value!r}")
    return value.rstrip("/")
