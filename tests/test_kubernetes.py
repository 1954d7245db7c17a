"""The ``kubernetes`` collector against a fake Kubernetes API server on loopback.

The Kubernetes API cannot run here; ``k8s_fake`` serves realistic payloads of a
plain rollout with OOMKilled pods, a ``kubectl rollout undo`` and an Argo canary.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import anyio
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

import k8s_fake  # noqa: E402
from conftest import missing  # noqa: E402

from ctxgrab.collectors import CollectRequest  # noqa: E402
from ctxgrab.collectors import kubernetes as kube  # noqa: E402
from ctxgrab.evidence import Status  # noqa: E402
from ctxgrab.timeutil import Window, parse_time  # noqa: E402

AT = parse_time("2026-03-04T10:00:00Z")
TOKEN = "eyJhbGciOiJSUzI1NiJ9.sa-token-1"


def request(sources: dict, at=AT, since_h: float = 2) -> CollectRequest:
    window = Window.ending(at, timedelta(hours=since_h))
    return CollectRequest(service="payments", window=window, baseline=None, at=at, base_dir=Path("."),
                          config=SimpleNamespace(sources=sources))  # type: ignore[arg-type]


def run(api: k8s_fake.FakeKubeAPI, params: dict, **kw):
    src = {"k8s": {"type": "kubernetes", "url": api.url, "bearer_token": TOKEN}}
    return anyio.run(kube.collect, request(src, **kw), {"source": "k8s", **params})


@pytest.fixture
def fake():
    with k8s_fake.FakeKubeAPI(token=TOKEN) as api:
        yield api


def test_plain_rollout_gives_the_rollback_plan(fake):
    fake.load(k8s_fake.plain_rollout())
    ev = run(fake, {"deployment": "payments", "namespace": "prod"})
    assert ev.status is Status.ok, ev.reason
    assert ev.kind == "deploys"
    d = ev.data
    cur, prev, lkg = d["current"], d["previous"], d["last_known_good"]
    assert (cur["revision"], cur["version"], cur["time"]) == (12, "2.31.0", "2026-03-04T08:52:10+00:00")
    assert cur["change"] == "release" and cur["rollback_of"] is None
    assert cur["images"] == ["reg.example/payments:2.31.0"]
    assert cur["image_ids"] == ["reg.example/payments@sha256:" + "9c1e" * 16]
    assert (prev["revision"], prev["version"]) == (11, "2.30.0")
    assert (lkg["revision"], lkg["version"], lkg["target_revision"]) == (11, "2.30.0", 11)
    # 11 ran from 2026-02-27T14:00:07 to 2026-03-04T08:52:10.
    assert lkg["ran_s"] == (parse_time("2026-03-04T08:52:10Z") - parse_time("2026-02-27T14:00:07Z")).total_seconds()
    assert d["since_current_s"] == 4070.0  # 08:52:10 -> 10:00:00
    assert d["in_window"] is True
    assert d["rollback_command"] == "kubectl rollout undo deployment/payments -n prod --to-revision=11"
    assert d["rollback"]["is_rollback"] is False
    # The shadow Deployment's ReplicaSet matches the selector but is not ours.
    assert [e["revision"] for e in d["events"]] == [10, 11, 12]
    assert all("shadow" not in e["replicaset"] for e in d["events"])
    # Restarts and why.
    assert d["restarts"]["total"] == 6
    assert d["restarts"]["termination_reasons"] == {"OOMKilled": 2}
    assert d["restarts"]["waiting_reasons"] == {"CrashLoopBackOff": 1}
    assert cur["restarts"] == 6 and cur["termination_reasons"] == {"OOMKilled": 2}
    assert d["pods"][0]["name"] == "payments-7d9c6b5f4-x2x7k" and d["pods"][0]["last_termination"]["exit_code"] == 137
    assert "current revision 12 is unstable: 6 container restarts (OOMKilled ×2), 9 back-off/OOM events" in d["notes"]
    # Warnings in the window, ours only.
    assert [(w["reason"], w["object"], w["count"], w["time"]) for w in d["warnings"]] == [
        ("Unhealthy", "Pod/payments-7d9c6b5f4-p8m4q", 3, "2026-03-04T09:41:00+00:00"),
        ("BackOff", "Pod/payments-7d9c6b5f4-x2x7k", 9, "2026-03-04T09:49:10+00:00"),
    ]
    assert d["warnings"][1]["first_time"] == "2026-03-04T09:12:40+00:00"
    assert d["rollout"]["state"] == "progressing" and d["rollout"]["available"] == 2
    assert d["gaps"] == []


def test_pagination_and_selectors_are_sent(fake):
    fake.load(k8s_fake.plain_rollout())
    fake.max_page = 1
    ev = run(fake, {"deployment": "payments", "namespace": "prod"})
    assert ev.status is Status.ok
    assert [e["revision"] for e in ev.data["events"]] == [10, 11, 12]
    rs_requests = [r for r in fake.requests if "/replicasets" in r]
    assert len(rs_requests) == 4  # 4 matching ReplicaSets, one per page
    assert all("labelSelector=app%3Dpayments" in r for r in rs_requests)
    assert any("fieldSelector=involvedObject.kind%3DDeployment%2CinvolvedObject.name%3Dpayments" in r
               for r in fake.requests)


def test_rollback_is_reported_as_a_rollback_not_a_release(fake):
    fake.load(k8s_fake.rolled_back())
    ev = run(fake, {"deployment": "payments", "namespace": "prod"})
    assert ev.status is Status.ok, ev.reason
    d = ev.data
    cur = d["current"]
    assert (cur["revision"], cur["version"], cur["change"], cur["rollback_of"]) == (13, "2.30.0", "rollback", 11)
    # It went live again at the scale-up after its scale-down to 0, not at its old creationTimestamp.
    assert cur["time"] == "2026-03-04T09:31:05+00:00"
    assert d["since_current_s"] == (AT - parse_time("2026-03-04T09:31:05Z")).total_seconds()
    assert d["rollback"] == {"is_rollback": True, "of_revision": 11,
                             "message": "revision 13 is a rollback to revision 11 (reg.example/payments:2.30.0), "
                                        "not a new release"}
    assert (d["previous"]["revision"], d["previous"]["version"]) == (12, "2.31.0")
    # 12 ran 39 min but its pods were in back-off: not good. 11 is the current ReplicaSet. So 10.
    assert (d["last_known_good"]["revision"], d["last_known_good"]["version"]) == (10, "2.29.4")
    assert d["rollback_command"] == "kubectl rollout undo deployment/payments -n prod --to-revision=10"
    by_rev = {e["revision"]: e for e in d["events"]}
    assert by_rev[11]["status"] == "renumbered" and by_rev[11]["replicaset"] == "payments-6b7c8d9e5"
    assert by_rev[12]["restart_events"] == 9  # BackOff events of its (now gone) pods
    assert d["rollout"]["state"] == "complete"
    assert d["restarts"]["total"] == 0


def test_argo_canary_in_progress(fake):
    fake.load(k8s_fake.argo_canary())
    ev = run(fake, {"deployment": "checkout", "namespace": "shop"})
    assert ev.status is Status.ok, ev.reason
    d = ev.data
    assert d["workload"]["kind"] == "Rollout"
    cur, prev = d["current"], d["previous"]
    assert (cur["revision"], cur["version"], cur["status"], cur["canary_weight"]) == (8, "4.13.0", "canary", 10)
    assert (prev["revision"], prev["version"], prev["status"], prev["canary_weight"]) == (7, "4.12.0", "stable", 90)
    c = d["canary"]
    assert (c["weight"], c["step_index"], c["steps_total"], c["step"]) == (10, 1, 7, "pause 10m")
    assert c["paused"] and c["pause_reasons"] == ["CanaryPauseStep"] and c["in_progress"]
    assert d["last_known_good"]["revision"] == 7
    assert d["rollback_command"] == "kubectl argo rollouts abort checkout -n shop"
    assert d["rollback_steps"][1]["command"] == "kubectl argo rollouts undo checkout -n shop --to-revision=7"
    assert d["since_current_s"] == 1200.0
    assert d["rollout"]["state"] == "paused"
    # The Deployments API answered 404 for checkout: not a gap.
    assert d["gaps"] == []


def test_argo_canary_aborted_by_failed_analysis(fake):
    fake.load(k8s_fake.argo_aborted())
    ev = run(fake, {"rollout": "checkout", "namespace": "shop"})
    assert ev.status is Status.ok, ev.reason
    d = ev.data
    assert (d["current"]["status"], d["current"]["canary_weight"]) == ("aborted", 0)
    assert (d["previous"]["version"], d["previous"]["status"], d["previous"]["canary_weight"]) == ("4.12.0", "stable", 100)
    assert d["canary"]["aborted"] and d["canary"]["phase"] == "Degraded"
    # Traffic is already back on stable: the command makes that permanent, no abort needed.
    assert d["rollback_command"] == "kubectl argo rollouts undo checkout -n shop --to-revision=7"
    (run_,) = d["analysis_runs"]  # only the canary revision's run
    assert (run_["name"], run_["phase"]) == ("checkout-6c9f7b8d5-8-4", "Failed")
    assert run_["metrics"] == [{"name": "success-rate", "phase": "Failed", "count": 3, "successful": 0,
                                "failed": 3, "inconclusive": None, "error": None, "last_value": "[0.912]",
                                "message": None}]
    assert [w["reason"] for w in d["warnings"]] == ["RolloutAborted"]
    text = _render_section(ev)
    assert "- Current: **4.13.0** (Rollout shop/checkout revision 8), live since 2026-03-04 09:40 UTC" in text
    assert ", ABORTED;" in text or ", ABORTED." in text
    assert "- Analysis run checkout-6c9f7b8d5-8-4: Failed; success-rate Failed (3 failed of 3, last value [0.912])" in text


def test_forbidden_resource_becomes_a_gap_and_the_rest_renders(fake):
    fake.load(k8s_fake.plain_rollout())
    fake.forbidden["/api/v1/namespaces/prod/pods"] = "list pods"
    ev = run(fake, {"deployment": "payments", "namespace": "prod"})
    assert ev.status is Status.ok
    assert len(ev.data["gaps"]) == 1 and "list pods in prod" in ev.data["gaps"][0]
    assert 'cannot list resource "pods"' in ev.data["gaps"][0]
    assert ev.data["current"]["revision"] == 12 and ev.data["pods"] == []
    assert ev.data["current"]["restarts"] is None  # unknown, not zero


def test_missing_deployment_and_bad_token_are_stated(fake):
    fake.load(k8s_fake.plain_rollout())
    ev = run(fake, {"deployment": "ledger", "namespace": "prod"})
    assert ev.status is Status.error
    assert "no Deployment or Argo Rollout named 'ledger' in namespace prod" in ev.reason
    src = {"k8s": {"type": "kubernetes", "url": fake.url, "bearer_token": "wrong"}}
    ev = anyio.run(kube.collect, request(src), {"source": "k8s", "deployment": "payments", "namespace": "prod"})
    assert ev.status is Status.error and "rejected the credentials" in ev.reason


def test_unreachable_server_is_an_error_evidence():
    src = {"k8s": {"type": "kubernetes", "url": "http://127.0.0.1:9", "bearer_token": TOKEN}}
    ev = anyio.run(kube.collect, request(src), {"source": "k8s", "deployment": "payments", "namespace": "prod"})
    assert ev.status is Status.error and "unreachable" in ev.reason


def test_kubeconfig_context_supplies_server_token_and_namespace(fake, tmp_path):
    fake.load(k8s_fake.plain_rollout())
    kc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "staging",
        "clusters": [{"name": "prod-eu", "cluster": {"server": fake.url}},
                     {"name": "staging", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "ops", "user": {"token": TOKEN}}, {"name": "dev", "user": {"token": "nope"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod-eu", "user": "ops", "namespace": "prod"}},
                     {"name": "staging", "context": {"cluster": "staging", "user": "dev"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kc))
    src = {"k8s": {"type": "kubernetes", "kubeconfig": str(path), "context": "prod"}}
    ev = anyio.run(kube.collect, request(src), {"source": "k8s", "deployment": "payments"})
    assert ev.status is Status.ok, ev.reason
    assert ev.title == "Deployment prod/payments" and ev.data["current"]["revision"] == 12
    src["k8s"]["context"] = "qa"
    ev = anyio.run(kube.collect, request(src), {"source": "k8s", "deployment": "payments"})
    assert ev.status is Status.error and "context 'qa' not found (contexts: prod, staging)" in ev.reason


def test_kubeconfig_exec_plugin_token(fake, tmp_path):
    fake.load(k8s_fake.plain_rollout())
    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                      f"\"status\":{{\"token\":\"'$TOKEN_PREFIX'{TOKEN[len('eyJ'):]}\"}}}}'\n")
    plugin.chmod(0o755)
    kc = {"current-context": "c", "clusters": [{"name": "k", "cluster": {"server": fake.url}}],
          "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                      "command": str(plugin), "args": [],
                                                      "env": [{"name": "TOKEN_PREFIX", "value": "eyJ"}]}}}],
          "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "prod"}}]}
    (tmp_path / "kc").write_text(yaml.safe_dump(kc))
    src = {"k8s": {"type": "kubernetes", "kubeconfig": str(tmp_path / "kc")}}
    ev = anyio.run(kube.collect, request(src), {"source": "k8s", "deployment": "payments"})
    assert ev.status is Status.ok, ev.reason


@pytest.fixture
def tls_cert(tmp_path):
    if shutil.which("openssl") is None:
        missing("openssl not installed: cannot make a certificate for the in-cluster TLS test")
    crt, key = tmp_path / "ca.crt", tmp_path / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kubernetes",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def test_in_cluster_service_account_rereads_the_rotated_token(tmp_path, tls_cert, monkeypatch):
    crt, key = tls_cert
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "ca.crt").write_bytes(crt.read_bytes())
    (sa / "namespace").write_text("prod")
    (sa / "token").write_text("bound-token-1")
    with k8s_fake.FakeKubeAPI(token="bound-token-1", tls=(str(crt), str(key))) as api:
        api.load(k8s_fake.plain_rollout())
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(api.port))
        monkeypatch.setattr(kube, "SERVICEACCOUNT_DIR", sa)

        async def two_reads():
            client = await kube.connect({}, serviceaccount_dir=sa)
            async with client:
                first = await client.get("/apis/apps/v1/namespaces/prod/deployments/payments")
                # The kubelet rotates the token file; the next request must use the new token.
                (sa / "token").write_text("bound-token-2")
                api.token = "bound-token-2"
                second = await client.get("/apis/apps/v1/namespaces/prod/deployments/payments")
            return client.auth, first, second

        auth, first, second = anyio.run(two_reads)
        assert auth.server == f"https://127.0.0.1:{api.port}" and auth.namespace == "prod"
        assert first["metadata"]["name"] == second["metadata"]["name"] == "payments"
        # The namespace comes from the service account when the params give none.
        ev = anyio.run(kube.collect, request({}), {"deployment": "payments"})
        assert ev.status is Status.ok, ev.reason
        assert ev.title == "Deployment prod/payments"
        assert "in-cluster service account" in ev.source


def _render_section(ev) -> str:
    from ctxgrab.render import environment

    return environment().get_template("sections/deploys.md.j2").render(ev=ev)


def test_deploys_section_shows_the_plan_for_each_scenario(fake):
    fake.load(k8s_fake.plain_rollout())
    ev = run(fake, {"deployment": "payments", "namespace": "prod"})
    text = _render_section(ev)
    assert ("- Current: **2.31.0** (Deployment prod/payments revision 12, \"deploy v2.31.0\"), live since "
            "2026-03-04 08:52:10 UTC (1 h 8 min ago), status progressing.") in text
    assert "- Last known good: **2.30.0** (revision 11), live from 2026-02-27 14:00:07 UTC for 4 d 18 h" in text
    assert "- Rollback: `kubectl rollout undo deployment/payments -n prod --to-revision=11`" in text
    assert "6 container restarts, last terminated by OOMKilled ×2; now waiting in CrashLoopBackOff ×1" in text
    assert "09:49 BackOff Pod/payments-7d9c6b5f4-x2x7k ×9: Back-off restarting failed container" in text
    assert "rollback, not a new release" not in text


def test_deploys_section_rollback_and_canary():
    with k8s_fake.FakeKubeAPI(token=TOKEN) as api:
        api.load(k8s_fake.rolled_back())
        text = _render_section(run(api, {"deployment": "payments", "namespace": "prod"}))
    assert ("- This revision is a **rollback**: revision 13 is a rollback to revision 11 "
            "(reg.example/payments:2.30.0), not a new release.") in text
    assert "`kubectl rollout undo deployment/payments -n prod --to-revision=10`" in text
    with k8s_fake.FakeKubeAPI(token=TOKEN) as api:
        api.load(k8s_fake.argo_canary())
        text = _render_section(run(api, {"deployment": "checkout", "namespace": "shop"}))
    assert "status canary, canary at 10% of traffic" in text
    assert "- Canary: step 2 of 7 (pause 10m), phase Paused, paused (CanaryPauseStep)." in text
    assert "- Previous: 4.12.0 (revision 7), live from 2026-03-01 11:00:12 UTC, status stable at 90% of traffic." in text
    assert ("- Rollback: `kubectl argo rollouts abort checkout -n shop`\n"
            "  then `kubectl argo rollouts undo checkout -n shop --to-revision=7` (makes the stable revision "
            "the desired one again)") in text


def test_incident_prompt_carries_the_kubernetes_rollback_plan(fake):
    from ctxgrab.api import render_result

    fake.load(k8s_fake.rolled_back())
    ev = run(fake, {"deployment": "payments", "namespace": "prod"})
    window = Window.ending(AT, timedelta(hours=2))
    result = render_result("payments", AT, window, None, [ev])
    md = result.markdown
    assert "kubectl rollout undo deployment/payments -n prod --to-revision=10" in md
    assert "revision 13 is a rollback to revision 11" in md
    assert any(s["name"] == "recent_deploy" and "rollback" in s["summary"] for s in result.signals)
