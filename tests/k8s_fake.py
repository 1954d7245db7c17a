"""A fake Kubernetes API server on loopback, for the ``kubernetes`` collector tests.

The Kubernetes API cannot run on the test machine, so this small HTTP server
speaks the part of it ctxgrab reads (``shared/reference/kubernetes-deploys.md``):
GET of a Deployment or Argo Rollout, and lists of ReplicaSets, pods and events
with ``labelSelector``/``fieldSelector`` filtering, ``limit``/``continue``
pagination (a server may return fewer items than ``limit``), bearer-token auth
(401) and RBAC refusals (403 with a ``Status`` object).

The scenarios below are shaped like ``kubectl get -o json`` output of a real
cluster (managedFields left out): a plain rollout whose new pods are OOMKilled,
a ``kubectl rollout undo`` that renumbered an old ReplicaSet, and an Argo
Rollouts canary paused at 10%.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from copy import deepcopy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# --------------------------------------------------------------------------- server


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _matches_labels(obj: dict[str, Any], selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        k, _, v = term.partition("=")
        if labels.get(k) != v:
            return False
    return True


def _matches_fields(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        k, _, v = term.partition("=")
        if str(_get(obj, k)) != v:
            return False
    return True


class FakeKubeAPI:
    """Serves ``objects`` (path -> object) and ``lists`` (path -> items) on 127.0.0.1."""

    def __init__(self, *, token: str = "sa-token-1", max_page: int = 2, tls: tuple[str, str] | None = None) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, list[dict[str, Any]]] = {}
        self.forbidden: dict[str, str] = {}  # path -> "verb resource"
        self.token = token
        self.max_page = max_page
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._send(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": message, "reason": reason, "code": code})

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._status(401, "Unauthorized", "Unauthorized")
                    return
                if url.path in fake.forbidden:
                    verb_res = fake.forbidden[url.path]
                    ns = url.path.split("/namespaces/")[1].split("/")[0]
                    self._status(403, "Forbidden",
                                 f'{verb_res.split()[1]} is forbidden: User "system:serviceaccount:ops:ctxgrab" cannot '
                                 f'{verb_res.split()[0]} resource "{verb_res.split()[1]}" in API group "" in the namespace "{ns}"')
                    return
                if url.path in fake.objects:
                    self._send(200, fake.objects[url.path])
                    return
                if url.path in fake.lists:
                    items = [o for o in fake.lists[url.path]
                             if _matches_labels(o, query.get("labelSelector", ""))
                             and _matches_fields(o, query.get("fieldSelector", ""))]
                    start = int(base64.b64decode(query["continue"]).decode()) if query.get("continue") else 0
                    limit = min(int(query.get("limit", 500)), fake.max_page)
                    page = items[start:start + limit]
                    meta: dict[str, Any] = {"resourceVersion": "48213377"}
                    if start + limit < len(items):
                        meta["continue"] = base64.b64encode(str(start + limit).encode()).decode()
                    kind = url.path.rstrip("/").rsplit("/", 1)[-1]
                    self._send(200, {"kind": kind.capitalize()[:-1] + "List", "apiVersion": "v1", "metadata": meta,
                                     "items": page})
                    return
                name = url.path.rsplit("/", 1)[-1]
                resource = url.path.rsplit("/", 2)[-2]
                self._status(404, "NotFound", f'{resource} "{name}" not found')

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.port = self._server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "FakeKubeAPI":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def load(self, scenario: dict[str, Any]) -> "FakeKubeAPI":
        for path, obj in scenario["objects"].items():
            self.objects[path] = deepcopy(obj)
        for path, items in scenario["lists"].items():
            self.lists.setdefault(path, []).extend(deepcopy(items))
        return self


# --------------------------------------------------------------------------- payload builders

DEPLOYMENT_UID = "5b1c2f0e-8a51-4c3e-9d1a-3f6f2b7e9c41"
OTHER_UID = "0d8e2a77-1f35-4b55-a0c4-7e1d2c9b6a10"
ROLLOUT_UID = "a41f7c2e-6b0d-4e89-b3f5-92c8d1e0f7a6"


def _container(image: str) -> dict[str, Any]:
    return {
        "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
        "env": [{"name": "JAVA_TOOL_OPTIONS", "value": "-XX:MaxRAMPercentage=75"}],
        "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 5},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }


def replicaset(name: str, pod_hash: str, image: str, created: str, revision: int, replicas: int, *,
               owner: str = "payments", owner_uid: str = DEPLOYMENT_UID, owner_kind: str = "Deployment",
               history: str | None = None, cause: str | None = None, app: str = "payments", ns: str = "prod",
               restarted_at: str | None = None) -> dict[str, Any]:
    argo = owner_kind == "Rollout"
    hash_label = "rollouts-pod-template-hash" if argo else "pod-template-hash"
    ann: dict[str, str] = (
        {"rollout.argoproj.io/revision": str(revision), "rollout.argoproj.io/desired-replicas": "5"} if argo else
        {"deployment.kubernetes.io/revision": str(revision), "deployment.kubernetes.io/desired-replicas": "3",
         "deployment.kubernetes.io/max-replicas": "4"}
    )
    if history:
        ann["deployment.kubernetes.io/revision-history"] = history
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    tmpl_meta: dict[str, Any] = {"creationTimestamp": None, "labels": {"app": app, hash_label: pod_hash}}
    if restarted_at:
        tmpl_meta["annotations"] = {"kubectl.kubernetes.io/restartedAt": restarted_at}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": name, "namespace": ns, "uid": f"rs-{pod_hash}", "resourceVersion": "48211002", "generation": 3,
            "creationTimestamp": created, "labels": {"app": app, hash_label: pod_hash}, "annotations": ann,
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1" if argo else "apps/v1", "kind": owner_kind,
                                 "name": owner, "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app, hash_label: pod_hash}},
                 "template": {"metadata": tmpl_meta,
                              "spec": {"containers": [_container(image)], "restartPolicy": "Always",
                                       "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst"}}},
        "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                   "availableReplicas": replicas, "observedGeneration": 3},
    }


def pod(name: str, rs: str, pod_hash: str, image: str, digest: str, *, restarts: int = 0, oom_at: str | None = None,
        waiting: str | None = None, ready: bool = True, app: str = "payments", ns: str = "prod",
        argo: bool = False, started: str = "2026-03-04T08:52:14Z") -> dict[str, Any]:
    hash_label = "rollouts-pod-template-hash" if argo else "pod-template-hash"
    cs: dict[str, Any] = {"name": "app", "image": image, "imageID": f"{image.rsplit(':', 1)[0]}@sha256:{digest}",
                          "containerID": f"containerd://{digest[:12]}9f", "ready": ready, "started": ready,
                          "restartCount": restarts, "lastState": {},
                          "state": {"running": {"startedAt": started}}}
    if oom_at:
        cs["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": started,
                                          "finishedAt": oom_at, "containerID": f"containerd://{digest[:12]}1a"}}
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting,
                                   "message": f"back-off 2m40s restarting failed container=app pod={name}_{ns}"}}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": f"pod-{name}", "creationTimestamp": started,
                     "labels": {"app": app, hash_label: pod_hash}, "generateName": rs + "-",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                          "uid": f"rs-{pod_hash}", "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"nodeName": "ip-10-0-12-34.eu-west-1.compute.internal", "containers": [_container(image)]},
        "status": {"phase": "Running", "podIP": "10.0.12.77", "startTime": started,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                   "containerStatuses": [cs]},
    }


def event(name: str, *, kind: str, obj: str, reason: str, message: str, last: str, first: str | None = None,
          count: int = 1, type_: str = "Normal", ns: str = "prod", component: str = "deployment-controller"
          ) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{obj}.{name}", "namespace": ns, "uid": f"ev-{name}", "creationTimestamp": first or last},
        "involvedObject": {"kind": kind, "namespace": ns, "name": obj,
                           "apiVersion": "v1" if kind == "Pod" else "apps/v1"},
        "reason": reason, "message": message, "source": {"component": component},
        "firstTimestamp": first or last, "lastTimestamp": last, "count": count, "type": type_,
        "eventTime": None, "reportingComponent": component, "reportingInstance": "",
    }


def deployment(revision: int, image: str, *, ready: int, updated: int = 3, progressing: tuple[str, str, str],
               ns: str = "prod", paused: bool = False) -> dict[str, Any]:
    reason, message, when = progressing
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "payments", "namespace": ns, "uid": DEPLOYMENT_UID, "generation": 17,
                     "resourceVersion": "48212950", "creationTimestamp": "2025-11-03T10:12:44Z",
                     "labels": {"app": "payments", "team": "billing"},
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "payments"}}, "paused": paused,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                 "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                 "template": {"metadata": {"labels": {"app": "payments"}},
                              "spec": {"containers": [_container(image)]}}},
        "status": {"observedGeneration": 17, "replicas": 3, "updatedReplicas": updated, "readyReplicas": ready,
                   "availableReplicas": ready, "unavailableReplicas": 3 - ready,
                   "conditions": [
                       {"type": "Available", "status": "True" if ready >= 2 else "False",
                        "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.",
                        "lastUpdateTime": when, "lastTransitionTime": when},
                       {"type": "Progressing", "status": "False" if reason == "ProgressDeadlineExceeded" else "True",
                        "reason": reason, "message": message, "lastUpdateTime": when,
                        "lastTransitionTime": "2026-03-04T08:52:10Z"}]},
    }


A = "/apis/apps/v1/namespaces/prod"
C = "/api/v1/namespaces/prod"
RS10 = ("payments-5f8d7c9b4", "5f8d7c9b4", "reg.example/payments:2.29.4", "2026-02-20T09:00:03Z")
RS11 = ("payments-6b7c8d9e5", "6b7c8d9e5", "reg.example/payments:2.30.0", "2026-02-27T14:00:07Z")
RS12 = ("payments-7d9c6b5f4", "7d9c6b5f4", "reg.example/payments:2.31.0", "2026-03-04T08:52:10Z")


def _foreign_rs() -> dict[str, Any]:
    # Same app label, owned by another Deployment (a shadow/load-test copy): must not join the history.
    return replicaset("payments-shadow-8c7b6a5d4", "8c7b6a5d4", "reg.example/payments:3.0.0-rc1",
                      "2026-03-04T09:10:00Z", 31, 1, owner="payments-shadow", owner_uid=OTHER_UID)


def _oom_pods() -> list[dict[str, Any]]:
    n, h, img, _ = RS12
    return [
        pod(f"{n}-x2x7k", n, h, img, "9c1e" * 16, restarts=4, oom_at="2026-03-04T09:48:31Z", waiting="CrashLoopBackOff",
            ready=False),
        pod(f"{n}-p8m4q", n, h, img, "9c1e" * 16, restarts=2, oom_at="2026-03-04T09:41:02Z"),
        pod(f"{n}-d5t9w", n, h, img, "9c1e" * 16, restarts=0),
    ]


def _oom_warnings() -> list[dict[str, Any]]:
    n = RS12[0]
    return [
        event("17f9a1", kind="Pod", obj=f"{n}-x2x7k", reason="BackOff", type_="Warning", component="kubelet",
              message="Back-off restarting failed container app in pod payments-7d9c6b5f4-x2x7k_prod(pod-x2x7k)",
              first="2026-03-04T09:12:40Z", last="2026-03-04T09:49:10Z", count=9),
        event("17f9a2", kind="Pod", obj=f"{n}-p8m4q", reason="Unhealthy", type_="Warning", component="kubelet",
              message="Readiness probe failed: Get \"http://10.0.12.77:8080/health/ready\": context deadline exceeded",
              first="2026-03-04T09:40:50Z", last="2026-03-04T09:41:00Z", count=3),
        # Another workload's warning, and one of ours from before the window: both must be left out.
        event("17f9a3", kind="Pod", obj="ledger-5c4b3a2f1-abcde", reason="BackOff", type_="Warning",
              component="kubelet", message="Back-off pulling image", last="2026-03-04T09:30:00Z", count=40),
        event("17f9a4", kind="Deployment", obj="payments", reason="FailedCreate", type_="Warning",
              message="quota exceeded", last="2026-03-04T06:10:00Z"),
    ]


def plain_rollout() -> dict[str, Any]:
    """Revision 12 (2.31.0) rolled out at 08:52 over 11 (2.30.0, 5 days); its pods get OOMKilled."""
    return {
        "objects": {f"{A}/deployments/payments": deployment(
            12, RS12[2], ready=2, progressing=("NewReplicaSetAvailable",
                                               'ReplicaSet "payments-7d9c6b5f4" has successfully progressed.',
                                               "2026-03-04T08:54:02Z"))},
        "lists": {
            f"{A}/replicasets": [
                replicaset(*RS10, 10, 0, cause="deploy v2.29.4"),
                replicaset(*RS11, 11, 0, cause="deploy v2.30.0"),
                replicaset(*RS12, 12, 3, cause="deploy v2.31.0"),
                _foreign_rs(),
            ],
            f"{C}/pods": _oom_pods(),
            f"{C}/events": [
                event("1", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled up replica set payments-7d9c6b5f4 to 1", last="2026-03-04T08:52:10Z"),
                event("2", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled down replica set payments-6b7c8d9e5 to 2 from 3", last="2026-03-04T08:52:41Z"),
                event("3", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled up replica set payments-7d9c6b5f4 to 3 from 2", last="2026-03-04T08:53:20Z"),
                event("4", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled down replica set payments-6b7c8d9e5 to 0 from 1", last="2026-03-04T08:53:58Z"),
                *_oom_warnings(),
            ],
        },
    }


def rolled_back() -> dict[str, Any]:
    """After 12 (2.31.0) crashed, ``kubectl rollout undo`` at 09:31 renumbered 11 (2.30.0) to 13."""
    n12, h12, img12, c12 = RS12
    return {
        "objects": {f"{A}/deployments/payments": deployment(
            13, RS11[2], ready=3, progressing=("NewReplicaSetAvailable",
                                               'ReplicaSet "payments-6b7c8d9e5" has successfully progressed.',
                                               "2026-03-04T09:32:31Z"))},
        "lists": {
            f"{A}/replicasets": [
                replicaset(*RS10, 10, 0, cause="deploy v2.29.4"),
                replicaset(*RS12, 12, 0, cause="deploy v2.31.0"),
                replicaset(*RS11, 13, 3, history="11", cause="deploy v2.30.0"),
                _foreign_rs(),
            ],
            f"{C}/pods": [
                pod(f"{RS11[0]}-{s}", RS11[0], RS11[1], RS11[2], "41ab" * 16, started="2026-03-04T09:31:09Z")
                for s in ("k7h2n", "r3v8c", "z9w4f")
            ],
            f"{C}/events": [
                event("1", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled up replica set payments-7d9c6b5f4 to 3 from 2", last="2026-03-04T08:53:20Z"),
                event("2", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled down replica set payments-6b7c8d9e5 to 0 from 1", last="2026-03-04T08:53:58Z"),
                event("5", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled up replica set payments-6b7c8d9e5 to 1", last="2026-03-04T09:31:05Z"),
                event("6", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled up replica set payments-6b7c8d9e5 to 3 from 1", last="2026-03-04T09:31:52Z"),
                event("7", kind="Deployment", obj="payments", reason="ScalingReplicaSet",
                      message="Scaled down replica set payments-7d9c6b5f4 to 0 from 1", last="2026-03-04T09:32:30Z"),
                event("8", kind="Deployment", obj="payments", reason="DeploymentRollback",
                      message="Rolled back deployment \"payments\" to revision 11", last="2026-03-04T09:31:04Z"),
                *_oom_warnings(),
            ],
        },
    }


SA = "/apis/argoproj.io/v1alpha1/namespaces/shop"
SC = "/api/v1/namespaces/shop"
RS_CHK6 = ("checkout-7b8c9d6e4", "7b8c9d6e4", "reg.example/checkout:4.11.2", "2026-02-24T16:20:00Z")
RS_CHK7 = ("checkout-59f6d4b7c8", "59f6d4b7c8", "reg.example/checkout:4.12.0", "2026-03-01T11:00:12Z")
RS_CHK8 = ("checkout-6c9f7b8d5", "6c9f7b8d5", "reg.example/checkout:4.13.0", "2026-03-04T09:40:00Z")


def argo_canary() -> dict[str, Any]:
    """Argo Rollout ``checkout``: 4.13.0 on a canary paused at step 1 (weight 10%) over stable 4.12.0."""
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop", "uid": ROLLOUT_UID, "generation": 9,
                     "creationTimestamp": "2025-12-01T08:00:00Z", "annotations": {"rollout.argoproj.io/revision": "8"}},
        "spec": {
            "replicas": 5, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}},
                         "spec": {"containers": [_container(RS_CHK8[2])]}},
            "strategy": {"canary": {
                "canaryService": "checkout-canary", "stableService": "checkout-stable",
                "trafficRouting": {"nginx": {"stableIngress": "checkout"}},
                "steps": [{"setWeight": 10}, {"pause": {"duration": "10m"}}, {"setWeight": 30},
                          {"pause": {}}, {"analysis": {"templates": [{"templateName": "success-rate"}]}},
                          {"setWeight": 60}, {"pause": {"duration": "10m"}}],
            }},
        },
        "status": {
            "phase": "Paused", "message": "CanaryPauseStep", "observedGeneration": "9",
            "currentPodHash": RS_CHK8[1], "stableRS": RS_CHK7[1], "currentStepIndex": 1,
            "currentStepHash": "5d6c7b8f9", "replicas": 6, "updatedReplicas": 1, "readyReplicas": 6,
            "availableReplicas": 6, "HPAReplicas": 6, "selector": "app=checkout",
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-03-04T09:41:30Z"}],
            "canary": {"weights": {"canary": {"podTemplateHash": RS_CHK8[1], "serviceName": "checkout-canary",
                                              "weight": 10},
                                   "stable": {"podTemplateHash": RS_CHK7[1], "serviceName": "checkout-stable",
                                              "weight": 90}}},
            "conditions": [
                {"type": "Paused", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused",
                 "lastUpdateTime": "2026-03-04T09:41:30Z", "lastTransitionTime": "2026-03-04T09:41:30Z"},
                {"type": "Progressing", "status": "True", "reason": "RolloutPaused", "message": "Rollout is paused",
                 "lastUpdateTime": "2026-03-04T09:41:30Z", "lastTransitionTime": "2026-03-04T09:41:30Z"}],
        },
    }
    kw = dict(owner="checkout", owner_uid=ROLLOUT_UID, owner_kind="Rollout", app="checkout", ns="shop")
    return {
        "objects": {f"{SA}/rollouts/checkout": rollout},
        "lists": {
            "/apis/apps/v1/namespaces/shop/replicasets": [
                replicaset(*RS_CHK6, 6, 0, **kw),
                replicaset(*RS_CHK7, 7, 5, **kw),
                replicaset(*RS_CHK8, 8, 1, **kw),
            ],
            f"{SC}/pods": [
                *(pod(f"{RS_CHK7[0]}-{s}", RS_CHK7[0], RS_CHK7[1], RS_CHK7[2], "77de" * 16, app="checkout", ns="shop",
                      argo=True, started="2026-03-01T11:00:40Z") for s in ("a1b2c", "d3e4f", "g5h6i", "j7k8l", "m9n0p")),
                pod(f"{RS_CHK8[0]}-q1r2s", RS_CHK8[0], RS_CHK8[1], RS_CHK8[2], "13f0" * 16, app="checkout", ns="shop",
                    argo=True, started="2026-03-04T09:40:05Z"),
            ],
            f"{SC}/events": [
                event("c1", kind="Rollout", obj="checkout", reason="RolloutUpdated", ns="shop",
                      component="rollouts-controller",
                      message="Rollout updated to revision 8", last="2026-03-04T09:40:00Z"),
                event("c2", kind="Rollout", obj="checkout", reason="ScalingReplicaSet", ns="shop",
                      component="rollouts-controller",
                      message="Scaled up ReplicaSet checkout-6c9f7b8d5 (revision 8) from 0 to 1",
                      last="2026-03-04T09:40:01Z"),
                event("c3", kind="Rollout", obj="checkout", reason="RolloutStepCompleted", ns="shop",
                      component="rollouts-controller",
                      message="Rollout step 1/7 completed (setWeight: 10)", last="2026-03-04T09:41:30Z"),
                event("c4", kind="Rollout", obj="checkout", reason="RolloutPaused", ns="shop",
                      component="rollouts-controller",
                      message="Rollout is paused (CanaryPauseStep)", last="2026-03-04T09:41:30Z"),
            ],
            f"{SA}/analysisruns": [],
        },
    }


def argo_aborted() -> dict[str, Any]:
    """The same canary after its success-rate analysis failed: Argo aborted it, traffic back on 4.12.0."""
    sc = argo_canary()
    ro = sc["objects"][f"{SA}/rollouts/checkout"]
    ro["status"].update({
        "phase": "Degraded", "abort": True, "abortedAt": "2026-03-04T09:56:40Z", "currentStepIndex": 4,
        "message": 'RolloutAborted: Rollout aborted update to revision 8: Metric "success-rate" assessed Failed '
                   "due to failed (3) > failureLimit (2)",
        "pauseConditions": None, "updatedReplicas": 0,
        "canary": {"weights": {"canary": {"podTemplateHash": RS_CHK8[1], "serviceName": "checkout-canary",
                                          "weight": 0},
                               "stable": {"podTemplateHash": RS_CHK7[1], "serviceName": "checkout-stable",
                                          "weight": 100}},
                   "currentStepAnalysisRunStatus": {"name": "checkout-6c9f7b8d5-8-4", "status": "Failed",
                                                    "message": 'Metric "success-rate" assessed Failed due to failed '
                                                               "(3) > failureLimit (2)"}},
    })
    ro["status"].pop("pauseConditions")

    def run(name: str, created: str, phase: str, value: str, failed: int, pod_hash: str) -> dict[str, Any]:
        return {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
                         "labels": {"rollout-type": "Step", "rollouts-pod-template-hash": pod_hash,
                                    "step-index": "4"},
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                              "name": "checkout", "uid": ROLLOUT_UID, "controller": True}]},
            "spec": {"metrics": [{"name": "success-rate", "interval": "1m", "failureLimit": 2,
                                  "successCondition": "result[0] >= 0.95",
                                  "provider": {"prometheus": {"address": "http://prometheus.monitoring:9090",
                                                              "query": "sum(rate(http_requests_total{app=\"checkout\","
                                                                       "code!~\"5..\"}[2m])) / sum(rate("
                                                                       "http_requests_total{app=\"checkout\"}[2m]))"}}}]},
            "status": {"phase": phase, "startedAt": created,
                       "message": 'Metric "success-rate" assessed Failed due to failed (3) > failureLimit (2)'
                       if phase == "Failed" else None,
                       "metricResults": [{"name": "success-rate", "phase": phase, "count": 3 if failed else 5,
                                          "successful": 0 if failed else 5, "failed": failed,
                                          "measurements": [{"phase": phase, "value": value,
                                                            "startedAt": created, "finishedAt": created}]}]},
        }

    sc["lists"][f"{SA}/analysisruns"] = [
        run("checkout-59f6d4b7c8-7-4", "2026-03-01T11:20:00Z", "Successful", "[0.998]", 0, RS_CHK7[1]),
        run("checkout-6c9f7b8d5-8-4", "2026-03-04T09:53:40Z", "Failed", "[0.912]", 3, RS_CHK8[1]),
    ]
    sc["lists"][f"{SC}/events"].append(
        event("c9", kind="Rollout", obj="checkout", reason="RolloutAborted", ns="shop", type_="Warning",
              component="rollouts-controller", last="2026-03-04T09:56:40Z",
              message='Rollout aborted update to revision 8: Metric "success-rate" assessed Failed due to failed (3) '
                      "> failureLimit (2)"))
    return sc
