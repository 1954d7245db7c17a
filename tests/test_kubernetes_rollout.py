"""Pure rollout analysis: history to rollback plan, canary weight, rollout status (no server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ctxgrab.analysis.rollout import (
    Revision,
    Workload,
    argo_canary,
    deployment_status,
    image_version,
    plan_rollback,
    revisions_from_replicasets,
)

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=timezone.utc)
WL = Workload("Deployment", "payments", "prod")


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def rev(n: int, version: str, at_h: float, **kw) -> Revision:
    return Revision(n, f"payments-{n:x}abc", (f"reg/payments:{version}",), created=h(at_h), **kw)


def test_last_known_good_skips_short_lived_and_crashing_revisions():
    revs = [
        rev(4, "1.0", 0),
        rev(5, "1.1", 48),  # ran 47.9 h
        rev(6, "1.2", 95.9, restarts=None, restart_events=7),  # ran 6 min only
        rev(7, "1.3", 96, restarts=5),  # current, unstable
    ]
    plan = plan_rollback(revs, workload=WL, now=h(97))
    assert plan["current"]["revision"] == 7
    assert plan["previous"]["revision"] == 6
    assert plan["last_known_good"]["revision"] == 5
    assert plan["last_known_good"]["ran_s"] == pytest.approx(47.9 * 3600)
    assert plan["rollback_command"] == "kubectl rollout undo deployment/payments -n prod --to-revision=5"
    assert plan["since_current_s"] == 3600.0
    # A stricter criterion moves it further back; a looser one accepts 6.
    assert plan_rollback(revs, workload=WL, now=h(97), min_healthy_s=48 * 3600)["last_known_good"]["revision"] == 4
    assert plan_rollback(revs, workload=WL, now=h(97), min_healthy_s=60, max_restarts=10
                         )["last_known_good"]["revision"] == 6


def test_restart_spike_on_an_old_revision_excludes_it():
    revs = [rev(1, "1.0", 0), rev(2, "1.1", 10, restart_events=4), rev(3, "1.2", 20)]
    assert plan_rollback(revs, workload=WL, now=h(21))["last_known_good"]["revision"] == 1
    assert plan_rollback(revs, workload=WL, now=h(21), max_restarts=5)["last_known_good"]["revision"] == 2


def test_no_last_known_good_falls_back_to_previous_and_says_so():
    revs = [rev(1, "1.0", 0), rev(2, "1.1", 0.1)]
    plan = plan_rollback(revs, workload=WL, now=h(1))
    assert plan["last_known_good"] is None
    assert plan["rollback_command"].endswith("--to-revision=1")
    assert plan["notes"] == ["no earlier revision is known to have run 30 min without restarts spiking"]


def test_rollback_detected_from_revision_history():
    revs = [
        rev(10, "2.29", 0),
        rev(12, "2.31", 100),
        Revision(13, "payments-b11", ("reg/payments:2.30",), created=h(50), live_from=h(100.2), history=(11,)),
    ]
    plan = plan_rollback(revs, workload=WL, now=h(101))
    cur = plan["current"]
    assert (cur["change"], cur["rollback_of"], cur["time"]) == ("rollback", 11, h(100.2).isoformat())
    assert plan["rollback"]["is_rollback"] and plan["rollback_of"] == 11
    numbers = [(e["revision"], e["status"], e["ran_s"]) for e in plan["events"]]
    assert numbers == [(10, "superseded", 50 * 3600.0), (11, "renumbered", 50 * 3600.0),
                       (12, "superseded", pytest.approx(720.0)), (13, "live", pytest.approx(2880.0))]
    # 12 ran 12 min only; 11 is the current ReplicaSet, so undo to it would change nothing: 10 it is.
    assert plan["last_known_good"]["revision"] == 10


def test_rollback_detected_from_images_without_history():
    # A new template (say, an env change) carrying the images of two releases ago.
    revs = [rev(1, "1.0", 0), rev(2, "1.1", 10), Revision(3, "payments-3", ("reg/payments:1.0",), created=h(11))]
    plan = plan_rollback(revs, workload=WL, now=h(12))
    assert (plan["current"]["change"], plan["current"]["rollback_of"]) == ("rollback", 1)


def test_restart_is_not_a_release_or_a_rollback():
    revs = [rev(1, "1.0", 0), Revision(2, "payments-2", ("reg/payments:1.0",), created=h(5),
                                       restarted_at="2026-03-01T05:00:00Z")]
    plan = plan_rollback(revs, workload=WL, now=h(6))
    assert plan["current"]["change"] == "restart"
    assert plan["last_known_good"]["revision"] == 1
    assert any("same images as the current one" in n for n in plan["notes"])


def test_paused_deployment_needs_resume_first():
    plan = plan_rollback([rev(1, "1.0", 0), rev(2, "1.1", 5)], workload=Workload("Deployment", "p", "ns", True),
                         now=h(6))
    assert [s["command"] for s in plan["rollback_steps"]][:2] == [
        "kubectl rollout resume deployment/p -n ns", "kubectl rollout undo deployment/p -n ns --to-revision=1"]


def test_single_revision_says_there_is_nothing_to_undo_to():
    plan = plan_rollback([rev(1, "1.0", 0)], workload=WL, now=h(1))
    assert plan["previous"] is None and plan["last_known_good"] is None
    assert plan["rollback_command"] == "kubectl rollout undo deployment/payments -n prod"
    assert any(n.startswith("no earlier revision is left in the history") for n in plan["notes"])


def test_empty_history_is_an_error():
    with pytest.raises(ValueError, match="no revisions"):
        plan_rollback([], workload=WL, now=T0)


STEPS = [{"setWeight": 20}, {"pause": {"duration": "5m"}}, {"setWeight": 50}, {"pause": {}}]


def rollout(**status):
    return {"spec": {"strategy": {"canary": {"steps": STEPS}}},
            "status": {"currentPodHash": "new", "stableRS": "old", **status}}


@pytest.mark.parametrize("status,weight,step", [
    ({"currentStepIndex": 0}, 20, "setWeight 20"),
    ({"currentStepIndex": 1}, 20, "pause 5m"),
    ({"currentStepIndex": 3}, 50, "pause (until promoted)"),
    ({"currentStepIndex": 4, "stableRS": "new"}, 100, None),  # finished and promoted
    ({"currentStepIndex": 2, "abort": True}, 0, "setWeight 50"),
])
def test_argo_canary_weight_follows_the_controller(status, weight, step):
    c = argo_canary(rollout(**status))
    assert (c.weight, c.step) == (weight, step)
    assert c.steps_total == 4


def test_argo_traffic_routing_weight_wins_and_blue_green_has_no_canary():
    r = rollout(currentStepIndex=1, canary={"weights": {"canary": {"weight": 17}}})
    assert argo_canary(r).weight == 17
    assert argo_canary({"spec": {"strategy": {"blueGreen": {}}}, "status": {}}) is None


def test_deployment_status_like_kubectl():
    base = {"metadata": {"generation": 3}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                       "availableReplicas": 3, "conditions": [{"type": "Progressing", "status": "True",
                                                               "reason": "NewReplicaSetAvailable"}]}}
    assert deployment_status(base)["state"] == "complete"
    stuck = {**base, "status": {**base["status"], "updatedReplicas": 1,
                                "conditions": [{"type": "Progressing", "status": "False",
                                                "reason": "ProgressDeadlineExceeded",
                                                "message": 'ReplicaSet "p-1" has timed out progressing.'}]}}
    s = deployment_status(stuck)
    assert s["state"] == "failed" and "timed out progressing" in s["message"]
    rolling = {**base, "status": {**base["status"], "updatedReplicas": 1}}
    assert deployment_status(rolling)["message"] == "1 of 3 new replicas have been updated"
    old_pending = {**base, "status": {**base["status"], "replicas": 4}}
    assert deployment_status(old_pending)["message"] == "1 old replicas are pending termination"
    unobserved = {**base, "status": {**base["status"], "observedGeneration": 2}}
    assert deployment_status(unobserved)["state"] == "waiting"


def test_replicasets_owned_by_another_workload_or_without_revision_are_left_out():
    def rs(name, uid, ann):
        return {"metadata": {"name": name, "creationTimestamp": "2026-03-01T00:00:00Z", "annotations": ann,
                             "labels": {"pod-template-hash": name[-3:]},
                             "ownerReferences": [{"kind": "Deployment", "uid": uid, "controller": True}]},
                "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x:1"}]}}},
                "status": {}}

    revs, warnings = revisions_from_replicasets(
        [rs("p-aaa", "u1", {"deployment.kubernetes.io/revision": "1"}),
         rs("q-bbb", "u2", {"deployment.kubernetes.io/revision": "9"}),
         rs("p-ccc", "u1", {})],
        owner_uid="u1")
    assert [r.name for r in revs] == ["p-aaa"]
    assert warnings == ["ReplicaSet p-ccc has no deployment.kubernetes.io/revision annotation; left out of the history"]


def test_image_version():
    assert image_version("payments:1.2.3") == "1.2.3"
    assert image_version("reg:5000/team/payments") == "latest"
    assert image_version("reg:5000/team/payments:2026.03.1-rc2") == "2026.03.1-rc2"


def test_section_renders_without_a_known_live_time():
    """A rollback whose scale-up events expired and no Progressing time: the section still renders."""
    from ctxgrab.evidence import Evidence
    from ctxgrab.render import environment

    revs = [rev(1, "1.0", 0), Revision(3, "payments-1abc", ("reg/payments:1.0",), created=h(0), history=(1,)),
            rev(2, "1.1", 10)]
    plan = plan_rollback(revs, workload=WL, now=h(30))
    assert plan["since_current_s"] is None and plan["current"]["time"] is None
    text = environment().get_template("sections/deploys.md.j2").render(
        ev=Evidence(kind="deploys", name="k", title="k", data=plan))
    assert "- Current: **1.0** (Deployment prod/payments revision 3), live since n/a, status live." in text
