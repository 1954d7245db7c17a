"""Config validation, discovery and the CLI's one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from ctxgrab import config as config_mod
from ctxgrab.config import Config, config_from_dict, find_config, load_config
from ctxgrab.errors import ConfigError, UnknownServiceError

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ctxgrab.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60)


BAD_CONFIGS = {
    "unknown key": ("services:\n  payments:\n    pakcs: [jvm]\n", "services.payments.pakcs", "unknown key"),
    "wrong type": ("defaults:\n  timeout_s: soon\n", "defaults.timeout_s", "valid number"),
    "unset env var": (
        "sources:\n  prom: {type: prometheus, url: http://127.0.0.1:9, password: '${CTXGRAB_TEST_UNSET_PW}'}\n"
        "services:\n  payments: {}\n",
        "sources.prom.password",
        "CTXGRAB_TEST_UNSET_PW is not set",
    ),
    "bad source type": ("sources:\n  prom: {type: prom}\nservices:\n  payments: {}\n", "sources.prom.type", "one of"),
    "not yaml": ("services: [\n", "line", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_with_one_line_naming_file_key_and_fix(tmp_path: Path, case: str) -> None:
    text, key, what = BAD_CONFIGS[case]
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text(text)
    r = run_cli("incident", "--service", "payments", "--config", str(cfg))
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert str(cfg) in line and key in line and what in line
    assert "fix:" in line
    assert "Traceback" not in r.stderr


def test_unknown_service_exits_2_and_lists_known_services(demo_config: Path) -> None:
    r = run_cli("incident", "--service", "paymnets", "--config", str(demo_config))
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line
    assert "paymnets" in line and "payments" in line and "fix:" in line and str(demo_config) in line


def test_unknown_service_is_a_typed_error(demo_config: Path) -> None:
    cfg = load_config(demo_config)
    with pytest.raises(UnknownServiceError):
        cfg.service("nope")


def test_env_vars_expand_with_defaults() -> None:
    cfg = config_from_dict(
        {"sources": {"p": {"type": "prometheus", "url": "${PROM_URL}", "bearer_token": "${TOKEN:-none}"}}},
        "c.yaml",
        env={"PROM_URL": "http://prom:9090/prometheus/"},
    )
    assert cfg.sources["p"].url == "http://prom:9090/prometheus"
    assert cfg.sources["p"].bearer_token == "none"


def test_references_to_missing_sources_are_errors() -> None:
    with pytest.raises(ConfigError, match=r"services\.a\.metrics_source: no source named 'x'"):
        config_from_dict({"services": {"a": {"metrics_source": "x"}}}, "c.yaml")
    with pytest.raises(ConfigError, match=r"logs\[0\]: give exactly one of"):
        config_from_dict({"services": {"a": {"logs": [{"title": "t"}]}}}, "c.yaml")


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".config" / "ctxgrab").mkdir(parents=True)
    home_cfg = home / ".config" / "ctxgrab" / "config.yaml"
    home_cfg.write_text("{}\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    assert find_config(env={}) == home_cfg
    (work / "ctxgrab.yaml").write_text("{}\n")
    assert find_config(env={}) == work / "ctxgrab.yaml"
    env_cfg = tmp_path / "env.yaml"
    env_cfg.write_text("{}\n")
    assert find_config(env={"CTXGRAB_CONFIG": str(env_cfg)}) == env_cfg
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("{}\n")
    assert find_config(explicit, env={"CTXGRAB_CONFIG": str(env_cfg)}) == explicit
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(tmp_path / "missing.yaml", env={})


def test_no_config_anywhere_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=r"no config found .*CTXGRAB_CONFIG.*fix:"):
        find_config(env={})


def test_issue_example_config_is_accepted(tmp_path: Path) -> None:
    """The keys promised to users stay spelled the same."""
    text = """
defaults: {since: 2h, timeout_s: 20}
sources:
  prom: {type: prometheus, url: http://127.0.0.1:9090}
services:
  payments:
    labels: {service: payments}
    packs: [jvm, http]
    logs: [{path: "/var/log/payments/*.log"}]
    gc_logs: ["/var/log/payments/gc*.log"]
    heap_dumps: ["/dumps/payments/*.hprof"]
    deploys: {path: deploys.yaml, rollback: "kubectl rollout undo deployment/payments -n prod"}
    settings: [{path: application.properties, keys: [server.max-websocket-sessions]}]
"""
    p = tmp_path / "ctxgrab.yaml"
    p.write_text(text)
    cfg = load_config(p)
    svc = cfg.service("payments")
    assert svc.packs == ["jvm", "http"]
    assert svc.deploys and svc.deploys.rollback.startswith("kubectl rollout undo")
    assert cfg.metrics_source_for(svc) == "prom"


def _all_fields(model: type[BaseModel], prefix: str, out: set[str]) -> None:
    for name, field in model.model_fields.items():
        out.add(name)
        ann = field.annotation
        for inner in (ann, *getattr(ann, "__args__", ())):
            for cand in (inner, *getattr(inner, "__args__", ())):
                if isinstance(cand, type) and issubclass(cand, BaseModel):
                    _all_fields(cand, f"{prefix}{name}.", out)


def test_every_config_field_is_documented() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    fields: set[str] = set()
    _all_fields(Config, "", fields)
    documented = set(re.findall(r"`([a-z_]+)`", doc))
    missing = sorted(fields - documented)
    assert not missing, f"docs/configuration.md does not document: {missing}"
    # and every source type
    for t in config_mod.SOURCE_TYPES:
        assert f"`{t}`" in doc, t


def test_documented_example_config_is_valid(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert blocks, "docs/configuration.md has no yaml example"
    full = max(blocks, key=len)
    p = tmp_path / "ctxgrab.yaml"
    p.write_text(full)
    cfg = load_config(p, env={"PROM_TOKEN": "t", "LOKI_PASSWORD": "p", "PG_PASSWORD": "x"})
    assert cfg.services


def test_packs_without_a_metrics_source_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"services\.s\.metrics_source: .*there is none — fix: define a source"):
        config_from_dict({"services": {"s": {"packs": ["jvm"]}}}, "c.yaml")
    two = {"a": {"type": "prometheus", "url": "http://a"}, "b": {"type": "victoriametrics", "url": "http://b"}}
    with pytest.raises(ConfigError, match=r"there are several — fix: set metrics_source to one of: a, b"):
        config_from_dict({"sources": two, "services": {"s": {"packs": ["jvm"]}}}, "c.yaml")
    ok = config_from_dict({"sources": two, "services": {"s": {"packs": ["jvm"], "metrics_source": "b"}}}, "c.yaml")
    assert ok.metrics_source_for(ok.services["s"]) == "b"


def test_server_section_is_validated_and_its_secrets_are_needed_only_by_serve(tmp_path: Path) -> None:
    from ctxgrab.server.config import load_server_config

    text = ("server:\n  api_token: ${CTXGRAB_TEST_PD_TOKEN}\n  services: {PSVC1: payments}\n"
            "services:\n  payments: {}\n")
    p = tmp_path / "ctxgrab.yaml"
    p.write_text(text)
    cfg = load_config(p, env={})  # `ctxgrab incident` on a file that also serves webhooks
    assert cfg.server is not None and cfg.server.services == {"PSVC1": "payments"}
    assert cfg.server.api_token is not None and cfg.server.api_token.get_secret_value() == ""
    with pytest.raises(ConfigError, match=r"server\.api_token: environment variable CTXGRAB_TEST_PD_TOKEN is not set"):
        load_server_config(p, env={})
    assert load_server_config(p, env={"CTXGRAB_TEST_PD_TOKEN": "t"}).api_token.get_secret_value() == "t"
    p.write_text(text.replace("PSVC1: payments", "PSVC1: paymnts"))
    with pytest.raises(ConfigError, match=r"server\.services\.PSVC1: no service named 'paymnts'"):
        load_config(p, env={})
    p.write_text(text.replace("api_token", "api_tokn"))
    with pytest.raises(ConfigError, match=r"server\.api_tokn: unknown key"):
        load_config(p, env={})
