"""Collector ``kubernetes``: rollout history and the rollback plan from the API server.

Reads, for one Deployment or Argo Rollout, the ReplicaSets it owns (revision,
images, when each went live), rollout status, the Argo canary weight and step,
pod restarts with their termination reasons, and the warning events inside the
window; :mod:`ctxgrab.analysis.rollout` turns them into the ``deploys`` payload
(the same shape as the file-based ``deploys`` collector, plus Kubernetes extras).

Parameters (a service's ``kubernetes:`` entry)::

    {"deployment": "payments", "namespace": "prod", "source": "k8s",
     "min_healthy": "30m", "max_restarts": 3}

``rollout: NAME`` instead of ``deployment`` reads an Argo Rollout; with
``deployment`` an Argo Rollout of the same name is used when one exists.

The source (``sources.k8s``) says how to reach the API server, tried in order:
``url`` (+ ``bearer_token``/``token_file``, ``ca_file``, ``verify_tls``);
``kubeconfig`` (+ ``context``); the in-cluster service account
(``KUBERNETES_SERVICE_HOST`` and ``/var/run/secrets/kubernetes.io/serviceaccount``,
its token re-read on every request because the kubelet rotates it); then
``$KUBECONFIG`` or ``~/.kube/config``. Only ``get``/``list`` are used; a 403 on
one resource becomes a stated gap naming the missing permission, not a failure.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import yaml

from ..yamlsafe import safe_load as safe_yaml
from ..analysis.rollout import (
    DEFAULT_MAX_RESTARTS,
    DEFAULT_MIN_HEALTHY_S,
    Workload,
    analysis_runs,
    argo_canary,
    deployment_status,
    event_time,
    plan_rollback,
    revisions_from_replicasets,
)
from ..errors import body_excerpt, ConfigError, SourceError
from ..evidence import Evidence, Status
from ..timeutil import parse_duration, parse_time

__all__ = ["collect", "connect", "ApiClient", "Forbidden", "NotFound"]

SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_CONN_KEYS = ("url", "token", "bearer_token", "token_file", "ca_file", "verify_tls", "insecure_skip_tls_verify",
              "kubeconfig", "context")
_MAX_WARNINGS = 30
_MAX_PODS = 20


class Forbidden(SourceError):
    """The API server refused a request (RBAC); ``what`` names the verb and resource."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(f"forbidden: {what}: {message}")
        self.what = what


class NotFound(SourceError):
    """The object or the resource type (e.g. Argo CRDs not installed) does not exist."""


@dataclass
class _Auth:
    server: str
    token: str | None = None
    token_file: Path | None = None  # re-read on each request (bound service-account tokens rotate)
    verify: ssl.SSLContext | bool = True
    namespace: str | None = None
    how: str = ""  # for messages: "kubeconfig /x context prod", "in-cluster service account"


class ApiClient:
    """A read-only Kubernetes API client over httpx (get one object, list with pagination)."""

    def __init__(self, auth: _Auth, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.auth = auth
        self._client = httpx.AsyncClient(
            base_url=auth.server.rstrip("/"),
            verify=auth.verify,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "ctxgrab"},
        )

    async def __aenter__(self) -> "ApiClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def _headers(self) -> dict[str, str]:
        token = self.auth.token
        if self.auth.token_file is not None:
            token = self.auth.token_file.read_text().strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str, params: dict[str, str] | None = None, *, what: str = "") -> dict[str, Any]:
        try:
            resp = await self._client.get(path, params=params, headers=self._headers())
        except httpx.TimeoutException as e:
            raise SourceError(f"Kubernetes API {self.auth.server} timed out on {path}") from e
        except httpx.HTTPError as e:
            raise SourceError(f"Kubernetes API {self.auth.server} unreachable: {e}") from e
        if resp.status_code == 200:
            try:
                return resp.json()
            except ValueError as e:
                raise SourceError(f"Kubernetes API returned non-JSON for {path}") from e
        message = _status_message(resp)
        if resp.status_code == 403:
            raise Forbidden(what or f"GET {path}", message)
        if resp.status_code == 404:
            raise NotFound(f"{what or path}: not found ({message})")
        if resp.status_code == 401:
            raise SourceError(f"Kubernetes API rejected the credentials ({self.auth.how}): {message}")
        raise SourceError(f"Kubernetes API {resp.status_code} on {path}: {message}")

    async def list(self, path: str, params: dict[str, str] | None = None, *, what: str = "", limit: int = 500) -> list[dict[str, Any]]:
        """All items of a list, following ``continue`` tokens."""
        items: list[dict[str, Any]] = []
        query = dict(params or {}, limit=str(limit))
        for _ in range(1000):
            page = await self.get(path, query, what=what)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query["continue"] = token
        raise SourceError(f"Kubernetes API kept paginating {path} past 1000 pages")


def _status_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        return str(body.get("message") or body.get("reason") or resp.reason_phrase)
    except ValueError:
        return body_excerpt(resp.content, 200) if resp.content else resp.reason_phrase


# --------------------------------------------------------------------------- credentials


def _ssl_context(ca_file: str | None = None, ca_data: str | None = None, cert: tuple[bytes, bytes] | None = None,
                 cert_files: tuple[str, str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file, cadata=base64.b64decode(ca_data).decode() if ca_data else None)
    if cert_files:
        ctx.load_cert_chain(cert_files[0], cert_files[1])
    elif cert:
        # ssl wants files: write the inline client certificate to a private temp dir, load, delete.
        with tempfile.TemporaryDirectory(prefix="ctxgrab-kube-") as d:
            crt, key = Path(d, "tls.crt"), Path(d, "tls.key")
            for p, data in ((crt, cert[0]), (key, cert[1])):
                p.touch(mode=0o600)
                p.write_bytes(data)
            ctx.load_cert_chain(str(crt), str(key))
    return ctx


def _kubeconfig_paths(explicit: str | None) -> list[Path]:
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def _load_kubeconfig(paths: list[Path]) -> dict[str, Any]:
    """Merge kubeconfig files like kubectl: for each named entry the first file wins."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    found = False
    for path in paths:
        if not path.is_file():
            continue
        found = True
        try:
            doc = safe_yaml(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"kubeconfig {path}: cannot read: {e}") from e
        if not isinstance(doc, dict):
            raise ConfigError(f"kubeconfig {path}: not a mapping")
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in doc.get(section) or []:
                merged[section].setdefault(entry.get("name"), (entry.get(key) or {}, path))
        merged["current-context"] = merged["current-context"] or doc.get("current-context")
    if not found:
        raise ConfigError(f"no kubeconfig found (looked at {', '.join(map(str, paths))})")
    return merged


async def _exec_token(spec: dict[str, Any], timeout_s: float) -> str:
    """Run an exec credential plugin (aws eks get-token, kubelogin, ...) and return its token."""
    cmd = [spec["command"], *(spec.get("args") or [])]
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[item["name"]] = item["value"]
    try:
        with anyio.fail_after(timeout_s):
            proc = await anyio.run_process(cmd, env=env, check=False)
    except FileNotFoundError as e:
        raise SourceError(f"kubeconfig exec plugin {spec['command']!r} is not on PATH") from e
    except TimeoutError as e:
        raise SourceError(f"kubeconfig exec plugin {spec['command']!r} did not answer within {timeout_s:.0f} s") from e
    if proc.returncode != 0:
        raise SourceError(f"kubeconfig exec plugin {spec['command']!r} failed: {proc.stderr.decode(errors='replace')[:200]}")
    try:
        return str(json.loads(proc.stdout)["status"]["token"])
    except (ValueError, KeyError, TypeError) as e:
        raise SourceError(f"kubeconfig exec plugin {spec['command']!r} printed no ExecCredential token") from e


def _rel(path: str | None, base: Path) -> str | None:
    if not path:
        return None
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else base.parent / p)


async def _from_kubeconfig(paths: list[Path], context: str | None, timeout_s: float) -> _Auth:
    kc = _load_kubeconfig(paths)
    name = context or kc["current-context"]
    if not name or name not in kc["contexts"]:
        known = ", ".join(sorted(str(k) for k in kc["contexts"])) or "none"
        raise ConfigError(f"kubeconfig {paths[0]}: context {name!r} not found (contexts: {known})")
    ctx, _ = kc["contexts"][name]
    cluster, cpath = kc["clusters"].get(ctx.get("cluster"), ({}, paths[0]))
    user, upath = kc["users"].get(ctx.get("user"), ({}, paths[0]))
    server = cluster.get("server")
    if not server:
        raise ConfigError(f"kubeconfig {cpath}: cluster {ctx.get('cluster')!r} has no server")
    verify: ssl.SSLContext | bool = True
    if server.startswith("https"):
        if cluster.get("insecure-skip-tls-verify"):
            verify = False
        else:
            cert = None
            cert_files = None
            if user.get("client-certificate-data") and user.get("client-key-data"):
                cert = (base64.b64decode(user["client-certificate-data"]), base64.b64decode(user["client-key-data"]))
            elif user.get("client-certificate") and user.get("client-key"):
                cert_files = (_rel(user["client-certificate"], upath), _rel(user["client-key"], upath))
            verify = _ssl_context(_rel(cluster.get("certificate-authority"), cpath), cluster.get("certificate-authority-data"),
                                  cert, cert_files)  # type: ignore[arg-type]
    token = user.get("token")
    token_file = Path(_rel(user["tokenFile"], upath)) if user.get("tokenFile") else None  # type: ignore[arg-type]
    if not token and not token_file and user.get("exec"):
        token = await _exec_token(user["exec"], timeout_s)
    return _Auth(server=server, token=token, token_file=token_file, verify=verify,
                 namespace=ctx.get("namespace"), how=f"kubeconfig {paths[0]} context {name}")


def _in_cluster(sa_dir: Path) -> _Auth | None:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT_HTTPS") or os.environ.get(
        "KUBERNETES_SERVICE_PORT"
    )
    if not host or not port or not (sa_dir / "token").is_file():
        return None
    if ":" in host:
        host = f"[{host}]"
    ca = sa_dir / "ca.crt"
    ns_file = sa_dir / "namespace"
    return _Auth(
        server=f"https://{host}:{port}",
        token_file=sa_dir / "token",
        verify=_ssl_context(str(ca)) if ca.is_file() else True,
        namespace=ns_file.read_text().strip() if ns_file.is_file() else None,
        how="in-cluster service account",
    )


async def connect(source: dict[str, Any], *, timeout_s: float = 10.0, serviceaccount_dir: Path | None = None,
                  transport: httpx.AsyncBaseTransport | None = None) -> ApiClient:
    """An :class:`ApiClient` for a ``kubernetes`` source entry (see the module docstring for the order).

    Example::

        async with await connect({"kubeconfig": "~/.kube/config", "context": "prod"}) as api:
            dep = await api.get("/apis/apps/v1/namespaces/prod/deployments/payments")
    """
    if source.get("url"):
        verify: ssl.SSLContext | bool = True
        if source.get("insecure_skip_tls_verify") or source.get("verify_tls") is False:
            verify = False
        elif source.get("ca_file"):
            verify = _ssl_context(str(Path(source["ca_file"]).expanduser()))
        token_file = Path(source["token_file"]).expanduser() if source.get("token_file") else None
        token = source.get("token") or source.get("bearer_token")
        auth = _Auth(server=str(source["url"]), token=token, token_file=token_file, verify=verify,
                     how=f"url {source['url']}")
    elif source.get("kubeconfig"):
        auth = await _from_kubeconfig(_kubeconfig_paths(str(source["kubeconfig"])), source.get("context"), timeout_s)
    else:
        auth = _in_cluster(serviceaccount_dir or SERVICEACCOUNT_DIR) or await _from_kubeconfig(_kubeconfig_paths(None), source.get("context"), timeout_s)
    return ApiClient(auth, timeout_s, transport)


# --------------------------------------------------------------------------- collection


def _source(request: Any, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("source")
    src: dict[str, Any] = {}
    if name:
        sources = getattr(request.config, "sources", None) or {}
        entry = sources.get(name) if isinstance(sources, dict) else getattr(sources, name, None)
        if entry is None:
            raise ConfigError(f"kubernetes: source {name!r} is not defined under sources")
        if hasattr(entry, "model_dump"):
            entry = entry.model_dump(exclude_none=True)
        src = dict(entry)
    src.update({k: params[k] for k in _CONN_KEYS if params.get(k) is not None})
    if src.get("kubeconfig") and hasattr(request, "resolve"):
        src["kubeconfig"] = str(request.resolve(src["kubeconfig"]))
    return src


def _selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


async def collect(request: Any, params: dict[str, Any]) -> Evidence:
    """Rollout history, canary state, restarts and warnings of one workload, with its rollback plan."""
    started = time.monotonic()
    name = params.get("rollout") or params.get("deployment")
    title = f"Deployment {name}" if name else "Deployment"
    if not name:
        return Evidence.failed("deploys", params.get("name", "kubernetes"), title,
                               "kubernetes: set `deployment: NAME` (or `rollout: NAME` for an Argo Rollout)")
    ev_name = str(params.get("name") or f"kubernetes:{name}")
    try:
        source = _source(request, params)
        api = await connect(source, timeout_s=float(params.get("timeout_s", min(getattr(request, "timeout_s", 20.0), 15.0))))
    except (ConfigError, SourceError, OSError, ssl.SSLError) as e:
        return Evidence.failed("deploys", ev_name, title, f"kubernetes: {e}")
    ns = str(params.get("namespace") or source.get("namespace") or api.auth.namespace or "default")
    title = f"Deployment {ns}/{name}"
    try:
        async with api:
            data, warnings, gaps = await _collect(api, request, params, str(name), ns)
    except NotFound as e:
        return Evidence.failed("deploys", ev_name, title, f"kubernetes: {e}", source=api.auth.server)
    except (SourceError, ValueError) as e:
        return Evidence.failed("deploys", ev_name, title, f"kubernetes: {e}", source=api.auth.server)
    if data is None:
        return Evidence(kind="deploys", name=ev_name, title=title, status=Status.empty, source=api.auth.server,
                        reason=f"{ns}/{name} owns no ReplicaSet with a revision annotation", warnings=warnings)
    data["gaps"] = gaps
    return Evidence(kind="deploys", name=ev_name, title=title, source=f"{api.auth.server} ({api.auth.how})",
                    data=data, warnings=warnings + gaps, duration_ms=(time.monotonic() - started) * 1000)


async def _optional(coro: Any, gaps: list[str], default: Any) -> Any:
    """Run one API read; a 403 becomes a gap in the prompt, a 404 the default."""
    try:
        return await coro
    except Forbidden as e:
        gaps.append(f"{e} (grant get/list on it to the ctxgrab service account)")
    except NotFound:
        pass
    return default


async def _collect(api: ApiClient, request: Any, params: dict[str, Any], name: str, ns: str
                   ) -> tuple[dict[str, Any] | None, list[str], list[str]]:
    gaps: list[str] = []
    base = f"/apis/apps/v1/namespaces/{ns}"
    argo = f"/apis/argoproj.io/v1alpha1/namespaces/{ns}"
    want_rollout = bool(params.get("rollout"))
    results: dict[str, Any] = {}
    errors: list[SourceError] = []

    async def fetch(key: str, coro: Any, default: Any) -> None:
        # Reads run concurrently; the first hard failure is raised once they are all done.
        try:
            results[key] = await _optional(coro, gaps, default)
        except SourceError as e:
            errors.append(e)
            results[key] = default

    async with anyio.create_task_group() as tg:
        if not want_rollout:
            tg.start_soon(fetch, "deployment", api.get(f"{base}/deployments/{name}", what=f"get deployments {ns}/{name}"), None)
        tg.start_soon(fetch, "rollout", api.get(f"{argo}/rollouts/{name}", what=f"get rollouts.argoproj.io {ns}/{name}"), None)
    if errors:
        raise errors[0]
    deployment, rollout = results.get("deployment"), results.get("rollout")
    if deployment is not None and rollout is None:
        gaps[:] = [g for g in gaps if "rollouts.argoproj.io" not in g]  # no Argo here: not a gap
    if rollout is not None:
        workload_obj, kind = rollout, "Rollout"
    elif deployment is not None:
        workload_obj, kind = deployment, "Deployment"
    else:
        what = "Argo Rollout" if want_rollout else "Deployment or Argo Rollout"
        if gaps:
            raise SourceError("; ".join(gaps))
        raise NotFound(f"no {what} named {name!r} in namespace {ns}")

    meta = workload_obj.get("metadata") or {}
    spec = workload_obj.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not selector and kind == "Rollout" and spec.get("workloadRef") and deployment is not None:
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not selector:
        raise SourceError(f"{kind} {ns}/{name} has no spec.selector.matchLabels")
    label_selector = _selector(selector)

    window = request.window
    sel = {"labelSelector": label_selector}
    async with anyio.create_task_group() as tg:
        tg.start_soon(fetch, "replicasets", api.list(f"{base}/replicasets", sel, what=f"list replicasets in {ns}"), [])
        tg.start_soon(fetch, "pods", api.list(f"/api/v1/namespaces/{ns}/pods", sel, what=f"list pods in {ns}"), [])
        tg.start_soon(fetch, "workload_events", api.list(
            f"/api/v1/namespaces/{ns}/events",
            {"fieldSelector": f"involvedObject.kind={kind},involvedObject.name={name}"},
            what=f"list events in {ns}"), [])
        tg.start_soon(fetch, "warnings", api.list(
            f"/api/v1/namespaces/{ns}/events", {"fieldSelector": "type=Warning"}, what=f"list events in {ns}"), [])
        if kind == "Rollout":
            tg.start_soon(fetch, "analysisruns", api.list(
                f"{argo}/analysisruns", what=f"list analysisruns.argoproj.io in {ns}"), [])
    if errors:
        raise errors[0]
    replicasets = results["replicasets"]
    pods = results["pods"]
    events = results["workload_events"] + results["warnings"]
    revisions, warnings = revisions_from_replicasets(
        replicasets, owner_uid=meta.get("uid"), owner_kind=kind, pods=pods, events=events)
    if not revisions:
        return None, warnings, gaps

    workload = Workload(kind=kind, name=name, namespace=ns, paused=bool(spec.get("paused")))
    if kind == "Deployment":
        status = deployment_status(workload_obj)
        canary = None
    else:
        st = workload_obj.get("status") or {}
        status = {"state": (st.get("phase") or "unknown").lower(), "message": st.get("message"),
                  "replicas": int(spec.get("replicas") or 0), "updated": int(st.get("updatedReplicas") or 0),
                  "ready": int(st.get("readyReplicas") or 0), "available": int(st.get("availableReplicas") or 0)}
        canary = argo_canary(workload_obj)

    newest = revisions[0]
    time_note = None
    if newest.history and newest.live_from is None:
        # A rollback reuses an old ReplicaSet (old creationTimestamp) and its scale-up events have
        # expired: the Progressing condition's last update is the best remaining clue.
        since = status.get("since") or _progressing_time(workload_obj)
        if since:
            revisions[0] = replace(newest, live_from=parse_time(since))
            time_note = "time of the current revision is from the Progressing condition (its events have expired)"

    min_healthy_s = parse_duration(params.get("min_healthy", DEFAULT_MIN_HEALTHY_S)).total_seconds()
    max_restarts = int(params.get("max_restarts", DEFAULT_MAX_RESTARTS))
    data = plan_rollback(revisions, workload=workload, now=request.at, canary=canary,
                         min_healthy_s=min_healthy_s, max_restarts=max_restarts)
    if time_note:
        data["notes"].append(time_note)
    cur_time = data["current"].get("time")
    data["in_window"] = bool(cur_time) and parse_time(cur_time) >= window.start
    if data["current"]["status"] == "live" and status.get("state") in ("progressing", "failed", "paused", "degraded"):
        data["current"]["status"] = status["state"]
    data["rollout"] = status
    data["selector"] = label_selector
    data["pods"] = _pods_summary(pods, revisions)
    data["restarts"] = {
        "total": sum(p["restarts"] for p in data["pods"]),
        "termination_reasons": _sum_counts(r.termination_reasons for r in revisions),
        "waiting_reasons": _sum_counts(r.waiting_reasons for r in revisions),
    }
    data["warnings"] = _warnings_in_window(events, window, name, [r.name for r in revisions])
    if kind == "Rollout":
        data["analysis_runs"] = analysis_runs(results.get("analysisruns") or [], owner_uid=meta.get("uid"),
                                              pod_hash=canary.canary_hash if canary else None)
    return data, warnings, gaps


def _progressing_time(obj: dict[str, Any]) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Progressing":
            return c.get("lastUpdateTime") or c.get("lastTransitionTime")
    return None


def _sum_counts(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def _memory_limit(pod: dict[str, Any]) -> int | None:
    """The pod's container memory limit (the largest, for several containers): what OOMKilled hits."""
    from ..units import parse_size

    limits = [parse_size(((c.get("resources") or {}).get("limits") or {}).get("memory"), si=True)
              for c in (pod.get("spec") or {}).get("containers") or []]
    return max((n for n in limits if n), default=None)


def _pods_summary(pods: list[dict[str, Any]], revisions: list[Any]) -> list[dict[str, Any]]:
    rev_of = {r.name: r.revision for r in revisions}
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        owner = next((ref.get("name") for ref in meta.get("ownerReferences") or [] if ref.get("kind") == "ReplicaSet"), None)
        if owner not in rev_of:
            continue
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        last = [cs.get("lastState", {}).get("terminated") for cs in statuses if (cs.get("lastState") or {}).get("terminated")]
        waiting = [cs["state"]["waiting"].get("reason") for cs in statuses if (cs.get("state") or {}).get("waiting")]
        out.append({
            "name": meta.get("name"),
            "revision": rev_of[owner],
            "phase": (pod.get("status") or {}).get("phase"),
            "ready": all(cs.get("ready") for cs in statuses) if statuses else False,
            "restarts": sum(int(cs.get("restartCount") or 0) for cs in statuses),
            "last_termination": {"reason": last[0].get("reason"), "exit_code": last[0].get("exitCode"),
                                 "finished_at": last[0].get("finishedAt")} if last else None,
            "waiting_reason": waiting[0] if waiting else None,
            "node": (pod.get("spec") or {}).get("nodeName"),
            "memory_limit_bytes": _memory_limit(pod),
        })
    out.sort(key=lambda p: (-p["restarts"], str(p["name"])))
    return out[:_MAX_PODS]


def _warnings_in_window(events: list[dict[str, Any]], window: Any, name: str, rs_names: list[str]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for ev in events:
        if ev.get("type") != "Warning":
            continue
        uid = (ev.get("metadata") or {}).get("uid") or (ev.get("metadata") or {}).get("name")
        if uid in seen:
            continue
        seen.add(str(uid))
        obj = ev.get("involvedObject") or ev.get("regarding") or {}
        oname = str(obj.get("name", ""))
        if not (oname == name or oname in rs_names or any(oname.startswith(r + "-") for r in rs_names)):
            continue
        t = event_time(ev)
        if t is None or not (window.start <= t <= window.end):
            continue
        first = ev.get("firstTimestamp")
        out.append({"time": t.isoformat(), "first_time": parse_time(first).isoformat() if first else None,
                    "reason": ev.get("reason"), "object": f"{obj.get('kind')}/{oname}",
                    "message": ev.get("message"), "count": int(ev.get("count") or 1)})
    out.sort(key=lambda e: e["time"])
    return out[-_MAX_WARNINGS:]
