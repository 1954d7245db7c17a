"""A labelled corpus for measuring redaction: fake secrets in realistic text, and benign look-alikes.

Every record is a dict ``{"id", "kind", "context", "text", "secret"}``. ``secret`` is
the exact substring of ``text`` that must not survive (None for benign records,
whose ``kind`` starts with ``benign:``). Secrets are random (seeded), so the corpus
is the same on every run and no value is a real credential.

    python benchmarks/redact_corpus.py --per-kind 200 --seed 7 > corpus.jsonl

Contexts: application log lines (plain, logfmt, JSON, JSON escaped inside a log
line), config files (properties, YAML, env, INI), HTTP request dumps, stack traces
with the secret in an exception message, and Kubernetes manifests.

This corpus (``generate``) was written together with the rules. ``public_corpus`` is
the second one, built only from material written by others (tests/data/redact/SOURCES.md).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import string
import sys
from pathlib import Path
from typing import Callable, Iterator

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
URLSAFE = ALNUM + "-_"


class _G:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def mixed(self, n: int) -> str:
        """Random alphanumeric with at least one upper, lower and digit."""
        while True:
            v = self.s(ALNUM, n)
            if any(c.isupper() for c in v) and any(c.islower() for c in v) and any(c.isdigit() for c in v):
                return v

    def pick(self, items):  # noqa: ANN001
        return self.r.choice(items)

    def ts(self) -> str:
        return f"2026-03-02T{self.r.randint(0, 23):02d}:{self.r.randint(0, 59):02d}:{self.r.randint(0, 59):02d}.{self.r.randint(0, 999):03d}Z"

    def uuid(self) -> str:
        h = self.s(HEX, 32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{self.pick('89ab')}{h[17:20]}-{h[20:]}"

    def luhn_card(self, prefix: str, length: int) -> str:
        body = prefix + self.s(string.digits, length - len(prefix) - 1)
        total = 0
        for i, ch in enumerate(reversed(body)):
            d = int(ch)
            if i % 2 == 0:
                d *= 2
                d -= 9 if d > 9 else 0
            total += d
        return body + str((10 - total % 10) % 10)

    def iban(self) -> str:
        country, bban_len = self.pick([("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14), ("ES", 20), ("IT", 23)])
        if country == "GB":
            bban = self.s(string.ascii_uppercase, 4) + self.s(string.digits, 14)
        elif country == "NL":
            bban = self.s(string.ascii_uppercase, 4) + self.s(string.digits, 10)
        elif country == "IT":
            bban = self.pick(string.ascii_uppercase) + self.s(string.digits, 22)
        else:
            bban = self.s(string.digits, bban_len)
        num = "".join(str(int(c, 36)) for c in bban + country + "00")
        check = 98 - int(num) % 97
        raw = f"{country}{check:02d}{bban}"
        if self.r.random() < 0.5:
            return " ".join(raw[i:i + 4] for i in range(0, len(raw), 4))
        return raw

    def pem_body(self, lines: int = 6) -> list[str]:
        raw = bytes(self.r.getrandbits(8) for _ in range(48 * lines - self.r.randint(0, 30)))
        b = base64.b64encode(raw).decode()
        return [b[i:i + 64] for i in range(0, len(b), 64)]


def _log(g: _G, msg: str) -> str:
    level = g.pick(["INFO", "WARN", "ERROR", "DEBUG"])
    fmt = g.r.randint(0, 2)
    if fmt == 0:
        return f"{g.ts()} {level} [http-nio-8080-exec-{g.r.randint(1, 40)}] com.acme.payments.{g.pick(['PaymentService', 'Gateway', 'Client'])} - {msg}"
    if fmt == 1:
        return f'ts={g.ts()} level={level.lower()} svc=payments trace_id={g.s(HEX, 32)} msg="{msg}"'
    return f"{g.ts()} {level} payments-{g.s('0123456789abcdef', 9)}-{g.s(string.ascii_lowercase + string.digits, 5)} {msg}"


def _json_log(g: _G, key: str, value: str) -> str:
    return json.dumps({"ts": g.ts(), "level": "info", "msg": "request", key: value})


def _escaped_json_log(g: _G, key: str, value: str) -> str:
    inner = json.dumps({"user": "svc-payments", key: value, "retries": 3})
    return json.dumps({"ts": g.ts(), "level": "error", "msg": "upstream rejected body", "body": inner})


def _stack(g: _G, message: str) -> str:
    return (
        f"{g.ts()} ERROR [main] com.acme.payments.Boot - startup failed\n"
        f"java.lang.IllegalStateException: {message}\n"
        "\tat com.acme.payments.config.Loader.load(Loader.java:88)\n"
        "\tat com.acme.payments.Boot.main(Boot.java:21)"
    )


def _http(g: _G, header: str) -> str:
    return (
        f"POST /v1/charges HTTP/1.1\nHost: api.payments.internal\n{header}\n"
        f"Content-Type: application/json\nX-Request-Id: {g.uuid()}\n\n{{\"amount\": {g.r.randint(1, 9999)}}}"
    )


# --- secret kinds: each returns (context, text, secret) ----------------------------------------

def _keyed(g: _G, keys: list[str], value: str) -> tuple[str, str, str]:
    """A value under a secret-sounding key, in one of many formats."""
    key = g.pick(keys)
    fmt = g.r.randint(0, 8)
    if fmt == 0:
        return "properties", f"{key.lower().replace('_', '.')}={value}", value
    if fmt == 1:
        return "yaml", f"spring:\n  datasource:\n    {key.lower()}: \"{value}\"\n    url: jdbc:postgresql://db:5432/pay", value
    if fmt == 2:
        return "env", f"export {key.upper()}='{value}'", value
    if fmt == 3:
        return "json-log", _json_log(g, key.lower(), value), value
    if fmt == 4:
        return "escaped-json-log", _escaped_json_log(g, key.lower(), value), value
    if fmt == 5:
        return "query-string", _log(g, f"GET /callback?{key.lower()}={value}&order={g.r.randint(1, 99999)} 200"), value
    if fmt == 6:
        return "logfmt", _log(g, f"config loaded {key.lower()}={value} pool=20"), value
    if fmt == 7:
        return "stack-trace", _stack(g, f"cannot connect with {key.lower()}={value}"), value
    return "ini", f"[database]\nhost = db.internal\n{key.lower()} = {value}\n", value


def aws_access_key_id(g: _G):
    v = g.pick(["AKIA", "ASIA"]) + g.s(string.ascii_uppercase + "234567", 16)
    return g.pick([
        ("log", _log(g, f"assuming role with access key {v}")),
        ("ini", f"[default]\naws_access_key_id = {v}\nregion = eu-west-1"),
        ("json-log", _json_log(g, "accessKeyId", v)),
    ]) + (v,)


def aws_secret_key(g: _G):
    v = g.s(B64, 40)
    ctx, text, _ = _keyed(g, ["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "secretAccessKey", "aws_secret_key"], v)
    return ctx, text, v


def aws_session_token(g: _G):
    v = g.pick(["FwoGZXIvYXdzE", "IQoJb3JpZ2luX2Vj"]) + g.s(B64, 200) + "=="
    ctx, text, _ = _keyed(g, ["aws_session_token", "AWS_SESSION_TOKEN", "sessionToken"], v)
    return ctx, text, v


def gcp_api_key(g: _G):
    v = "AIza" + g.s(URLSAFE, 35)
    return g.pick([
        ("log", _log(g, f"GET https://maps.googleapis.com/maps/api/geocode/json?address=x&key={v} 200")),
        ("yaml", f"google:\n  maps_key: {v}\n"),
    ]) + (v,)


def gcp_service_account(g: _G):
    body = g.pem_body(8)
    v = "\\n".join(body)
    text = json.dumps({
        "type": "service_account", "project_id": "acme-prod", "private_key_id": g.s(HEX, 40),
        "client_email": "payments@acme-prod.iam.gserviceaccount.com",
    })[:-1] + f', "private_key": "-----BEGIN PRIVATE KEY-----\\n{v}\\n-----END PRIVATE KEY-----\\n"}}'
    return "json", text, v


def private_key_pem(g: _G):
    body = g.pem_body(g.r.randint(4, 10))
    label = g.pick(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
    form = g.r.randint(0, 2)
    sep = ["\n", "\\n", " "][form]
    v = sep.join(body)
    text = f"-----BEGIN {label}-----{sep}{v}{sep}-----END {label}-----"
    if form == 1:
        text = _log(g, f'tls config loaded key="{text}"')
    elif form == 2:
        text = _log(g, f"mounting key {text} from secret")
    return ["multiline", "escaped-newlines", "joined-by-spaces"][form], text, v


def openssh_key(g: _G):
    body = [b[:70] for b in g.pem_body(5)]
    v = "\n".join(body)
    return "file", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{v}\n-----END OPENSSH PRIVATE KEY-----\n", v


def azure_connection_string(g: _G):
    v = g.s(B64, 86) + "=="
    key = g.pick(["AccountKey", "SharedAccessKey"])
    text = (f"DefaultEndpointsProtocol=https;AccountName=acmepay;{key}={v};EndpointSuffix=core.windows.net"
            if key == "AccountKey" else
            f"Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;{key}={v}")
    return "connection-string", _log(g, f"connecting with {text}") if g.r.random() < 0.5 else text, v


def azure_sas(g: _G):
    v = g.s(ALNUM, 40) + "%3D"
    return "url", _log(g, f"GET https://acmepay.blob.core.windows.net/exports/a.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-04-01T00:00:00Z&sig={v} 403"), v


def github_token(g: _G):
    v = g.pick(["ghp_", "gho_", "ghs_", "ghu_"]) + g.s(ALNUM, 36) if g.r.random() < 0.8 else "github_pat_" + g.s(ALNUM, 22) + "_" + g.s(ALNUM, 59)
    return g.pick([
        ("log", _log(g, f"cloning https://x-access-token:{v}@github.com/acme/payments.git")),
        ("env", f"GITHUB_TOKEN={v}"),
        ("http", _http(g, f"Authorization: token {v}")),
    ]) + (v,)


def gitlab_token(g: _G):
    v = "glpat-" + g.s(URLSAFE, 20)
    return g.pick([("env", f"CI_JOB_TOKEN_OVERRIDE={v}"), ("http", _http(g, f"PRIVATE-TOKEN: {v}")),
                   ("log", _log(g, f"gitlab api call failed token {v} status=401"))]) + (v,)


def slack_token(g: _G):
    v = g.pick(["xoxb-", "xoxp-"]) + f"{g.s(string.digits, 12)}-{g.s(string.digits, 13)}-{g.s(ALNUM, 24)}"
    return g.pick([("env", f"SLACK_BOT={v}"), ("log", _log(g, f"slack client init with {v}"))]) + (v,)


def slack_webhook(g: _G):
    v = f"T{g.s(string.ascii_uppercase + string.digits, 8)}/B{g.s(string.ascii_uppercase + string.digits, 8)}/{g.s(ALNUM, 24)}"
    return "log", _log(g, f"notify https://hooks.slack.com/services/{v} failed: timeout"), v


def stripe_key(g: _G):
    v = g.pick(["sk_live_", "rk_live_", "sk_test_"]) + g.s(ALNUM, 24)
    return g.pick([("env", f"STRIPE={v}"), ("http", _http(g, f"Authorization: Bearer {v}")),
                   ("log", _log(g, f"stripe init key {v}"))]) + (v,)


def sendgrid_key(g: _G):
    v = f"SG.{g.s(URLSAFE, 22)}.{g.s(URLSAFE, 43)}"
    return g.pick([("env", f"SENDGRID={v}"), ("log", _log(g, f"mail client {v} ready"))]) + (v,)


def twilio(g: _G):
    if g.r.random() < 0.5:
        v = "SK" + g.s(HEX, 32)
        return "log", _log(g, f"twilio api key {v} rejected"), v
    v = g.s(HEX, 32)
    ctx, text, _ = _keyed(g, ["TWILIO_AUTH_TOKEN", "twilio_auth_token", "authToken"], v)
    return ctx, text, v


def datadog_key(g: _G):
    v = g.s(HEX, 32)
    return g.pick([("env", f"DD_API_KEY={v}"), ("http", _http(g, f"DD-API-KEY: {v}")),
                   ("yaml", f"datadog:\n  api_key: {v}\n  site: datadoghq.eu")]) + (v,)


def pagerduty_key(g: _G):
    v = g.s(URLSAFE + "+", 20)
    return g.pick([("http", _http(g, f"Authorization: Token token={v}")),
                   ("yaml", f"pagerduty:\n  routing_key: {g.s(HEX, 32)}\n  api_token: {v}")]) + (v,)


def npm_token(g: _G):
    v = "npm_" + g.s(ALNUM, 36)
    return "npmrc", f"//registry.npmjs.org/:_authToken={v}\nalways-auth=true", v


def pypi_token(g: _G):
    v = "pypi-AgEIcHlwaS5vcmc" + g.s(URLSAFE, 60)
    return g.pick([("ini", f"[pypi]\nusername = __token__\npassword = {v}"), ("env", f"TWINE_PASSWORD={v}")]) + (v,)


def openai_key(g: _G):
    v = g.pick(["sk-proj-", "sk-"]) + g.s(URLSAFE, 48)
    return g.pick([("env", f"OPENAI_API_KEY={v}"), ("log", _log(g, f"llm client using {v}"))]) + (v,)


def anthropic_key(g: _G):
    v = "sk-ant-api03-" + g.s(URLSAFE, 93) + "AA"
    return g.pick([("env", f"ANTHROPIC_API_KEY={v}"), ("http", _http(g, f"x-api-key: {v}"))]) + (v,)


def huggingface_token(g: _G):
    v = "hf_" + g.s(string.ascii_letters, 34)
    return g.pick([("env", f"HF_TOKEN={v}"), ("log", _log(g, f"downloading model with {v}"))]) + (v,)


def vault_token(g: _G):
    v = "hvs." + g.s(URLSAFE, 90) if g.r.random() < 0.7 else "s." + g.mixed(24)
    return g.pick([("http", _http(g, f"X-Vault-Token: {v}")), ("log", _log(g, f"vault login ok token {v}"))]) + (v,)


def jwt(g: _G):
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps({"sub": g.uuid(), "exp": 1772450000}).encode()).decode().rstrip("=")
    v = f"{header}.{payload}.{g.s(URLSAFE, 86)}"
    return g.pick([("log", _log(g, f"token rejected: {v}")), ("cookie", _http(g, f"Cookie: theme=dark; auth={v}")),
                   ("json-log", _json_log(g, "id_token", v))]) + (v,)


def bearer_token(g: _G):
    v = g.s(URLSAFE + ".~", 40)
    return g.pick([("http", _http(g, f"Authorization: Bearer {v}")),
                   ("log", _log(g, f'curl -H "Authorization: Bearer {v}" https://api.internal/v1'))]) + (v,)


def basic_auth(g: _G):
    v = base64.b64encode(f"svc-payments:{g.mixed(14)}".encode()).decode()
    return "http", _http(g, f"Authorization: Basic {v}"), v


def url_password(g: _G):
    v = g.mixed(16)
    scheme = g.pick(["postgres", "postgresql", "mysql", "redis", "amqp", "mongodb+srv", "https"])
    text = f"{scheme}://payments:{v}@db-{g.s(HEX, 4)}.prod.internal:5432/pay"
    return g.pick([("log", _log(g, f"connecting to {text}")), ("env", f"DATABASE_URL={text}"),
                   ("stack-trace", _stack(g, f"connection refused: {text}"))]) + (v,)


def password(g: _G):
    v = g.pick([g.mixed(12), g.s(ALNUM + "!#%^*", 16), g.pick(["hunter2", "Winter2026", "P@ssw0rd1"]) + g.s(string.digits, 3)])
    return _keyed(g, ["password", "db_password", "DB_PASSWORD", "spring.datasource.password", "passwd", "PGPASSWORD", "client_secret", "secret", "apiKey", "api_key", "access_token", "auth_token"], v)


def session_cookie(g: _G):
    v = g.mixed(32)
    name = g.pick(["session", "JSESSIONID", "sessionid", "connect.sid", "_gitlab_session"])
    return g.pick([("http", _http(g, f"Cookie: theme=dark; {name}={v}; lang=en")),
                   ("http", f"HTTP/1.1 200 OK\nSet-Cookie: {name}={v}; Path=/; HttpOnly; Secure")]) + (v,)


def k8s_secret(g: _G):
    v = base64.b64encode(g.mixed(18).encode()).decode()
    text = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments-db\n  namespace: prod\ntype: Opaque\n"
            f"data:\n  username: cGF5bWVudHM=\n  {g.pick(['password', 'db-pass', 'conn', 'value'])}: {v}\n")
    if g.r.random() < 0.4:
        text = json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "payments-db"},
                           "data": {"username": "cGF5bWVudHM=", "blob": v}})
    return "k8s", text, v


def email(g: _G):
    v = f"{g.pick(['ana', 'j.smith', 'wei.zhang', 'o.brien'])}{g.r.randint(1, 999)}@{g.pick(['example.com', 'mail.acme.io', 'corp.example.org'])}"
    return g.pick([("log", _log(g, f"payment declined for {v} order={g.r.randint(1, 99999)}")),
                   ("json-log", _json_log(g, "customer", v))]) + (v,)


def card_number(g: _G):
    prefix, length = g.pick([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)])
    raw = g.luhn_card(prefix, length)
    sep = g.pick(["", " ", "-"])
    v = sep.join([raw[:4], raw[4:10], raw[10:]] if length == 15 else [raw[i:i + 4] for i in range(0, 16, 4)]) if sep else raw
    return g.pick([("log", _log(g, f"charge failed card={v} amount=42.00")),
                   ("stack-trace", _stack(g, f"invalid card number {v}"))]) + (v,)


def iban(g: _G):
    v = g.iban()
    return "log", _log(g, f"payout to {v} scheduled"), v


def phone(g: _G):
    v = g.pick([f"+44 20 {g.r.randint(7000, 7999)} {g.r.randint(1000, 9999)}", f"+1 415 555 {g.r.randint(1000, 9999)}",
                f"+49 30 {g.r.randint(100000, 999999)}", f"(415) 555-{g.r.randint(1000, 9999)}",
                f"+33 6 {g.r.randint(10, 99)} {g.r.randint(10, 99)} {g.r.randint(10, 99)} {g.r.randint(10, 99)}"])
    return g.pick([("log", _log(g, f"sms sent to {v}")), ("json-log", _json_log(g, "phone", v))]) + (v,)


def ssn(g: _G):
    v = f"{g.r.randint(100, 665)}-{g.r.randint(10, 99)}-{g.r.randint(1000, 9999)}"
    return "log", _log(g, f"kyc check for ssn {v} passed"), v


def client_ip(g: _G):
    while True:
        v = f"{g.r.randint(11, 223)}.{g.r.randint(0, 255)}.{g.r.randint(0, 255)}.{g.r.randint(1, 254)}"
        first, second = int(v.split(".")[0]), int(v.split(".")[1])
        if first not in (10, 100, 127, 169, 172, 192) or (first == 172 and not 16 <= second <= 31):
            break
    return g.pick([("access-log", f'{v} - - [02/Mar/2026:11:02:03 +0000] "POST /v1/charges HTTP/1.1" 502 312'),
                   ("http", _http(g, f"X-Forwarded-For: {v}, 10.0.3.7"))]) + (v,)


SECRET_KINDS: dict[str, Callable[[_G], tuple[str, str, str]]] = {
    f.__name__.replace("_", "-"): f
    for f in (aws_access_key_id, aws_secret_key, aws_session_token, gcp_api_key, gcp_service_account, private_key_pem,
              openssh_key, azure_connection_string, azure_sas, github_token, gitlab_token, slack_token, slack_webhook,
              stripe_key, sendgrid_key, twilio, datadog_key, pagerduty_key, npm_token, pypi_token, openai_key,
              anthropic_key, huggingface_token, vault_token, jwt, bearer_token, basic_auth, url_password, password,
              session_cookie, k8s_secret, email, card_number, iban, phone, ssn, client_ip)
}


# --- benign look-alikes ----------------------------------------------------------------------

def _benign(g: _G) -> Iterator[tuple[str, str]]:
    sha = g.s(HEX, 40)
    yield "uuid", _log(g, f"order {g.uuid()} captured in {g.r.randint(5, 900)} ms")
    yield "trace-id", _log(g, f"traceparent=00-{g.s(HEX, 32)}-{g.s(HEX, 16)}-01 span_id={g.s(HEX, 16)}")
    yield "datadog-trace-id", _log(g, f"dd.trace_id={g.r.randint(10**18, 9 * 10**18)} dd.span_id={g.r.randint(10**17, 9 * 10**18)}")
    yield "git-sha", _log(g, f"deployed commit {sha} ({sha[:7]}) by pipeline {g.r.randint(1000, 99999)}")
    yield "image-digest", f"image: registry.acme.io/payments@sha256:{g.s(HEX, 64)}"
    yield "checksum", g.pick([f"sha256sum: {g.s(HEX, 64)}  payments-2.3.2.jar", f"md5={g.s(HEX, 32)} size={g.r.randint(1000, 10**7)}",
                              f'"integrity": "sha512-{g.s(B64, 86)}=="', f"etag: W/\"{g.s(HEX, 32)}\""])
    yield "request-id", g.pick([f"X-Request-Id: {g.uuid()}", _log(g, f"request_id=req_{g.s(ALNUM, 14)} status=200"),
                                _log(g, f"correlation-id={g.s(string.digits + 'ABCDEFGHJKMNPQRSTVWXYZ', 26)}")])
    yield "pod-name", _log(g, f"pod payments-{g.s(HEX, 10)}-{g.s(string.ascii_lowercase + string.digits, 5)} OOMKilled on node ip-10-0-{g.r.randint(0, 255)}-{g.r.randint(0, 255)}.eu-west-1.compute.internal")
    yield "version", _log(g, f"version={g.r.randint(1, 9)}.{g.r.randint(0, 40)}.{g.r.randint(0, 20)} java=17.0.{g.r.randint(1, 12)}+{g.r.randint(1, 30)} build={g.r.randint(1, 9)}.{g.r.randint(0, 9)}.{g.r.randint(0, 99)}.{g.r.randint(1000, 9999)}")
    yield "timestamp", g.pick([_log(g, f"lag={g.r.randint(0, 100000)} ts_ms={g.r.randint(1700000000000, 1799999999999)} ns={g.r.randint(1700000000000000000, 1799999999999999999)}"),
                               f"{g.ts()} {g.ts()[:10]} 02/Mar/2026:11:02:03 +0000 +01:00"])
    yield "placeholder", g.pick(["spring.datasource.password=${DB_PASSWORD}", "password: ${PAYMENTS_DB_PASSWORD}",
                                 'api_key: "{{ .Values.apiKey }}"', "token=<your-token-here>", "secret: ******",
                                 "DATABASE_URL=postgres://app:${DB_PASS}@db:5432/pay", "password: null"])
    yield "idempotency-key", g.pick([_log(g, f"idempotency_key={g.uuid()} replayed"), _json_log(g, "idempotency_key", g.s(ALNUM, 24)),
                                     f"Idempotency-Key: {g.uuid()}"])
    yield "kms-key-id", g.pick([f"kms_key_id: arn:aws:kms:eu-west-1:{g.s(string.digits, 12)}:key/{g.uuid()}",
                                _json_log(g, "kmsKeyId", g.uuid()), f"ssh_key_fingerprint=SHA256:{g.s(B64, 43)}"])
    yield "secret-words", g.pick([_log(g, f"max_tokens={g.r.randint(100, 9000)} token_count={g.r.randint(1, 9000)} tokens_per_s={g.r.randint(1, 99)}"),
                                  "secretName: payments-db\nsecretKeyRef:\n  name: payments-db\n  key: password",
                                  _log(g, f"next_page_token={g.s(ALNUM, 20)} page=3"), _log(g, f"password_reset_requested=true user_id={g.r.randint(1, 10**6)}"),
                                  _log(g, f"cache_key=user:{g.r.randint(1, 10**6)} partition_key={g.uuid()} session_count={g.r.randint(1, 999)}")])
    yield "private-ip", _log(g, f"upstream 10.{g.r.randint(0, 255)}.{g.r.randint(0, 255)}.{g.r.randint(1, 254)}:8080 via 172.20.{g.r.randint(0, 255)}.{g.r.randint(1, 254)} from 192.168.{g.r.randint(0, 255)}.{g.r.randint(1, 254)}")
    yield "stack-trace", (f"java.lang.NullPointerException: Cannot invoke \"Customer.getWallet()\" because \"customer\" is null\n"
                          f"\tat com.acme.payments.PaymentService.process(PaymentService.java:{g.r.randint(10, 900)})\n"
                          f"\tat com.acme.payments.Http2Handler$1.run(Http2Handler.java:{g.r.randint(10, 900)})\n\t... {g.r.randint(1, 90)} more")
    yield "numbers", _log(g, f"heap_used_bytes={g.r.randint(10**8, 10**10)} gc_pause_ms={g.r.randint(1, 900)} port={g.r.randint(1024, 65535)} amount=42.{g.r.randint(10, 99)} qty {g.r.randint(1, 9)} of {g.r.randint(10, 99)}")
    yield "java-object", _log(g, f"evicting com.acme.cache.Entry@{g.s(HEX, 8)} hash={g.r.randint(-2**31, 2**31)} offset={g.r.randint(0, 10**12)}")
    yield "promql", f'sum by (pod) (rate(http_server_requests_seconds_count{{service="payments",status=~"5.."}}[5m])) / ignoring(status) group_left sum(rate(x[5m]))'
    yield "k8s-configmap", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: payments\ndata:\n  pool.size: \"20\"\n  cache.ttl: 15m\n  revision: {sha}"
    yield "git-remote", _log(g, f"fetch git@github.com:acme/payments.git ref refs/heads/main {sha[:12]}")


def generate(per_kind: int = 200, seed: int = 7) -> list[dict]:
    """The corpus: ``per_kind`` records per secret kind, and as many benign records in total per benign type."""
    g = _G(seed)
    out: list[dict] = []
    for kind, make in SECRET_KINDS.items():
        for i in range(per_kind):
            context, text, secret = make(g)
            assert secret in text, (kind, text)
            out.append({"id": f"{kind}-{i}", "kind": kind, "context": context, "text": text, "secret": secret})
    for i in range(per_kind):
        for kind, text in _benign(g):
            out.append({"id": f"benign:{kind}-{i}", "kind": f"benign:{kind}", "context": "benign", "text": text, "secret": None})
    return out


def survives(secret: str, output: str) -> bool:
    """True when any part of ``secret`` past its first 4 characters is still in ``output``.

    The rest of the secret is checked in windows of 8 characters (the whole rest when shorter).
    """
    rest = secret[4:]
    width = min(8, len(rest))
    if width == 0:
        return False
    return any(rest[i:i + width] in output for i in range(0, len(rest) - width + 1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-kind", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    for record in generate(args.per_kind, args.seed):
        sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()


# --- the public-sample corpus: material written by others (see tests/data/redact/SOURCES.md) ---------

PUBLIC_SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "redact" / "public_samples.json"
LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub"

_CLASSES = {
    "alnum": ALNUM, "hex": HEX, "digit": string.digits, "alpha": string.ascii_letters, "A-Z2-7": string.ascii_uppercase + "234567",
    "alnumext": ALNUM + "_-", "word-": ALNUM + "_-", "word~.": ALNUM + "_~.", "word~.-": ALNUM + "_~.-",
}


def _make(g: _G, parts: list) -> str:
    out = []
    for part in parts:
        if part[0] == "lit":
            out.append(part[1])
        elif part[0] == "cls":
            out.append(g.s(_CLASSES[part[1]], part[2]))
        else:  # a PEM block of random key bytes
            body = g.pem_body(g.r.randint(4, 8))
            out.append(f"-----BEGIN {part[1]}-----\n" + "\n".join(body) + f"\n-----END {part[1]}-----")
    return "".join(out)


def public_corpus(seed: int = 7, loghub: bool = True, loghub_per_system: int = 2000) -> list[dict]:
    """Records built only from public material: literal samples, documented formats in gitleaks' contexts, Loghub.

    Every record is ``{"id", "kind", "context", "text", "secret", "source"}`` as in :func:`generate`;
    benign records have ``kind`` ``benign:<type>`` and ``secret`` None. Loghub lines (research licence:
    read from ``../shared`` at run time, never copied into the repository) are benign records of type
    ``benign:loghub-<System>``; in them the removal of public IP addresses and e-mail addresses is
    expected (they are personal data), so :func:`loghub_damaged` judges those records.
    """
    data = json.loads(PUBLIC_SAMPLES.read_text(encoding="utf-8"))
    g = _G(seed)
    out: list[dict] = []
    for i, r in enumerate(data["tps"]):
        out.append({"id": f"public-tp-{i}", "kind": r["kind"], "context": "literal", "text": r["text"],
                    "secret": r["secret"], "source": r["source"]})
    templates = data["contexts"]["templates"]
    for i, f in enumerate(data["formats"]):
        for name, template in templates.items():
            secret = _make(g, f["parts"])
            text = template.replace("{i}", f["identifier"]).replace("{s}", secret)
            body = secret.split("\n")[1] if secret.startswith("-----BEGIN") else secret
            out.append({"id": f"public-fmt-{i}-{name}", "kind": f["kind"], "context": name, "text": text,
                        "secret": body, "source": f["source"] + " + " + data["contexts"]["source"]})
    for i, r in enumerate(data["fps"]):
        out.append({"id": f"public-fp-{i}", "kind": f"benign:{r['type']}", "context": "literal", "text": r["text"],
                    "secret": None, "source": r["source"]})
    if loghub and LOGHUB.is_dir():
        for log in sorted(LOGHUB.glob("*/*_2k.log")):
            system = log.parent.name
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[:loghub_per_system]
            for j, line in enumerate(lines):
                out.append({"id": f"loghub-{system}-{j}", "kind": f"benign:loghub-{system}", "context": "log",
                            "text": line, "secret": None, "source": f"Loghub {system}_2k.log (../shared/data/loghub)"})
    return out


_IP_SHAPE = r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+)"
_EMAIL_SHAPE = r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9.\-]+\.[A-Za-z]{2,24}"


def loghub_damaged(text: str, output: str) -> bool:
    """For real log lines: True when anything other than IP or e-mail addresses was changed.

    The output must equal the input with some IP-shaped or e-mail-shaped tokens replaced by
    ``[REDACTED:ip]`` / ``[REDACTED:email]``; any other difference (another marker, a changed
    byte) is damage.
    """
    if output == text:
        return False
    pattern = re.escape(output).replace(re.escape("[REDACTED:ip]"), _IP_SHAPE).replace(
        re.escape("[REDACTED:email]"), _EMAIL_SHAPE)
    return re.fullmatch(pattern, text) is None
