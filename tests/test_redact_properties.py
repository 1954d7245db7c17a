"""Property-based redaction tests: every kind in every context is gone; every look-alike in every context is kept.

The values are drawn by hypothesis from each kind's documented shape (not from the rules); the
contexts are the places production text carries them: a log line, JSON, YAML, an env file, Java
properties, a query string, a form body, a percent-encoded parameter, a command-line flag, a
Kubernetes manifest (two-line name/value env entry), XML, shell history and an HTTP header.
"""

from __future__ import annotations

import json
import re
import string
import sys
import urllib.parse
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctxgrab.redact import redact

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from redact_corpus import survives  # noqa: E402

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"


def _s(alphabet: str, n: int, m: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=n, max_size=m or n)


def _random(alphabet: str, n: int) -> st.SearchStrategy[str]:
    """Random-looking: no character makes up half of it (a real token is never 'xxxx…')."""
    return _s(alphabet, n).filter(lambda v: max(v.count(c) for c in set(v)) * 2 < len(v) and len(set(v)) >= 4)


def _luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return body + str((10 - total % 10) % 10)


@st.composite
def _card(draw: Callable) -> str:
    prefix, length = draw(st.sampled_from([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15), ("6011", 16)]))
    raw = _luhn(prefix + draw(_s(string.digits, length - len(prefix) - 1)))
    sep = draw(st.sampled_from(["", " ", "-", ".", "+"]))
    groups = [raw[:4], raw[4:10], raw[10:]] if length == 15 else [raw[i:i + 4] for i in range(0, 16, 4)]
    return sep.join(groups)


@st.composite
def _iban(draw: Callable) -> str:
    country, n = draw(st.sampled_from([("DE", 18), ("FR", 23), ("ES", 20), ("NL", 14), ("GB", 18)]))
    if country in ("NL", "GB"):
        bban = draw(_s(string.ascii_uppercase, 4)) + draw(_s(string.digits, n - 4))
    else:
        bban = draw(_s(string.digits, n))
    num = "".join(str(int(c, 36)) for c in bban + country + "00")
    raw = f"{country}{98 - int(num) % 97:02d}{bban}"
    return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4)) if draw(st.booleans()) else raw


@st.composite
def _jwt(draw: Callable) -> str:
    import base64

    payload = json.dumps({"sub": draw(_s(ALNUM, 8)), "exp": draw(st.integers(1_700_000_000, 1_900_000_000))})
    enc = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + enc + "." + draw(_random(URLSAFE, 43))


@st.composite
def _ssn(draw: Callable) -> str:
    a, b, c = draw(st.integers(100, 665)), draw(st.integers(10, 99)), draw(st.integers(1000, 9999))
    sep = draw(st.sampled_from(["-", "", " "]))
    return f"{a}{sep}{b}{sep}{c}"


# kind -> (key that production text puts it under, strategy of the documented shape)
KINDS: dict[str, tuple[str, st.SearchStrategy[str]]] = {
    "aws-access-key-id": ("aws_access_key_id", st.sampled_from(["AKIA", "ASIA"]).flatmap(
        lambda p: _random(string.ascii_uppercase + "234567", 16).map(lambda b: p + b))),
    "aws-secret-key": ("aws_secret_access_key", _random(ALNUM + "/+", 40)),
    "github-token": ("github_token", st.one_of(
        _random(ALNUM, 36).map(lambda b: "ghp_" + b),
        st.tuples(_random(ALNUM, 22), _random(ALNUM, 59)).map(lambda t: f"github_pat_{t[0]}_{t[1]}"))),
    "gitlab-token": ("gitlab_token", _random(URLSAFE, 20).map(lambda b: "glpat-" + b)),
    "slack-token": ("slack_token", st.tuples(_s(string.digits, 12), _s(string.digits, 13), _random(ALNUM, 24)).map(
        lambda t: f"xoxb-{t[0]}-{t[1]}-{t[2]}")),
    "stripe-key": ("stripe_key", st.tuples(st.sampled_from(["sk_live_", "rk_live_"]), _random(ALNUM, 24)).map("".join)),
    "sendgrid-key": ("sendgrid_api_key", st.tuples(_random(URLSAFE, 22), _random(URLSAFE, 43)).map(
        lambda t: f"SG.{t[0]}.{t[1]}")),
    "twilio-key": ("twilio_api_key", _random(HEX, 32).map(lambda b: "SK" + b)),
    "npm-token": ("npm_token", _random(ALNUM, 36).map(lambda b: "npm_" + b)),
    "pypi-token": ("pypi_token", _random(URLSAFE, 120).map(lambda b: "pypi-AgEIcHlwaS5vcmc" + b)),
    "openai-key": ("openai_api_key", _random(URLSAFE, 48).map(lambda b: "sk-proj-" + b)),
    "anthropic-key": ("anthropic_api_key", _random(URLSAFE, 93).map(lambda b: "sk-ant-api03-" + b + "AA")),
    "gcp-api-key": ("google_api_key", _random(URLSAFE, 35).map(lambda b: "AIza" + b)),
    "jwt": ("id_token", _jwt()),
    "password": ("db_password", _random(ALNUM + "!#%^*", 14)),
    "api-key": ("api_key", _random(ALNUM, 32)),
    "email": ("customer_email", st.tuples(st.sampled_from(["jane.doe", "wei.zhang", "o.brien", "ana"]),
                                          st.integers(1, 999), st.sampled_from(["example.com", "mail.acme.io"])).map(
        lambda t: f"{t[0]}{t[1]}@{t[2]}")),
    "card-number": ("card_number", _card()),
    "phone": ("phone", st.tuples(st.sampled_from(["+44 20 ", "+1 415 ", "+49 30 "]), st.integers(1000, 9999),
                                 st.integers(1000, 9999)).map(lambda t: f"{t[0]}{t[1]} {t[2]}")),
    "huggingface-token": ("hf_token", _random(string.ascii_letters, 34).map(lambda b: "hf_" + b)),
    "vault-token": ("vault_token", _random(URLSAFE, 90).map(lambda b: "hvs." + b)),
    "datadog-key": ("dd_api_key", _random(HEX, 32)),
    "aws-session-token": ("aws_session_token", _random(ALNUM + "+/", 200).map(lambda b: "IQoJb3JpZ2luX2Vj" + b)),
    "slack-webhook": ("webhook_url", st.tuples(_random(string.ascii_uppercase + string.digits, 8),
                                               _random(string.ascii_uppercase + string.digits, 8), _random(ALNUM, 24)).map(
        lambda t: f"https://hooks.slack.com/services/T{t[0]}/B{t[1]}/{t[2]}")),
    "session": ("session_id", _random(ALNUM, 32)),
    "pin": ("pin", st.integers(1000, 999999).map(str)),
    "ssn": ("ssn", _ssn()),
    "iban": ("iban", _iban()),
}


def _header_name(key: str) -> str:
    return "-".join(w.capitalize() for w in key.split("_"))


# context -> function(key, value) -> text
CONTEXTS: dict[str, Callable[[str, str], str]] = {
    "log line": lambda k, v: f"2026-03-02T11:00:01.123Z ERROR [http-nio-8080-exec-4] c.a.p.Gateway - rejected {k}={v} status=401",
    "json": lambda k, v: json.dumps({"ts": "2026-03-02T11:00:01Z", "level": "error", k: v, "retries": 3}),
    "yaml": lambda k, v: f"payments:\n  gateway:\n    {k}: \"{v}\"\n    timeout: 30s\n",
    "env file": lambda k, v: f"export {k.upper()}='{v}'\nPOOL_SIZE=20\n",
    "properties": lambda k, v: f"payments.gateway.{k.replace('_', '-')}={v}\npayments.gateway.timeout=30s",
    "query string": lambda k, v: f"GET /v1/callback?{k}={urllib.parse.quote(v, safe='')}&order=1234 HTTP/1.1",
    "form body": lambda k, v: f"POST /login HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\n\n"
                              f"user=bob&{k}={urllib.parse.quote_plus(v)}&remember=on",
    "percent-encoded": lambda k, v: "GET /sso?return_to=" + urllib.parse.quote(f"/cb?{k}={v}&x=1", safe="") + " 302",
    "cli flag": lambda k, v: f"java -jar payments.jar --{k.replace('_', '-')}={v} --port 8080",
    "manifest": lambda k, v: (f"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
                              f"        - name: app\n          env:\n            - name: {k.upper()}\n"
                              f"              value: \"{v}\"\n            - name: POOL\n              value: \"20\"\n"),
    "xml": lambda k, v: f"<config><{k}>{v}</{k}><timeout>30</timeout></config>",
    "shell history": lambda k, v: f"  501  {k.upper()}='{v}' ./deploy.sh --env prod\n  502  kubectl get pods",
    "http header": lambda k, v: f"POST /v1/charges HTTP/1.1\nHost: api.internal\nX-{_header_name(k)}: {v}\nAccept: */*",
}


def _leaked(value: str, out: str) -> bool:
    views = {out, urllib.parse.unquote(out), urllib.parse.unquote_plus(out), urllib.parse.unquote(urllib.parse.unquote(out))}
    if len(value) <= 8:  # a short value (a PIN): the value itself must be gone, not every window of it
        rx = re.compile(r"(?<![\w])" + re.escape(value) + r"(?![\w])")
        return any(rx.search(view) for view in views)
    return any(survives(value, view) for view in views)


FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize("kind", sorted(KINDS))
@FAST
@given(data=st.data())
def test_every_kind_in_every_context_is_gone(kind: str, data: st.DataObject) -> None:
    key, strategy = KINDS[kind]
    value = data.draw(strategy)
    leaks = []
    for context, make in CONTEXTS.items():
        text = make(key, value)
        out = redact(text)
        if _leaked(value, out):
            leaks.append((context, text, out))
    assert not leaks, leaks[:3]


# benign look-alikes, each under the key it appears under in real text
BENIGN: list[tuple[str, str]] = [
    ("request_id", "5f0c6b1e-8f7a-4e1b-9a57-3c2d1e0f9a8b"),
    ("idempotency_key", "7d1e9c2a-44b0-4a8e-9d51-0b6f2c3e8a17"),
    ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("commit", "9fceb02d0ae598e95dc970b74767f19372d61af8"),
    ("image", "registry.acme.io/payments@sha256:3c4f9a1d2b7e8f6a5c0d9e1b2a3f4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"),
    ("user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"),
    ("db_password", "${DB_PASSWORD}"),
    ("password", "%(db_password)s"),
    ("api_key", "{{ .Values.apiKey }}"),
    ("token", "<redacted>"),
    ("secret", "****"),
    ("existingSecret", "billing-credentials"),
    ("secretKey", "password"),
    ("secretName", "payments-db"),
    ("from", "no-reply@example.com"),
    ("sender", "postmaster@acme.io"),
    ("upstream", "10.2.3.4:8080"),
    ("max_tokens", "4096"),
    ("kms_key_id", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ("version", "2.3.2"),
    ("checksum", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("amount", "4111.11"),
    ("timestamp_ms", "1772449200123"),
    ("token_count", "1234"),
    ("password_reset_requested", "true"),
    ("api_key", "${{ secrets.API_KEY }}"),
    ("db_password", "changeme"),
    ("token", "ghp_your_token_here"),
    ("secret", "this.secret"),
    ("password", "~"),
    ("upstream_ip", "8.8.8.8"),
    ("agent", "Edg/122.0.2365.92"),
    ("artifact", "payments-2.3.2.1.jar"),
    ("from", "bounces+12345@sendgrid.net"),
    ("prompt", "ubuntu@ip-172-31-1-12"),
]


@pytest.mark.parametrize("key, value", BENIGN, ids=[k for k, _ in BENIGN])
def test_every_look_alike_in_every_context_is_kept(key: str, value: str) -> None:
    changed = []
    for context, make in CONTEXTS.items():
        text = make(key, value)
        out = redact(text)
        if out != text:
            changed.append((context, text, out))
    assert not changed, changed[:3]


@FAST
@given(uuid=st.uuids(), sha=_s(HEX, 40), n=st.integers(0, 10**18), ver=st.tuples(*[st.integers(0, 255)] * 4))
def test_ids_hashes_numbers_and_versions_are_kept_in_a_log_line(uuid: object, sha: str, n: int, ver: tuple) -> None:
    line = (f"2026-03-02T11:00:01Z INFO order {uuid} commit {sha} offset={n} "
            f"agent=Chrome/{ver[0]}.{ver[1]}.{ver[2]}.{ver[3]} done")
    assert redact(line) == line
