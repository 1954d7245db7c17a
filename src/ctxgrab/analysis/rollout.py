"""Rollout history to a rollback plan: pure functions over Kubernetes API objects.

The Kubernetes collector fetches a Deployment (or an Argo Rollout), its
ReplicaSets, pods and events, and hands the JSON over unchanged. Everything that
needs thought happens here, without I/O, so it can be tested and reused on saved
API replies:

- :func:`revisions_from_replicasets` keeps the ReplicaSets the workload really owns
  and turns them into :class:`Revision` records (revision, images, when it went
  live, pod restarts and termination reasons, warning events);
- :func:`deployment_status` says what ``kubectl rollout status`` would say;
- :func:`argo_canary` derives the canary weight and step the way the Argo
  controller does (no status field holds the current ``setWeight``);
- :func:`plan_rollback` builds the payload of evidence kind ``deploys``: current
  and previous versions with times, the last known good revision (the newest
  earlier revision that ran at least ``min_healthy_s`` without a restart spike),
  whether the current revision is itself a rollback, and the exact command.

A rollback is a new revision whose template matches an older one: ``kubectl
rollout undo`` makes the controller renumber the old ReplicaSet to ``max+1`` and
record the old number in ``deployment.kubernetes.io/revision-history``. Such a
revision is reported as ``change: "rollback"`` with ``rollback_of``, never as a
new release.

Example::

    >>> from datetime import datetime, timezone
    >>> t = lambda h: datetime(2026, 3, 4, h, tzinfo=timezone.utc)
    >>> revs = [Revision(11, "payments-a", ("reg/payments:2.30.0",), created=t(1)),
    ...         Revision(12, "payments-b", ("reg/payments:2.31.0",), created=t(8), restarts=6)]
    >>> plan = plan_rollback(revs, workload=Workload("Deployment", "payments", "prod"), now=t(9))
    >>> plan["current"]["version"], plan["last_known_good"]["revision"]
    ('2.31.0', 11)
    >>> plan["rollback_command"]
    'kubectl rollout undo deployment/payments -n prod --to-revision=11'
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from ..timeutil import parse_time

__all__ = [
    "Revision",
    "Workload",
    "Canary",
    "image_version",
    "event_time",
    "revisions_from_replicasets",
    "deployment_status",
    "argo_canary",
    "analysis_runs",
    "plan_rollback",
    "DEFAULT_MIN_HEALTHY_S",
    "DEFAULT_MAX_RESTARTS",
]

DEFAULT_MIN_HEALTHY_S = 1800.0  # a revision must have run 30 min to count as known good
DEFAULT_MAX_RESTARTS = 3  # this many container restarts (or back-off/OOM events) is a spike

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
ARGO_REVISION = "rollout.argoproj.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_HASH = "pod-template-hash"
ARGO_POD_HASH = "rollouts-pod-template-hash"
# Warning events that mean a container died or is being restarted.
RESTART_REASONS = frozenset({"BackOff", "OOMKilling", "CrashLoopBackOff"})


@dataclass(frozen=True)
class Workload:
    """The object being rolled out: ``kind`` is ``Deployment`` or ``Rollout`` (Argo)."""

    kind: str
    name: str
    namespace: str
    paused: bool = False


@dataclass(frozen=True)
class Revision:
    """One ReplicaSet of a workload, as the rollback plan needs it."""

    revision: int
    name: str  # ReplicaSet name
    images: tuple[str, ...]
    created: datetime  # when this pod template was first rolled out
    live_from: datetime | None = None  # when it last went live (events); None: use ``created``
    history: tuple[int, ...] = ()  # earlier revision numbers this ReplicaSet served (rollbacks)
    pod_template_hash: str | None = None
    change_cause: str | None = None
    restarted_at: str | None = None  # template annotation set by ``kubectl rollout restart``
    replicas: int = 0
    ready_replicas: int = 0
    pods: int = 0
    restarts: int | None = None  # container restarts of its live pods; None when it has no pods
    termination_reasons: dict[str, int] = field(default_factory=dict)  # OOMKilled: 4, Error: 1
    waiting_reasons: dict[str, int] = field(default_factory=dict)  # CrashLoopBackOff: 2
    restart_events: int = 0  # warning events (BackOff, OOMKilling, ...) for its pods in the window
    image_ids: tuple[str, ...] = ()  # digests actually running (tags are mutable)


@dataclass(frozen=True)
class Canary:
    """An Argo Rollouts canary as read from ``spec.strategy.canary`` and ``status``."""

    weight: int  # percent of traffic (or replicas, without traffic routing) on the canary
    step_index: int | None
    steps_total: int
    step: str | None  # the current step, e.g. "pause 10m" or "setWeight 20"
    phase: str | None
    in_progress: bool  # currentPodHash != stableRS
    aborted: bool
    paused: bool
    pause_reasons: tuple[str, ...] = ()
    stable_hash: str | None = None
    canary_hash: str | None = None
    traffic_routing: bool = False
    analysis: dict[str, Any] | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "step_index": self.step_index,
            "steps_total": self.steps_total,
            "step": self.step,
            "phase": self.phase,
            "in_progress": self.in_progress,
            "aborted": self.aborted,
            "paused": self.paused,
            "pause_reasons": list(self.pause_reasons),
            "stable_hash": self.stable_hash,
            "canary_hash": self.canary_hash,
            "traffic_routing": self.traffic_routing,
            "analysis": self.analysis,
            "message": self.message,
        }


# --------------------------------------------------------------------------- API objects -> records


def image_version(image: str) -> str:
    """The version a person would quote from an image reference.

    >>> image_version("reg.example:5000/payments:2.31.0"), image_version("payments@sha256:0123456789abcdef0123")
    ('2.31.0', 'sha256:0123456789ab')
    """
    if "@" in image:
        return image.split("@", 1)[1][:19]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _ann(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _images(template: dict[str, Any]) -> tuple[str, ...]:
    spec = (template or {}).get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    return tuple(str(c.get("image", "")) for c in containers)


def _owned_by(obj: dict[str, Any], owner_uid: str | None, owner_kind: str | None) -> bool:
    if owner_uid is None:
        return True
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid") == owner_uid and (owner_kind is None or ref.get("kind") == owner_kind):
            return True
    return False


def _int(text: Any) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def event_time(ev: dict[str, Any]) -> datetime | None:
    """When an event (core/v1 or events.k8s.io/v1) last happened."""
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        v = ev.get(key)
        if not v and key == "eventTime":
            v = (ev.get("series") or {}).get("lastObservedTime")
        if v:
            try:
                return parse_time(v)
            except ValueError:
                continue
    created = (ev.get("metadata") or {}).get("creationTimestamp")
    return parse_time(created) if created else None


_SCALED_UP = re.compile(r"Scaled up (?:replica set|ReplicaSet) (\S+)")
_SCALED_TO_ZERO = re.compile(r"Scaled down (?:replica set|ReplicaSet) (\S+).*?\bto 0\b")


def revisions_from_replicasets(
    replicasets: Iterable[dict[str, Any]],
    *,
    owner_uid: str | None,
    owner_kind: str = "Deployment",
    pods: Iterable[dict[str, Any]] = (),
    events: Iterable[dict[str, Any]] = (),
) -> tuple[list[Revision], list[str]]:
    """Revision records, newest first, from ReplicaSet, pod and event objects.

    Only ReplicaSets whose controller ``ownerReference`` is the workload (``owner_uid``)
    count: label selectors can overlap with other workloads. Returns the records and
    warnings about objects that could not be used (missing revision annotation).
    """
    warnings: list[str] = []
    pods = list(pods)
    events = list(events)
    rev_key = ARGO_REVISION if owner_kind == "Rollout" else REVISION
    hash_key = ARGO_POD_HASH if owner_kind == "Rollout" else POD_HASH

    # When each ReplicaSet last went live: its first scale-up after its last scale-down to zero
    # (a rollback scales an old ReplicaSet up again). Events expire after ~1 h by default.
    ups: dict[str, list[datetime]] = {}
    to_zero: dict[str, datetime] = {}
    restart_events: Counter[str] = Counter()
    for ev in events:
        t = event_time(ev)
        msg = ev.get("message") or ""
        if ev.get("reason") == "ScalingReplicaSet" and t is not None:
            if m := _SCALED_UP.search(msg):
                ups.setdefault(m.group(1), []).append(t)
            elif m := _SCALED_TO_ZERO.search(msg):
                to_zero[m.group(1)] = max(t, to_zero.get(m.group(1), t))
        if ev.get("type") == "Warning" and ev.get("reason") in RESTART_REASONS:
            obj = ev.get("involvedObject") or ev.get("regarding") or {}
            if obj.get("kind") == "Pod":
                restart_events[str(obj.get("name", ""))] += int(ev.get("count") or 1)
    scaled_up: dict[str, datetime] = {}
    for rs_name, times in ups.items():
        after = [t for t in times if rs_name not in to_zero or t >= to_zero[rs_name]]
        if after:
            scaled_up[rs_name] = min(after)

    out: list[Revision] = []
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        if not _owned_by(rs, owner_uid, owner_kind):
            continue
        ann = _ann(rs)
        number = _int(ann.get(rev_key))
        if number is None:
            warnings.append(f"ReplicaSet {meta.get('name')} has no {rev_key} annotation; left out of the history")
            continue
        name = str(meta.get("name", ""))
        template = (rs.get("spec") or {}).get("template") or {}
        pod_hash = _labels(rs).get(hash_key)
        history = tuple(sorted(n for n in (_int(x) for x in (ann.get(REVISION_HISTORY) or "").split(",")) if n is not None))
        my_pods = [p for p in pods if _pod_belongs(p, name, pod_hash, hash_key)]
        restarts, terminated, waiting, image_ids = _pod_facts(my_pods)
        rs_events = sum(n for pod_name, n in restart_events.items() if pod_name.startswith(name + "-"))
        created = parse_time(meta.get("creationTimestamp"))
        status = rs.get("status") or {}
        out.append(
            Revision(
                revision=number,
                name=name,
                images=_images(template),
                created=created,
                live_from=scaled_up.get(name),
                history=history,
                pod_template_hash=pod_hash,
                change_cause=ann.get(CHANGE_CAUSE),
                restarted_at=((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT),
                replicas=int((rs.get("spec") or {}).get("replicas") or 0),
                ready_replicas=int(status.get("readyReplicas") or 0),
                pods=len(my_pods),
                restarts=restarts if my_pods else None,
                termination_reasons=terminated,
                waiting_reasons=waiting,
                restart_events=rs_events,
                image_ids=image_ids,
            )
        )
    out.sort(key=lambda r: r.revision, reverse=True)
    return out, warnings


def _pod_belongs(pod: dict[str, Any], rs_name: str, pod_hash: str | None, hash_key: str) -> bool:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet":
            return ref.get("name") == rs_name
    return pod_hash is not None and _labels(pod).get(hash_key) == pod_hash


def _pod_facts(pods: list[dict[str, Any]]) -> tuple[int, dict[str, int], dict[str, int], tuple[str, ...]]:
    restarts = 0
    terminated: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    image_ids: list[str] = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            restarts += int(cs.get("restartCount") or 0)
            last = (cs.get("lastState") or {}).get("terminated")
            if last and last.get("reason"):
                terminated[last["reason"]] += 1
            wait = (cs.get("state") or {}).get("waiting")
            if wait and wait.get("reason"):
                waiting[wait["reason"]] += 1
            if cs.get("imageID") and cs["imageID"] not in image_ids:
                image_ids.append(cs["imageID"])
    return restarts, dict(terminated), dict(waiting), tuple(image_ids)


# --------------------------------------------------------------------------- status


def deployment_status(deployment: dict[str, Any]) -> dict[str, Any]:
    """What ``kubectl rollout status`` would report for a Deployment object.

    Returns ``{"state": complete|progressing|failed|paused|waiting, "message", "reason",
    "replicas", "updated", "ready", "available", "unavailable"}``.
    """
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    st = deployment.get("status") or {}
    want = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    replicas = int(st.get("replicas") or 0)
    updated = int(st.get("updatedReplicas") or 0)
    ready = int(st.get("readyReplicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    conds = {c.get("type"): c for c in st.get("conditions") or []}
    prog = conds.get("Progressing") or {}
    base = {
        "replicas": want,
        "updated": updated,
        "ready": ready,
        "available": available,
        "unavailable": int(st.get("unavailableReplicas") or 0),
        "reason": prog.get("reason"),
        "since": prog.get("lastUpdateTime") or prog.get("lastTransitionTime"),
    }
    if int(st.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return {**base, "state": "waiting", "message": "waiting for the deployment spec update to be observed"}
    if prog.get("reason") == "ProgressDeadlineExceeded":
        return {**base, "state": "failed", "message": f"progress deadline exceeded: {prog.get('message', '')}".strip()}
    if spec.get("paused"):
        return {**base, "state": "paused", "message": "rollout is paused (kubectl rollout undo refuses a paused deployment)"}
    if updated < want:
        return {**base, "state": "progressing", "message": f"{updated} of {want} new replicas have been updated"}
    if replicas > updated:
        return {**base, "state": "progressing", "message": f"{replicas - updated} old replicas are pending termination"}
    if available < updated:
        return {**base, "state": "progressing", "message": f"{available} of {updated} updated replicas are available"}
    return {**base, "state": "complete", "message": "successfully rolled out"}


def _step_text(step: dict[str, Any]) -> str:
    if "setWeight" in step:
        return f"setWeight {step['setWeight']}"
    if "pause" in step:
        dur = (step.get("pause") or {}).get("duration")
        return f"pause {dur}" if dur else "pause (until promoted)"
    if "analysis" in step:
        names = [t.get("templateName") for t in (step["analysis"] or {}).get("templates") or []]
        return "analysis " + ", ".join(n for n in names if n)
    return next(iter(step), "step")


def argo_canary(rollout: dict[str, Any]) -> Canary | None:
    """Canary weight and step of an Argo Rollout, derived as the controller does.

    If aborted the weight is 0; after the last step it is 100; otherwise it is the
    ``setWeight`` of the nearest step at or before ``currentStepIndex``. With traffic
    routing ``status.canary.weights.canary.weight`` is authoritative and preferred.

    >>> argo_canary({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
    ...              "status": {"currentStepIndex": 1, "currentPodHash": "b", "stableRS": "a"}}).weight
    20
    """
    canary_spec = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary")
    if canary_spec is None:
        return None
    steps = list(canary_spec.get("steps") or [])
    st = rollout.get("status") or {}
    idx = st.get("currentStepIndex")
    idx = int(idx) if idx is not None else None
    aborted = bool(st.get("abort"))
    if aborted:
        weight = 0
    elif idx is None or idx >= len(steps):
        weight = 100
    else:
        weight = 0
        for step in reversed(steps[: idx + 1]):
            if "setWeight" in step:
                weight = int(step["setWeight"])
                break
    routed = ((st.get("canary") or {}).get("weights") or {}).get("canary") or {}
    if routed.get("weight") is not None:
        weight = int(routed["weight"])
    in_progress = bool(st.get("currentPodHash")) and st.get("currentPodHash") != st.get("stableRS")
    if not in_progress and not aborted:
        weight = 100 if idx is None or idx >= len(steps) else weight
    analysis = (st.get("canary") or {}).get("currentStepAnalysisRunStatus") or (st.get("canary") or {}).get(
        "currentBackgroundAnalysisRunStatus"
    )
    return Canary(
        weight=weight,
        step_index=idx,
        steps_total=len(steps),
        step=_step_text(steps[idx]) if idx is not None and idx < len(steps) else None,
        phase=st.get("phase"),
        in_progress=in_progress,
        aborted=aborted,
        paused=bool(st.get("pauseConditions")) or bool(st.get("controllerPause")) or bool((rollout.get("spec") or {}).get("paused")),
        pause_reasons=tuple(str(p.get("reason")) for p in st.get("pauseConditions") or []),
        stable_hash=st.get("stableRS"),
        canary_hash=st.get("currentPodHash"),
        traffic_routing=bool(canary_spec.get("trafficRouting")),
        analysis=dict(analysis) if analysis else None,
        message=st.get("message"),
    )


def analysis_runs(runs: Iterable[dict[str, Any]], *, owner_uid: str | None, pod_hash: str | None = None,
                  limit: int = 3) -> list[dict[str, Any]]:
    """The newest Argo AnalysisRuns of a Rollout (of one revision when ``pod_hash`` is given), summarised.

    Each: ``name``, ``phase`` (Pending|Running|Successful|Failed|Error|Inconclusive), ``message``,
    ``started``, and ``metrics`` with each metric's phase, counts and last measured value.
    """
    mine = [r for r in runs if _owned_by(r, owner_uid, "Rollout")
            and (pod_hash is None or _labels(r).get(ARGO_POD_HASH) == pod_hash)]
    mine.sort(key=lambda r: (r.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)
    out = []
    for r in mine[:limit]:
        st = r.get("status") or {}
        metrics = []
        for m in st.get("metricResults") or []:
            last = (m.get("measurements") or [{}])[-1]
            metrics.append({"name": m.get("name"), "phase": m.get("phase"), "count": m.get("count"),
                            "successful": m.get("successful"), "failed": m.get("failed"),
                            "inconclusive": m.get("inconclusive"), "error": m.get("error"),
                            "last_value": last.get("value"), "message": m.get("message") or last.get("message")})
        out.append({"name": (r.get("metadata") or {}).get("name"), "phase": st.get("phase"),
                    "message": st.get("message"), "started": st.get("startedAt")
                    or (r.get("metadata") or {}).get("creationTimestamp"), "metrics": metrics})
    return out


# --------------------------------------------------------------------------- the plan


@dataclass
class _Entry:
    number: int
    rs: Revision
    start: datetime | None
    latest: bool  # the ReplicaSet's present incarnation (its live revision number)
    ran_s: float | None = None


def _timeline(revisions: list[Revision]) -> list[_Entry]:
    """Every revision number ever served, oldest first, with when it went live.

    A ReplicaSet that was rolled back to served several numbers: its first one
    started at ``creationTimestamp``, its present one at the scale-up event.
    """
    entries: list[_Entry] = []
    for rs in revisions:
        numbers = sorted(set(rs.history) | {rs.revision})
        for n in numbers:
            if n == numbers[0]:
                start: datetime | None = rs.created  # a template first goes live when its ReplicaSet is created
            elif n == rs.revision:
                start = rs.live_from  # scaled up again by a rollback
            else:
                start = None  # an intermediate incarnation: its start is no longer recorded
            entries.append(_Entry(n, rs, start, n == rs.revision))
    entries.sort(key=lambda e: e.number)
    for a, b in zip(entries, entries[1:]):
        if a.start is not None and b.start is not None:
            a.ran_s = max(0.0, (b.start - a.start).total_seconds())
    return entries


def _restarts(rs: Revision) -> int:
    return max(rs.restarts or 0, rs.restart_events)


def _change(entry: _Entry, earlier: list[_Entry]) -> tuple[str, int | None]:
    """``release``, ``rollback`` (with the revision it restores), or ``restart`` (same images)."""
    if entry.latest and entry.rs.history:
        return "rollback", max(entry.rs.history)
    if not earlier:
        return "release", None
    prev = earlier[-1]
    if prev.rs.images == entry.rs.images:
        return ("restart" if prev.rs.restarted_at != entry.rs.restarted_at else "config"), None
    for old in reversed(earlier[:-1]):
        if old.rs.images == entry.rs.images:
            return "rollback", old.number
    return "release", None


def _item(entry: _Entry, *, status: str, change: str, rollback_of: int | None, canary_weight: int | None) -> dict[str, Any]:
    rs = entry.rs
    first = rs.images[0] if rs.images else ""
    return {
        "version": image_version(first) if first else f"revision {entry.number}",
        "time": entry.start.isoformat() if entry.start else None,
        "status": status,
        "canary_weight": canary_weight,
        "revision": entry.number,
        "replicaset": rs.name,
        "pod_template_hash": rs.pod_template_hash,
        "image": first or None,
        "images": list(rs.images),
        "image_ids": list(rs.image_ids),
        "change": change,
        "rollback_of": rollback_of,
        "change_cause": rs.change_cause,
        "ran_s": entry.ran_s,
        "replicas": rs.replicas if entry.latest else 0,
        "ready_replicas": rs.ready_replicas if entry.latest else 0,
        "pods": rs.pods if entry.latest else 0,
        "restarts": (rs.restarts if entry.latest else None),
        "restart_events": rs.restart_events if entry.latest else 0,
        "termination_reasons": dict(rs.termination_reasons) if entry.latest else {},
        "waiting_reasons": dict(rs.waiting_reasons) if entry.latest else {},
    }


def plan_rollback(
    revisions: list[Revision],
    *,
    workload: Workload,
    now: datetime,
    canary: Canary | None = None,
    min_healthy_s: float = DEFAULT_MIN_HEALTHY_S,
    max_restarts: int = DEFAULT_MAX_RESTARTS,
) -> dict[str, Any]:
    """The ``deploys`` payload: what runs, what ran before, what to go back to, and how.

    ``revisions`` as :func:`revisions_from_replicasets` returns them. ``now`` is the
    run's clock (``--at``), so the same history always gives the same plan.
    Keys: ``current``, ``previous``, ``last_known_good`` (items or None),
    ``since_current_s``, ``rollback_command``, ``rollback_steps``, ``rollback``
    (is the current revision a rollback, and of what), ``events`` (every revision,
    oldest first), ``notes``.
    """
    if not revisions:
        raise ValueError("no revisions: the workload owns no ReplicaSet with a revision annotation")
    entries = _timeline(revisions)
    live = [e for e in entries if e.latest]
    current = live[-1]
    notes: list[str] = []

    # Argo: while a canary is in flight the stable ReplicaSet still serves most traffic.
    stable_entry: _Entry | None = None
    if canary and canary.stable_hash:
        stable_entry = next((e for e in live if e.rs.pod_template_hash == canary.stable_hash), None)
    canary_in_flight = bool(canary and canary.in_progress and stable_entry is not None and stable_entry is not current)

    if current.start is not None:
        # The live revision runs until now.
        current.ran_s = max(0.0, (now - current.start).total_seconds())

    items: list[dict[str, Any]] = []
    by_number: dict[int, dict[str, Any]] = {}
    for i, e in enumerate(entries):
        change, of = _change(e, entries[:i])
        if e is current:
            status = "canary" if canary_in_flight else "live"
            if canary and canary.aborted:
                status = "aborted"
            weight = canary.weight if canary else None
        elif canary_in_flight and e is stable_entry:
            status, weight = "stable", 100 - (canary.weight if canary else 0)
        elif e.latest:
            status, weight = "superseded", None
        else:
            status, weight = "renumbered", None  # served this number before a rollback reused its ReplicaSet
        item = _item(e, status=status, change=change, rollback_of=of, canary_weight=weight)
        items.append(item)
        by_number[e.number] = item

    cur_item = by_number[current.number]
    if canary_in_flight and stable_entry is not None:
        previous_entry: _Entry | None = stable_entry
    else:
        previous_entry = next((e for e in reversed(live) if e.number < current.number), None)
    prev_item = by_number[previous_entry.number] if previous_entry else None

    # Last known good: newest earlier revision that ran long enough without a restart spike,
    # on a ReplicaSet that still exists and is not the current one (undo to it must change something).
    lkg: _Entry | None = None
    for e in reversed(entries):
        if e.number >= current.number or e.rs is current.rs:
            continue
        if canary_in_flight and e is stable_entry:
            # The stable side is judged on its run so far, which is still going on.
            ran = max(0.0, (now - e.start).total_seconds()) if e.start else None
        else:
            ran = e.ran_s
        if ran is None or ran < min_healthy_s:
            continue
        if _restarts(e.rs) >= max_restarts and e.latest:
            continue
        lkg = e
        break
    lkg_item = None
    if lkg is not None:
        lkg_item = dict(by_number[lkg.number])
        lkg_item["target_revision"] = lkg.rs.revision  # the number --to-revision needs today
        lkg_item["ran_s"] = lkg.ran_s if lkg.ran_s is not None else lkg_item["ran_s"]
        if lkg.rs.images == current.rs.images:
            notes.append(
                f"the last known good revision {lkg.number} runs the same images as the current one; "
                "rolling back only reverts the pod template (env, resources, annotations)"
            )
    else:
        notes.append(
            f"no earlier revision is known to have run {min_healthy_s / 60:.0f} min without restarts spiking"
        )

    if _restarts(current.rs) >= max_restarts:
        rs = current.rs
        parts = []
        if rs.restarts:
            reasons = ", ".join(f"{k} ×{v}" for k, v in sorted(rs.termination_reasons.items()))
            parts.append(f"{rs.restarts} container restarts" + (f" ({reasons})" if reasons else ""))
        if rs.restart_events:
            parts.append(f"{rs.restart_events} back-off/OOM events")
        notes.append(f"current revision {current.number} is unstable: {', '.join(parts)}")

    rollback = {
        "is_rollback": cur_item["change"] == "rollback",
        "of_revision": cur_item["rollback_of"],
        "message": None,
    }
    if rollback["is_rollback"]:
        restored = rollback["of_revision"]
        rollback["message"] = (
            f"revision {current.number} is a rollback to revision {restored} "
            f"({', '.join(current.rs.images)}), not a new release"
        )

    target = lkg.rs.revision if lkg is not None else (previous_entry.rs.revision if previous_entry else None)
    if target is None:
        notes.append("no earlier revision is left in the history (revisionHistoryLimit or a first deploy): "
                     "going back means redeploying a known image")
    command, steps = _commands(workload, canary if canary_in_flight else None, target)
    since = max(0.0, (now - current.start).total_seconds()) if current.start else None
    return {
        "workload": {"kind": workload.kind, "name": workload.name, "namespace": workload.namespace, "paused": workload.paused},
        "current": cur_item,
        "previous": prev_item,
        "last_known_good": lkg_item,
        "since_current_s": since,
        "rollback_command": command,
        "rollback_steps": steps,
        "rollback": rollback,
        "rollback_of": rollback["of_revision"],  # top-level, as the recent_deploy signal reads it
        "canary": canary.to_dict() if canary else None,
        "criteria": {"min_healthy_s": float(min_healthy_s), "max_restarts": int(max_restarts)},
        "events": items,
        "notes": notes,
    }


def _commands(workload: Workload, canary: Canary | None, target: int | None) -> tuple[str, list[dict[str, str | None]]]:
    """The one command to quote, and the steps of the whole rollback (``command`` and ``why``)."""
    ns, name = workload.namespace, workload.name
    to = f" --to-revision={target}" if target is not None else ""
    if workload.kind == "Rollout":
        undo = f"kubectl argo rollouts undo {name} -n {ns}{to}"
        if canary is not None and canary.aborted:
            return undo, [{"command": undo, "why": "traffic is already back on the stable ReplicaSet since the abort; "
                                                   "this makes the stable revision the desired one again"}]
        if canary is not None:
            abort = f"kubectl argo rollouts abort {name} -n {ns}"
            return abort, [
                {"command": abort, "why": "sends all traffic back to the stable ReplicaSet now"},
                {"command": undo, "why": "makes the stable revision the desired one again"},
            ]
        return undo, [{"command": undo, "why": None}]
    undo = f"kubectl rollout undo deployment/{name} -n {ns}{to}"
    steps: list[dict[str, str | None]] = []
    if workload.paused:
        steps.append({"command": f"kubectl rollout resume deployment/{name} -n {ns}",
                      "why": "undo refuses a paused deployment"})
    steps += [{"command": undo, "why": None},
              {"command": f"kubectl rollout status deployment/{name} -n {ns} --timeout=10m",
               "why": "wait until the old revision is available again"}]
    return undo, steps
