"""Redaction: every kind is caught in realistic text, look-alikes are kept, config knobs work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ctxgrab.evidence import Evidence
from ctxgrab.redact import KINDS, RedactionConfig, redact, redact_evidence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import redact_corpus  # noqa: E402

CORPUS = redact_corpus.generate(per_kind=25, seed=11)


@pytest.mark.parametrize("kind", sorted(redact_corpus.SECRET_KINDS))
def test_every_kind_is_caught_in_every_context(kind: str) -> None:
    records = [r for r in CORPUS if r["kind"] == kind]
    leaked = [(r["text"], redact(r["text"])) for r in records if redact_corpus.survives(r["secret"], redact(r["text"]))]
    assert not leaked, leaked[:2]


def test_benign_look_alikes_are_unchanged() -> None:
    benign = [r for r in CORPUS if r["secret"] is None]
    assert len(benign) > 400
    changed = [(r["kind"], r["text"], redact(r["text"])) for r in benign if redact(r["text"]) != r["text"]]
    assert not changed, changed[:3]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("password=hunter2 user=bob", "password=[REDACTED:password] user=bob"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
         "aws_secret_access_key = [REDACTED:aws-secret-key]"),
        ("Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Authorization: Basic [REDACTED:basic-auth]"),
        ("Set-Cookie: SESSIONID=9f8e7d6c5b4a; Path=/; HttpOnly", "Set-Cookie: SESSIONID=[REDACTED:cookie]; Path=/; HttpOnly"),
        ("redis://:s3cretPw9@cache:6379/0", "redis://:[REDACTED:url-password]@cache:6379/0"),
        ("--password hunter2 --host db", "--password [REDACTED:password] --host db"),
        ("card 4111-1111-1111-1111 ok", "card [REDACTED:card-number] ok"),
        ("iban DE89 3704 0044 0532 0130 00.", "iban [REDACTED:iban]."),
        ("<password>hunter2</password><user>bob</user>", "<password>[REDACTED:password]</password><user>bob</user>"),
        ('<add key="ApiKey" value="abcd1234efgh5678"/><add key="Timeout" value="30"/>',
         '<add key="ApiKey" value="[REDACTED:api-key]"/><add key="Timeout" value="30"/>'),
        ("machine api.example.com login deploy password abc123xyz", "machine api.example.com login deploy password [REDACTED:password]"),
        ("curl -u admin:Adm1nPass https://x", "curl -u admin:[REDACTED:password] https://x"),
        ("Bearer ya29.a0AfH6SMBx3jd82hd8HDH29dh2d9h2ddh29dh", "Bearer [REDACTED:gcp-oauth-token]"),
    ],
)
def test_markers_say_what_was_removed_and_keep_the_rest(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "idempotency_key=5f0c6b1e-8f7a-4e1b-9a57-3c2d1e0f9a8b",
        "kms_key_id=arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "card 4111-1111-1111-1112 fails Luhn",  # not a card number
        "GB82 WEST 1234 5698 7654 33",  # IBAN with a wrong check digit
        "epoch_ms=4111111111111111 dd.trace_id=4111111111111111111",
        "password: ${DB_PASSWORD}",
        "secret: /var/run/secrets/kubernetes.io/serviceaccount/token",
        "upstream 10.2.3.4 and 192.168.0.7 and fe80::1",
        "max_tokens=4096 next_page_token=abc123def456ghi",
        "<timeout>30</timeout> <token>${TOKEN}</token>",
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----",
        "FATAL: password authentication failed for user \"payments\"",
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


def test_secret_inside_json_string_inside_a_log_line() -> None:
    inner = json.dumps({"user": "svc", "password": "Tr0ub4dor&3", "token": "ghp_" + "a1B2" * 9})
    line = json.dumps({"ts": "2026-03-02T11:00:00Z", "msg": "upstream rejected", "body": inner})
    out = redact(line)
    assert "Tr0ub4dor" not in out and "a1B2a1B2" not in out
    assert json.loads(json.loads(out)["body"])["user"] == "svc"  # still valid JSON, both levels


@pytest.mark.parametrize("sep", ["\n", "\\n", " ", "\r\n"])
def test_pem_key_in_any_layout(sep: str) -> None:
    body = ["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun", "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
            "Lxoz7aYz9x2m4ZkQ0pP7rH8XcQwE5t"]
    text = f"key loaded: -----BEGIN RSA PRIVATE KEY-----{sep}{sep.join(body)}{sep}-----END RSA PRIVATE KEY----- done"
    out = redact(text)
    assert out == "key loaded: [REDACTED:private-key] done"


def test_pem_key_split_over_separate_log_records() -> None:
    lines = ["-----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
             "QyNTUxOQAAACDx3pY0bT3kq8Ue9RXgVjN2xX3m0Z9y", "-----END OPENSSH PRIVATE KEY-----"]
    ev = Evidence(kind="logs", name="app", title="app", data={"patterns": [{"example": x} for x in lines]})
    out = [p["example"] for p in redact_evidence(ev).data["patterns"]]
    assert out[0] == out[1] == out[2] == "[REDACTED:private-key]"


def test_kubernetes_secret_data_is_redacted_whatever_the_key() -> None:
    text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  conn: cG9zdGdyZXM6Ly94\n  user: YWRtaW4=\ntype: Opaque\n"
    out = redact(text)
    assert "cG9zdGdyZXM6Ly94" not in out and "YWRtaW4=" not in out
    assert "name: db" in out and "type: Opaque" in out


def test_redacting_twice_changes_nothing_more() -> None:
    for r in CORPUS[::7]:
        once = redact(r["text"])
        assert redact(once) == once


def test_evidence_fields_and_secret_keys_in_data() -> None:
    ev = Evidence(
        kind="settings", name="s", title="Settings for ana@example.com", reason=None,
        source="postgres://app:Sup3rS3cret@db/pay",
        data={"values": {"spring.datasource.password": "plain", "pool": "20"},
              "env": [{"name": "DB_PASSWORD", "value": "plain2"}, {"name": "POOL", "value": "20"}]},
        warnings=["token=abc123def456ghi789"],
    )
    out = redact_evidence(ev)
    assert out.data["values"] == {"spring.datasource.password": "[REDACTED:password]", "pool": "20"}
    assert out.data["env"][0]["value"] == "[REDACTED:password]" and out.data["env"][1]["value"] == "20"
    assert "Sup3rS3cret" not in out.source and "ana@example.com" not in out.title
    assert out.warnings == ["token=[REDACTED:token]"]
    assert ev.data["values"]["spring.datasource.password"] == "plain"  # the original is untouched


def test_config_disable_allowlist_extra_rules_and_client_ips() -> None:
    text = "AKIAIOSFODNN7EXAMPLE from 81.2.69.160 emp EMP-123456 mail ana@example.com"
    assert "81.2.69.160" in redact(text, RedactionConfig(client_ips=False))
    assert "ana@example.com" in redact(text, RedactionConfig(disable=["pii"]))
    assert "AKIAIOSFODNN7EXAMPLE" in redact(text, {"allowlist": ["AKIA[A-Z0-9]+EXAMPLE"]})
    out = redact(text, RedactionConfig(rules=[{"kind": "employee-id", "pattern": r"EMP-(\d{6})"}]))
    assert "EMP-[REDACTED:employee-id]" in out and "[REDACTED:aws-access-key-id]" in out


@pytest.mark.parametrize(
    "fields",
    [{"disable": ["nope"]}, {"allowlist": ["("]}, {"rules": [{"kind": "x", "pattern": "a*"}]}, {"colour": "red"},
     {"rules": [{"kind": "Bad Kind", "pattern": "x"}]}],
)
def test_config_rejects_what_it_does_not_understand(fields: dict) -> None:
    with pytest.raises(ValidationError):
        RedactionConfig.model_validate(fields)


def test_kinds_and_categories_do_not_collide() -> None:
    assert not KINDS & {"credentials", "pii"}


def test_no_network_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("redaction opened a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for r in CORPUS[::5]:
        redact(r["text"])


def test_cli_redacts_stdin_and_keeps_other_bytes(tmp_path: Path) -> None:
    raw = b"user=bob password=hunter2\r\nbinary \xff\xfe stays\n" + b"plain line\n" * 5000 + b"end ghp_" + b"Ab1" * 12 + b"\n"
    result = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "redact"], input=raw, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = raw.replace(b"hunter2", b"[REDACTED:password]").replace(b"ghp_" + b"Ab1" * 12, b"[REDACTED:github-token]")
    assert result.stdout == expected
    f = tmp_path / "app.log"
    f.write_bytes(b"-----BEGIN PRIVATE KEY-----\n" + b"QUJD" * 16 + b"\n" * 4 + b"-----END PRIVATE KEY-----\nok\n")
    result = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "redact", str(f)], capture_output=True, timeout=60)
    assert result.stdout == b"[REDACTED:private-key]\nok\n"


def test_cli_bad_input_exits_2_with_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "redact", "/nonexistent/file.log"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "/nonexistent/file.log" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_keys_redacted_alike_keep_both_values() -> None:
    ev = Evidence(kind="logs", name="l", title="l", data={"by_user": {"ana@example.com": 3, "bo@example.com": 5, "n": 1}})
    assert redact_evidence(ev).data["by_user"] == {"[REDACTED:email]": 3, "[REDACTED:email] #2": 5, "n": 1}


def test_cli_reads_the_redaction_section_of_a_config(tmp_path: Path) -> None:
    cfg = tmp_path / "ctxgrab.yaml"
    cfg.write_text('redaction:\n  disable: [ip]\n  rules:\n    - {kind: employee-id, pattern: "EMP-(\\\\d{6})"}\n')
    result = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "redact", "--config", str(cfg), "--disable", "email"],
                            input="from 81.2.69.160 EMP-123456 ana@example.com password=x1\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from 81.2.69.160 EMP-[REDACTED:employee-id] ana@example.com password=[REDACTED:password]\n"
    cfg.write_text("redaction:\n  colour: red\n")
    bad = subprocess.run([sys.executable, "-m", "ctxgrab.cli", "redact", "--config", str(cfg)], input="x\n",
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "colour" in bad.stderr


def test_text_with_nothing_to_remove_comes_back_as_the_same_object() -> None:
    class Marked(str):
        pass

    for value in (Marked("pool `http-nio-8080-exec-*` 171/184 busy"), Marked("x" * 300)):
        assert redact(value) is value
    assert type(redact(Marked("password=hunter2 now"))) is str
