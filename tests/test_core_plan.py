"""The planner: what a service's config expands to."""

from __future__ import annotations

import pytest

from ctxgrab.config import config_from_dict
from ctxgrab.engine import plan
from ctxgrab.errors import ConfigError

SOURCES = {
    "prom": {"type": "prometheus", "url": "http://127.0.0.1:9"},
    "am": {"type": "alertmanager", "url": "http://127.0.0.1:9"},
    "k8s": {"type": "kubernetes", "url": "https://127.0.0.1:6443"},
    "db": {"type": "postgres", "dsn": "postgresql://ro@127.0.0.1/app"},
}


def kinds(service: dict, sources: dict = SOURCES) -> list[str]:
    cfg = config_from_dict({"sources": sources, "services": {"svc": service}}, "c.yaml")
    return [p.kind for p in plan(cfg, "svc")]


def test_packs_expand_to_one_metric_instance_each_with_labels_filled() -> None:
    cfg = config_from_dict({"sources": SOURCES, "services": {"svc": {"labels": {"service": "pay"}, "packs": ["jvm"]}}})
    metrics = [p for p in plan(cfg, "svc") if p.kind == "metrics"]
    ids = [p.params["id"] for p in metrics]
    assert {"heap_used", "heap_max", "gc_pause"} <= set(ids)
    assert all('service="pay"' in p.params["query"] and "$selector" not in p.params["query"] for p in metrics)
    assert all(p.params["source"] == "prom" and p.params["pack"] == "jvm" for p in metrics)


def test_alerts_planned_only_with_labels_and_a_live_source() -> None:
    assert "alerts" in kinds({"labels": {"service": "pay"}, "packs": ["http"]})
    assert "alerts" not in kinds({"packs": ["http"]})  # no labels: cannot tell which alerts are ours
    saved = {"saved": {"type": "prometheus_files", "path": "m"}}
    assert "alerts" not in kinds({"labels": {"service": "pay"}, "packs": ["http"]}, saved)


def test_kubernetes_replaces_the_deploy_file_and_database_adds_postgres() -> None:
    both = {"deploys": {"path": "d.yaml"}, "kubernetes": {"source": "k8s", "deployment": "pay"},
            "database": {"source": "db", "tables": ["t"]}}
    got = kinds(both)
    assert "kubernetes" in got and "deploys" not in got and "postgres" in got
    assert "deploys" in kinds({"deploys": {"path": "d.yaml"}})


def test_files_become_one_instance_per_input_kind() -> None:
    got = kinds({"logs": [{"path": "a.log"}, {"path": "b.log"}], "gc_logs": ["gc*.log"], "heap_dumps": ["*.hprof"],
                 "settings": [{"path": "a.properties"}, {"path": "jvm.options"}]})
    assert got == ["logs", "logs", "gc", "heap", "settings"]


def test_wrongly_typed_source_references_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"services\.svc\.kubernetes\.source: no source of type kubernetes named 'db'"):
        kinds({"kubernetes": {"source": "db", "deployment": "x"}})
    with pytest.raises(ConfigError, match=r"services\.svc\.kubernetes: give `deployment` or `rollout`"):
        kinds({"kubernetes": {"source": "k8s"}})
    with pytest.raises(ConfigError, match=r"c\.yaml: services\.svc\.packs\[0\]: unknown pack .nope. — fix: use one of: http, jvm, process"):
        kinds({"packs": ["nope"]})
