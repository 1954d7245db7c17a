"""Redaction: secrets and personal data out of every text before it leaves the machine.

Every Evidence passes through :func:`redact_evidence` before it is rendered or
returned as JSON; :func:`redact` does the same for one string, for chatbots and
pipelines that redact their own text. What is removed is replaced by a marker
that says what it was, so the prompt stays readable::

    >>> redact("password=hunter2 user=bob")
    'password=[REDACTED:password] user=bob'
    >>> redact("GET /charge?api_key=4f9a8c2e1b7d6a5c&amount=42 from 81.2.69.160")
    'GET /charge?api_key=[REDACTED:api-key]&amount=42 from [REDACTED:ip]'

What is caught (kinds, as they appear in markers):

- credentials: ``aws-access-key-id``, ``aws-secret-key``, ``aws-session-token``,
  ``gcp-api-key``, ``private-key`` (PEM / OpenSSH, across lines, with ``\\n``
  escapes or joined by spaces), ``azure-key``, ``azure-sas``, ``github-token``,
  ``gitlab-token``, ``slack-token``, ``slack-webhook``, ``stripe-key``,
  ``sendgrid-key``, ``twilio-key``, ``npm-token``, ``pypi-token``,
  ``openai-key``, ``anthropic-key``, ``huggingface-token``, ``vault-token``,
  ``jwt``, ``bearer-token``, ``basic-auth``, ``url-password``, ``cookie``,
  ``k8s-secret``, one kind per further provider in ``redact_providers.py``
  (``shopify-token``, ``digitalocean-token``, ``databricks-token``, ...), and
  values of secret-sounding keys in properties, YAML, JSON
  (also JSON escaped inside a log line), env files, query strings, headers and
  command-line flags (``password``, ``secret``, ``token``, ``api-key``,
  ``session``, ``signature``, ``aws-secret-key``, ...);
- personal data (category ``pii``): ``email`` (also percent-encoded), ``card-number``
  (Luhn and issuer/length checked, with spaces, dashes, dots, plus signs or none),
  ``card-cvv`` (beside its key), ``iban`` (mod-97 and length checked), ``phone``,
  ``ssn`` (US; nine bare digits only beside an SSN key or label), ``ip`` (public
  client addresses; private, loopback and link-local ranges and well-known public
  resolvers are infrastructure and stay).

What is deliberately kept (the allow stage, :func:`_is_placeholder`, decides for every rule
that a value names, points at or stands in for a secret rather than being one): UUIDs,
trace/span/request ids, git SHAs, image digests, checksums, pod names, versions (also
``Chrome/122.0.0.0``, which is not an address), timestamps; references and placeholders
(``${VAR}``, ``%(db_password)s``, ``{{ .Values.x }}``, ``<redacted>``, ``****``, ``os.getenv("X")``,
``existingSecret: billing-credentials``, ``secretKey: password``, a provider prefix followed by
words such as ``ghp_your_token_here``); role mailboxes (``no-reply@``, ``postmaster@``) and
``user@host`` prompts; and ids beside secret-sounding words (``idempotency_key``, ``kms_key_id``,
``secretName``, ``max_tokens``, ``next_page_token``).

Design, in the order a text goes through it:

1. Decode first: a word holding percent-encoding, a form value's ``+``, or JSON/unicode escapes
   is decoded piece by piece and the decoded piece redacted (``email=jane.doe%40example.com``,
   ``cardnumber=4111+1111+1111+1111``); base64 of text is decoded and redacted whole when what
   it encodes holds a secret.
2. Provider formats, as data (``redact_providers.py``: one entry per provider with its whole
   documented token, a validator, its marker kind and its documented examples); their triggers
   are found in one pass.
3. Structure: key/value pairs in any separator style (``=``, ``:``, ``:=``, ``=>``, ``?=``,
   whitespace before a quote), YAML block scalars, two-line ``- name:`` / ``value:`` entries, XML
   elements and name/value pairs, call arguments (``define('DB_PASSWORD', …)``), command-line
   flags and short flags of well-known commands (``mysql -pS3cret``, ``sshpass -p``), headers,
   cookies, URLs with passwords, labels in plain words (``secret key 8dF3…``).
4. Personal data: e-mail addresses, card numbers (Luhn and issuer checked, any separator),
   IBANs (mod-97), phone numbers, SSNs, card security codes, public IP addresses.

Each rule is guarded by a cheap prefilter so that its regular expression only runs when its
trigger is present; a rule never touches an earlier marker. Everything is local: no rule makes
a network call or reads a file.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .evidence import Evidence
from .redact_providers import PROVIDERS

__all__ = ["redact", "redact_evidence", "RedactionConfig", "RedactionRule", "KINDS", "CATEGORIES"]

_MARK = "[REDACTED:"
# stands in, during one pass, for an encoded piece already judged benign once decoded (private-use characters)
_HOLD = "\ue000"
_HELD = re.compile("\ue000(\\d+)\ue001")


def _marker(kind: str) -> str:
    return f"{_MARK}{kind}]"


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

PII_KINDS = frozenset({"email", "card-number", "card-cvv", "iban", "phone", "ssn", "ip"})
CREDENTIAL_KINDS = frozenset(
    {
        "aws-access-key-id", "aws-secret-key", "aws-session-token", "gcp-api-key", "gcp-oauth-token", "private-key",
        "azure-key", "azure-sas", "github-token", "gitlab-token", "slack-token", "slack-webhook",
        "stripe-key", "sendgrid-key", "twilio-key", "datadog-key", "pagerduty-key", "npm-token",
        "pypi-token", "openai-key", "anthropic-key", "huggingface-token", "vault-token", "jwt",
        "bearer-token", "basic-auth", "url-password", "cookie", "k8s-secret",
        # values of secret-sounding keys
        "password", "secret", "token", "api-key", "session", "signature", "credential",
        "connection-string",
    }
) | frozenset(p.kind for p in PROVIDERS)
#: Every built-in kind, as written in markers and accepted by ``RedactionConfig.disable``.
KINDS = CREDENTIAL_KINDS | PII_KINDS
#: Category names accepted by ``RedactionConfig.disable`` (each turns off a group of kinds).
CATEGORIES = {"credentials": CREDENTIAL_KINDS, "pii": PII_KINDS}


class RedactionRule(BaseModel):
    """One extra rule from config.

    ``pattern`` is a Python regular expression. If it has a group named
    ``secret`` only that group is replaced, else group 1 if there is one, else
    the whole match. ``kind`` names the marker: ``[REDACTED:<kind>]``.

    >>> RedactionRule(kind="employee-id", pattern=r"\\bEMP-(\\d{6})\\b").kind
    'employee-id'
    """

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="marker name, e.g. employee-id")
    pattern: str = Field(description="Python regular expression")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            rx = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if rx.match(""):
            raise ValueError("pattern matches the empty string")
        return value


class RedactionConfig(BaseModel):
    """The ``redaction:`` section of ``ctxgrab.yaml``.

    ::

        redaction:
          rules:                       # extra rules, run after the built-ins
            - {kind: employee-id, pattern: '\\bEMP-(\\d{6})\\b'}
          allowlist: ['AKIAIOSFODNN7EXAMPLE', 'test-token-[0-9]+']
          disable: [phone]             # kinds or categories: credentials, pii
          client_ips: false            # keep client IP addresses

    >>> redact("call +44 20 7946 0958", RedactionConfig(disable=["phone"]))
    'call +44 20 7946 0958'
    """

    model_config = ConfigDict(extra="forbid")

    rules: list[RedactionRule] = Field(default_factory=list, description="extra rules")
    allowlist: list[str] = Field(
        default_factory=list,
        description="regular expressions; a would-be-redacted value that fully matches one is kept",
    )
    disable: list[str] = Field(
        default_factory=list, description="kinds (e.g. phone, email) or categories (credentials, pii) to turn off"
    )
    client_ips: bool = Field(default=True, description="redact public client IP addresses")

    @field_validator("allowlist")
    @classmethod
    def _allow_compiles(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"allowlist entry {value!r} is not a valid regular expression: {exc}") from None
        return values

    @field_validator("disable")
    @classmethod
    def _known(cls, values: list[str]) -> list[str]:
        for value in values:
            if value not in KINDS and value not in CATEGORIES:
                known = ", ".join(sorted(CATEGORIES) + sorted(KINDS))
                raise ValueError(f"unknown redaction kind or category {value!r}; known: {known}")
        return values


# ---------------------------------------------------------------------------
# Helpers: validators and value classification
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# The allow stage: values that name, point at or stand in for a secret, decided here only
# ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"""(?ix)^(?:
        \$\{\{[^}]*\}\} | \$\{[^}]*\}? | \$\([^)]*\)? | ~ | <%=?[^%]*%> | !\w+\s+\S.* | \$[A-Z_][A-Z0-9_]* | \{\{[^{}]*\}\} | \{%[^{}]*%\} | %\(?\w*\)?[sd] | <[^<>]*> | \{[\w.-]*\}
      | \#\{[^}]*\} | \$\$\{[^}]*\} | 0x[0-9a-f]{1,16} | (?:[a-z_]\w*\.)+[A-Z][\w$]*@[0-9a-f]{1,16} | %env\([^)]*\)% | %[A-Z_][A-Z0-9_]*% | @[A-Z_][A-Z0-9_]*@ | \$\$[A-Za-z_]\w*
      | ENC\[.*\] | !secret\s+\S+ | vault:\S+ | arn:aws:(?:secretsmanager|ssm|kms):\S+ | (?:sm|ssm|gcpsm|azkv)://\S+
      | (?:os\.environ|os\.getenv|getenv|process\.env|ENV|env|System\.getenv|Environment\.GetEnvironmentVariable)
        (?:\[[^\]]*\]|\([^)]*\)|\.\w+)
      | secretKeyRef | valueFrom | existingSecret
      | \*+ | x{3,} | X{3,} | \.{3} | … | \? | - | _+ | \#+ | 0{6,}
      | null | none | nil | true | false | yes | no | on | off | undefined | n/?a | empty | unset | required | optional
      | redacted | masked | hidden | filtered | \[filtered\] | \[redacted\] | \[hidden\] | \[masked\] | sensitive
      | (?:your|my|the|some|insert|enter|put|add|replace)[-_ ]?(?:[a-z]+[-_ ]){0,3}(?:here|key|token|secret|password)
      | (?:replace|change)[-_]?me | todo | tbd | fixme | placeholder | dummy | example | sample | notset | not[-_]set | default
    )$"""
)
# a provider's prefix and then words, no digits: sk-ant-oat01-tooShort, ghp_your_token_here, sk_live_REPLACE_ME
# (a real token's random tail has digits; tokens in their documented shape were removed before this is asked)
_PREFIX_PLACEHOLDER = re.compile(
    r"(?:sk-ant-[a-z]+\d\d-|sk-(?:proj-|svcacct-|admin-)?|[sr]k_(?:live|test)_|gh[pousr]_|github_pat_|glpat-|xox[abposre]-"
    r"|hf_|npm_|pypi-|SG\.|AIza|dop_v1_|shpat_|lin_api_|dckr_pat_)[A-Za-z_\-]{1,40}")
# the value is itself the name of a secret or a reference to one: password, db-password,
# billing-credentials, api_key (as in secretKey: password, existingSecret: billing-credentials)
_SECRET_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*$")
_SECRET_NAME_WORDS = frozenset({
    "password", "passwd", "pass", "pwd", "secret", "secrets", "token", "tokens", "key", "keys", "credential",
    "credentials", "creds", "apikey", "auth", "cert", "certs", "tls", "ssh", "htpasswd", "dockerconfigjson",
})


def _names_a_secret(value: str) -> bool:
    """``billing-credentials``, ``db-password``, ``api-key``: lower-case names, one of whose words names a secret."""
    if len(value) > 63 or not _SECRET_NAME.match(value) or any(c.isdigit() for c in value.replace("v1", "")):
        return False
    return any(w in _SECRET_NAME_WORDS for w in re.split(r"[-_.]", value))


# a file path with at least two parts, where a secret would not be
_PATH_VALUE = re.compile(r"^(?:/|~/|\./|[A-Za-z]:\\)[\w.\-]+(?:[/\\][\w.\-@]+)+[/\\]?$")


def _is_path(value: str) -> bool:
    """A file path (mostly lower-case words between slashes), not a random value that contains a slash."""
    if not _PATH_VALUE.match(value):
        return False
    return sum(c.isupper() or c.isdigit() for c in value) < 0.2 * len(value)


def _is_placeholder(value: str) -> bool:
    """The allow stage: True for a value that stands in for a secret, or names one, rather than being one."""
    v = value.strip().strip("\"'`").strip()
    return (not v or _MARK in value or (_HOLD in value and _HELD.search(value) is not None) or bool(_PLACEHOLDER.match(v)) or _names_a_secret(v)
            or not _varied(v) or bool(_CODE_REF.fullmatch(v)) or bool(_PREFIX_PLACEHOLDER.fullmatch(v)))


def _looks_random(value: str) -> bool:
    """True for values shaped like a credential: long, or mixing letters and digits."""
    if len(value) >= 20:
        return True
    if len(value) < 8:
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if has_digit and has_alpha:
        return True
    # letters only: random when upper case shows up past the first character next to lower case (base64)
    return any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)


def _varied(value: str) -> bool:
    """Not a placeholder of one repeated character: glpat-XXXXXXXXXXX-XXXX, hf_xxxxxxxx…, xoxp-…-####."""
    if len(value) < 10:
        return True
    top = max(map(value.count, set(value)))
    return top * 2 < len(value)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_issuer_ok(d: str) -> bool:
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    if d[0] == "1":
        return n == 15  # UATP (AirPlus); only taken after a word that says "card"
    p2, p4 = int(d[:2]), int(d[:4])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p2 in (34, 37):
        return n == 15
    if p2 in (36, 38, 39) or 300 <= int(d[:3]) <= 305:
        return 14 <= n <= 19
    if 3528 <= p4 <= 3589 or p2 == 62 or p4 == 6011 or p2 == 65 or 644 <= int(d[:3]) <= 649:
        return 16 <= n <= 19
    if p4 in _MAESTRO_PREFIXES or d[:6] in ("676770", "676774"):
        return 12 <= n <= 19
    return False


_MAESTRO_PREFIXES = frozenset({5018, 5019, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763})


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
    "BY": 28, "TL": 23, "VA": 22, "SC": 31, "LC": 32, "ST": 25, "SV": 28, "IQ": 23, "LY": 25, "SD": 18, "BI": 27,
    "DJ": 27, "RU": 33, "MN": 20, "NI": 28, "SO": 23, "FK": 18, "OM": 23, "YE": 30, "HN": 28,
}


def _iban_ok(raw: str) -> bool:
    s = raw.replace(" ", "")
    if _IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return int(num) % 97 == 1


_KEEP_NETS = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.168.0.0/16", "224.0.0.0/3", "::/127", "fc00::/7", "fe80::/10", "ff00::/8",
    )
]


# public resolvers everybody configures: infrastructure, not anybody's address
_WELL_KNOWN_IPS = frozenset({"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112",
                             "208.67.222.222", "208.67.220.220", "2001:4860:4860::8888", "2001:4860:4860::8844",
                             "2606:4700:4700::1111"})


def _public_ip(text: str) -> bool:
    if text in _WELL_KNOWN_IPS:
        return False
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not any(addr.version == net.version and addr in net for net in _KEEP_NETS)


def _basic_ok(value: str) -> bool:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in raw


# --- secret-sounding keys ----------------------------------------------------

_STRONG_SUFFIXES = (
    "password", "passwd", "passphrase", "passcode", "secret", "token", "apikey", "accesskey",
    "secretkey", "privatekey", "credentials", "credential", "sessionid", "sessid", "authtoken",
)
_STRONG_WORDS = {"pwd", "pass", "pw", "creds", "jwt", "otp", "connstr", "connectionstring", "sastoken"}
_WEAK_WORDS = {"auth", "authorization", "session", "sid", "sig", "signature", "cookie", "pin", "hmac", "nonce", "dsn"}
_KEY_QUALIFIERS = {
    "api", "access", "secret", "private", "signing", "encryption", "master", "app", "application", "auth",
    "account", "shared", "client", "service", "routing", "integration", "subscription", "admin", "sas",
    "storage", "session", "webhook", "deploy", "license", "consumer", "hmac", "x", "dd", "ssh", "rsa",
}
_NOT_SECRET_PREV = {"page", "next", "continuation", "sync", "cursor", "resume", "pagination", "csrf_field", "max"}
_NOT_SECRET_SEGMENTS = {"bypass", "compass", "tokenizer", "tokens", "sessions", "passed", "passes", "passing"}
_GENERIC_TAILS = {"base", "value", "val", "string", "str", "data", "b64", "base64", "hex", "encoded", "raw", "pem",
                  "plain", "plaintext", "encrypted", "enc", "bytes"}
# keys that hold the name of, or a pointer to, a secret (Kubernetes / Helm / ExternalSecret fields)
_REFERENCE_HEADS = {"existing", "use", "external", "remote", "from", "has", "is", "enable", "enabled", "require",
                    "required", "allow", "min", "max", "rotate", "rotation", "last", "expires", "expiry", "reset"}
_REFERENCE_TAILS = {"name", "names", "ref", "refs", "file", "path", "dir", "arn", "env", "var", "length", "len", "id",
                    "ids", "type", "kind", "mode", "version", "count", "ttl", "age", "expiry", "expires", "at",
                    "policy", "provider", "store", "template", "header", "field", "enabled", "required", "format",
                    "algorithm", "alg", "size", "bits", "location", "uri", "endpoint", "hint", "prompt", "label"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEG_SPLIT = re.compile(r"[^A-Za-z0-9]+")


@lru_cache(maxsize=4096)
def _key_kind(key: str) -> tuple[str, bool] | None:
    """Classify a key name: ``(marker kind, strong)`` when its value is a secret, else None.

    The decision rests on the last word of the key (``kms_key_id`` ends in
    ``id``, ``idempotency_key`` in an unqualified ``key``: both are kept).
    """
    segs = [s.lower() for s in _SEG_SPLIT.split(_CAMEL.sub("_", key)) if s]
    while len(segs) > 1 and segs[-1] in _GENERIC_TAILS:  # secret_key_base, private_key_pem, password_b64
        segs.pop()
    if not segs:
        return None
    tail = segs[-1]
    prev = segs[-2] if len(segs) > 1 else ""
    if tail in _NOT_SECRET_SEGMENTS or prev in _NOT_SECRET_PREV:
        return None
    if "".join(segs[-2:]) in ("sessionid", "sessid", "sessionkey", "sessiontoken") and prev not in ("max", "min"):
        return ("session", True)
    if segs[0] in _REFERENCE_HEADS or tail in _REFERENCE_TAILS:
        return None  # existingSecret, secretName, passwordRef, token_file: the name of a secret, not one
    joined = "".join(segs)
    if joined in ("ssn", "socialsecuritynumber", "socialsecurity", "ssnumber") or tail == "ssn":
        return ("ssn", True)
    if tail in ("cvv", "cvv2", "cvc", "cvc2", "csc", "cid") and (tail != "cid" or prev == "card") \
            or joined.endswith(("securitycode", "cardverification", "verificationcode")) and "card" in joined:
        return ("card-cvv", True)
    if tail in ("phone", "mobile", "msisdn", "tel", "telephone") or joined.endswith(("phonenumber", "mobilenumber")):
        return ("phone", True)
    aws = "aws" in segs or joined.startswith("aws")
    if joined.endswith(("secretaccesskey", "awssecretkey", "awssecret")):
        return ("aws-secret-key", True)
    if aws and joined.endswith("sessiontoken") or joined.endswith("amzsecuritytoken"):
        return ("aws-session-token", True)
    if joined.endswith("connectionstring") or joined.endswith("connstr"):
        return ("connection-string", True)
    if tail == "key" and prev in _KEY_QUALIFIERS:
        return ("api-key" if prev in ("api", "x", "dd", "app", "application", "consumer") else "secret", True)
    if tail in _STRONG_WORDS:
        return ("password" if tail in ("pwd", "pass", "pw") else "secret", True)
    for suffix in _STRONG_SUFFIXES:
        if tail.endswith(suffix):
            if suffix.startswith("pass"):
                return ("password", True)
            if suffix in ("token", "authtoken"):
                return ("token", True)
            if suffix in ("apikey",):
                return ("api-key", True)
            if suffix in ("sessionid", "sessid"):
                return ("session", True)
            if suffix.startswith("credential"):
                return ("credential", True)
            return ("secret", True)
    if tail in _WEAK_WORDS:
        kind = {"sig": "signature", "signature": "signature", "session": "session", "sid": "session"}.get(tail, "secret")
        return (kind, False)
    if tail == "url" and prev in ("webhook", "dsn", "hook"):
        return ("secret", True)
    if len(segs) == 1 and tail in ("key", "appid", "appkey", "apikey", "accesskey", "clientkey", "licensekey"):
        return ("api-key", False)  # ?key=… / appid=…: an API key when the value looks like one
    return None


# ---------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    kind: str
    rx: re.Pattern[str]
    triggers: tuple[str, ...] = ()  # substrings; the rule runs only when one is present
    lower: bool = False  # match triggers against the lower-cased text
    group: int | str = 0  # the part of the match that is replaced
    check: Callable[[str], bool] | None = None  # validates the secret value


def _r(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


# Token kinds recognised by their own shape (a vendor prefix or a fixed structure): one entry per
# provider in redact_providers.py.
_TOKEN_RULES: list[_Rule] = [
    _Rule(p.kind, re.compile(p.pattern), p.triggers, p.lower, p.group, p.check) for p in PROVIDERS
]

_PEM = _r(
    r"-----BEGIN ((?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:[\sA-Za-z0-9+/=\\:,.\-\"'()]*?-----END \1-----|[\sA-Za-z0-9+/=\\:,.\-]*)"
)
_SSH2 = _r(r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----[\s\S]*?(?:---- END SSH2 ENCRYPTED PRIVATE KEY ----|$)")
# A whole line of base64 (a PEM body line logged on its own): no log line is only that.
_B64_LINE = _r(r"(?m)^[ \t]*([A-Za-z0-9+/]{16,76}={0,2})[ \t]*$")

# <password>x</password>, and <add key="ApiKey" value="x"/> / <property name="password" value="x"/>
_XML_ELEMENT = _r(r"(<([A-Za-z_][\w.\-:]{0,60})(?:\s[^<>]*)?>)(\s*)([^<>\n]{1,500}?)(\s*)(</\2>)")
# <name>fs.s3a.secret.key</name> <value>…</value> (Hadoop, Spring XML)
_XML_NAME_ELEMENTS = _r(r"(<(?:name|key)>\s*([\w.\-:]{1,80})\s*</(?:name|key)>\s*<value>\s*)([^<>]{1,2000}?)(\s*</value>)")
# - name: AWS_SECRET_ACCESS_KEY / value: "…" on the next line; {"name": "X", "value": "…"} inline
_NAME_VALUE = _r(
    r"(?i)(?<![\w-])(?:name|key|env|variable)(\\{0,3}[\"'])?[ \t]*[:=][ \t]*(\\{0,3}[\"'])?([A-Za-z_][\w.\-]{0,80})\2?"
    r"([ \t]*,?[ \t]*(?:\r?\n[ \t]*(?:-[ \t]+)?)?(\\{0,3}[\"'])?value\5?[ \t]*[:=][ \t]*)(\\{0,3}[\"'])?"
)
# command lines whose password follows a short flag or a pipe
_CLI_GLUED = _r(r"(?<![\w-])(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mysqlsh|mariadb|mariadb-dump)\b"
                r"[^\n|;&]*?\s-p(?!\s)([^\s\"']+|\"[^\"]*\"|'[^']*')")
_CLI_SPACED = _r(
    r"(?<![\w-])(?:(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlsh|mariadb|mongo|mongosh|mongodump)\b[^\n|;&]*?\s-p"
    r"|sshpass\b[^\n|;&]*?\s-p|redis-cli\b[^\n|;&]*?\s-a|ldap(?:search|add|modify|delete|passwd|whoami)\b[^\n|;&]*?\s-w"
    r"|\blogin\b[^\n|;&]*?\s-p|\bsecret\s+set\s+\S+\s+(?:--body|-b)"
    r"|(?:sqlcmd|bcp|osql)\b[^\n|;&]*?\s-P|keytool\b[^\n|;&]*?\s-(?:store|key|src|dest)(?:store)?pass"
    r"|openssl\b[^\n|;&]*?\s-(?:k|pass(?:in|out)?\s+(?:pass|env):?)|zip\b[^\n|;&]*?\s-P|7z\b[^\n|;&]*?\s-p(?=\S)"
    r"|smbclient\b[^\n|;&]*?\s-U\s*[^\s%]+%)"
    r"[ \t]*([^\s\"'|;&]+|\"[^\"]*\"|'[^']*')"
)
_CLI_ECHO = _r(r"\b(?:echo|printf)\s+(?:-n\s+|-e\s+)*([\"']?)([^\s\"'|]+)\1\s*\|\s*(?:sudo\b[^|\n]*?\s-S|passwd\b[^|\n]*--stdin"
               r"|chpasswd|kinit|(?:docker|podman|helm|nerdctl)\b[^|\n]*--password-stdin|\S*login\b[^|\n]*--password-stdin)")
# "the secret key 8dF3…", "password is Hunter22": a label in plain words, then the value
# aws configure set aws_secret_access_key …; git config credential.password …; npm config set //…:_authToken …
_CONFIG_SET = _r(r"(?i)\b(?:configure|config(?::set)?)\s+(?:set\s+)?(?:--?[\w-]+\s+)*([\w.:/@\-]{2,120})[ \t]+([^\s\"'=]+|\"[^\"]*\"|'[^']*')")
# rclone config create s3 s3 secret_access_key VALUE; --set db_password VALUE: a secret key's name, a space, a token
_KEY_SPACE_VALUE = _r(r"(?i)(?<![\w.\-/:=])([A-Za-z][\w]*[_.\-][\w.\-]*?(?:secret|password|passwd|token|key)[\w]*)[ \t]+"
                      r"([A-Za-z0-9+/=_\-.~]{8,200})(?![\w+/=\-.~])")
# htpasswd -b[c] FILE USER PASSWORD
_HTPASSWD = _r(r"\bhtpasswd\s+(?:-\w*b\w*\s+)(?:-\w+\s+)*\S+\s+\S+\s+([^\s|;&]+)")
# define('DB_PASSWORD', '…'), os.environ.setdefault("TOKEN", "…"), props.setProperty("x.password", "…"), put("X-Api-Key", …)
_CALL_PAIR = _r(r"\(\s*(\\?[\"'])([\w.:\-]{1,80})\1\s*,\s*(\\?[\"'])((?:\\.|(?!\3).){1,500}?)\3\s*[,)]")
_PROSE = _r(
    r"(?i)(?<![\w-])(password|passwd|passphrase|passcode|pwd|secret(?:[ _-]?key)?|api[ _-]?key|access[ _-]?key"
    r"|private[ _-]?key|auth(?:entication)?[ _-]?token|access[ _-]?token|bearer[ _-]?token|refresh[ _-]?token|token|pin"
    r"|ssn|social security(?: number)?|card(?: number)?|cvv2?|cvc2?|csc)"
    r"(?:[ \t]+(?:is|was|of|=|:|->|set to|changed to|reset to))?[ \t]+[\"'`]?([^\s,;\"'`()<>\[\]]{3,200})"
)
_XML_NAME_VALUE = _r(r"(\b(?:key|name)\s*=\s*[\"'])([\w.\-:]{1,60})([\"']\s+value\s*=\s*[\"'])([^\"'<>]*)([\"'])")
_NETRC = _r(r"\bmachine\s+\S+\s+login\s+\S+\s+password\s+(\S+)")
_CURL_USER = _r(r"(?<!\S)(?:-u|--user)\s*[\"']?[^\s:\"']+:([^\s\"'@]+)")
_CERTIFICATE = _r(r"-----BEGIN ([A-Z ]*(?:CERTIFICATE|PUBLIC KEY|PUBLIC KEY BLOCK|PGP MESSAGE|PGP SIGNATURE|CERTIFICATE REQUEST)|"
                  r"X509 CRL)-----[\s\S]*?(?:-----END \1-----|$)")
_AUTH_HEADER = _r(
    r"(?i)(?<![\w-])(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
    r"(?:(bearer|basic|token|digest|negotiate|ntlm|apikey|sso-key|key|dsn|splunk|hmac|otp)\s+)?"
    r"([^\s\"',;]+)"
)
_BEARER = _r(r"(?<![\w-])[Bb]earer\s+([A-Za-z0-9._~+/\-]{12,}=*)")
_BASIC = _r(r"(?<![\w-])[Bb]asic\s+([A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])")
_URL_PASSWORD = _r(r"(?<![\w+.\-])([a-zA-Z][a-zA-Z0-9+.\-]{1,20}://)([^\s:/@?#\"']*):([^\s@/?#\"']+)@(?=[\w\[.\-%])")
_COOKIE = _r(r"(?im)(?<![\w-])(set-cookie|cookie)(\"?\s*:\s*)([^\r\n\"]*)")
_COOKIE_PAIR = _r(r"(\s*)([^=;,\s]+)=([^;]*)")
_FLAG = _r(
    r"(?i)(?<!\S)--?((?:[a-z]+-)*(?:password|passwd|pass|token|secret|api-key|apikey|access-key|secret-key"
    r"|secret-access-key|client-secret|auth-token|session-token|private-key))[ =]"
    r"(\{\{[^{}\n]*\}\}|\$\{[^}\n]*\}|[^\s\"']+|\"[^\"]*\"|'[^']*')"
)
_AWS_PAIR = _r(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z2-7]{16}[\s,:;|/\"'=]{1,5}([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")
_K8S_KIND = _r(r"(?i)\\*[\"']?kind\\*[\"']?\s*:\s*\\*[\"']?Secret\b")

# key<sep> then the value, located by _value_span. The look-ahead keeps the
# expensive part to keys that contain one of the stems.
_KV_HEAD = _r(
    r"(?i)(?:(?<![\w.\-/:])|(?<=-D)|(?<=\s--)|(?<=^--))(?=[\w.\-]{0,60}?(?:pass|pw|secret|token|key|auth|cred|sess|sid|sig|jwt|otp|cookie|dsn|"
    r"conn|phone|mobile|msisdn|tel|nonce|hmac|pin|appid|ssn|social|cvv|cvc|csc|securitycode|security_code))"
    r"([A-Za-z_][\w.\-]{0,80})(\\{0,3}[\"'])?(?:\[\]|\])?"
    r"((?:[ \t]+(?:string|str|secretstr|char\*?|bytes))?[ \t]{0,8}(?:=>|[?+.:]{0,3}=|:)[ \t]{0,3}@?|[ \t]+(?=[\"']))"
    r"(\\{0,3}[\"'`])?"
)
_DIGIT = _r(r"\d")
# fooapikeyfoo "…";  #define API_TOKEN "…";  a name holding a secret word, then a quoted literal ending the statement
_QUOTED_AFTER_KEY = _r(r"(?i)(?<![\w\\])\w*(?:api_?key|private_?key|secret|token|passwd|password)\w*[ \t]*([\"'])"
                       r"([^\"'\n]{6,200})\1[ \t]*;")
_PROSE_TRIGGER_RX = re.compile(r"pass|pwd|secret|key|token|pin\b|ssn|social|cvv|cvc|csc")
_LOWER_NAME = _r(r"[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)+")
_UUID = _r(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEXISH = _r(r"[0-9a-f]{7,64}")
_FIRST_MARK = _r(r"\[REDACTED:([a-z0-9-]+)\]")
# a word holding an encoding: %XX, \uXXXX, \xXX, \/ or a form value's + for space
_ENCODED_WORD = _r(r"[^\s\"'<>`]*(?:%[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}|\\/|\+)[^\s\"'<>`]*")
_PCT = _r(r"%[0-9A-Fa-f]{2}")
_ENC_HINT = _r(r"%[0-9A-Fa-f]{2}|\\[ux/]|=[^\s&=]*\+")
_JSON_ESC = _r(r"\\(?:u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|(/))")
_B64_HINT = _r(r"[A-Za-z0-9+/]{16}")
_B64_VALUE = _r(r"(?<![A-Za-z0-9+/=_\-.])[A-Za-z0-9+/]{16,4096}={0,2}(?![A-Za-z0-9+/=_\-])")


def _decode_piece(piece: str) -> str:
    """Undo percent-encoding (and + for space in a form value) and JSON escapes in one piece of a word."""
    out = piece
    if "\\" in out:
        out = _JSON_ESC.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)) if (m.group(1) or m.group(2)) else "/", out)
    if "+" in out and "=" in out:
        key, _, value = out.partition("=")
        out = key + "=" + value.replace("+", " ")
    for _ in range(3):  # %2540 is %40 encoded again
        if "%" not in out or not _PCT.search(out):
            break
        out = urllib.parse.unquote(out, errors="replace")
    return out


def _plus_mattered(piece: str, red_dec: str) -> bool:
    """Whether a removal in the decoded form covers a '+' of the raw piece (4111+1111+…), when '+' was all it decoded."""
    if _PCT.search(piece) or "\\" in piece:
        return True
    pattern = "".join("(.+?)" if p.startswith(_MARK) else re.escape(p).replace(r"\ ", "[+ ]")
                      for p in re.split(r"(\[REDACTED:[a-z0-9-]+\])", red_dec) if p)
    m = re.fullmatch(pattern, piece)
    return m is None or any("+" in g for g in m.groups())


def _residue(text: str) -> int:
    """How much of a redacted text is not a marker: the smaller, the more was removed."""
    return len(_FIRST_MARK.sub("", text))
# numbers that cannot be a card number (a fraction, or too few digits): the bulk of series values
_PLAIN_NUMBER = _r(r"[-+]?(?:\d{1,12}|\d*\.\d+|\d+\.\d*)(?:[eE][-+]?\d+)?")


@lru_cache(maxsize=16)
def _token_table(off: frozenset[str]) -> tuple[list["_Rule"], dict[str, set[int]], re.Pattern[str], re.Pattern[str] | None]:
    """The provider rules still on, which rules each trigger wakes, and the trigger patterns (built once per setting)."""
    rules = [r for r in _TOKEN_RULES if r.kind not in off]
    every = {t for r in rules for t in r.triggers}
    wakes = {p: {i for i, r in enumerate(rules) if any(p.startswith(t) for t in r.triggers)} for p in every}
    lowered = [t for r in rules if r.lower for t in r.triggers]
    return (rules, wakes, _trigger_rx(t for r in rules if not r.lower for t in r.triggers),
            _trigger_rx(lowered) if lowered else None)


def _trigger_rx(triggers: Any) -> re.Pattern[str]:
    words = sorted(set(triggers), key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words)) if words else re.compile(r"(?!)")


_KV_TRIGGERS = (
    "pass", "pw", "secret", "token", "key", "auth", "cred", "sess", "sid", "sig", "jwt", "otp", "cookie", "dsn",
    "conn", "phone", "mobile", "msisdn", "tel", "nonce", "hmac", "pin", "appid", "ssn", "social", "cvv", "cvc", "csc",
    "security",
)
_KV_TRIGGER_RX = re.compile("|".join(_KV_TRIGGERS))

_EMAIL = _r(r"(?<![\w.%+\-])([A-Za-z0-9][A-Za-z0-9._%+\-]{0,63})@((?:[A-Za-z0-9\-]{1,63}\.)+[A-Za-z]{2,24})(?![\w\-])")
_CARD = _r(r"(?<![\w\-.+/])(?:[2-6]\d{3}(?:[ \-.+]?\d){8,15}|1\d{14})(?![\w\-]|[.+/]\d)")
# a word that says a card number follows (a 15-digit UATP number starting with 1 counts only after one)
_CARD_CONTEXT = _r(r"(?i)(?:card|cc|pan|cardnumber|credit)\W{0,12}(?:number|no|num|#)?\W{0,4}$")
_IBAN_HINT = _r(r"[A-Z]{2}\d{2}")
_IBAN = _r(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])")
_SSN = _r(r"(?<![\w\-.])(?!000|666|9\d\d)\d{3}([- .])(?!00)\d{2}\1(?!0000)\d{4}(?![\w\-]|\.\d)")
_PHONE = _r(
    r"(?<![\w+\-./])(?:\+[1-9]\d{0,2}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){1,4}"
    r"|(?:1[ .\-])?\(\d{3}\)[ ]?\d{3}[ .\-]\d{4}|(?:1[ .\-])?\d{3}[.\-]\d{3}[.\-]\d{4}|[2-9]\d{2} [2-9]\d{2} \d{4})(?![\w\-]|\.\d)"
)
# "tel 07911 123456", "call 020 7946 0958": a national number after a word that says it is one
_PHONE_LABELLED = _r(r"(?i)(?<![\w-])(?:tel|phone|mobile|cell|call|sms|whatsapp|fax)[:.]?[ \t]+(?:no\.?[ \t]+|number[ \t]+)?"
                     r"(\(?0\d[\d ()\-]{7,16}\d)(?![\w\-]|\.\d)")
_IPV4 = _r(r"(?<![\w.:])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)")
# a run of hex digits and at least two colons; ipaddress decides (no nested quantifiers: no backtracking blow-up)
_IPV6 = _r(r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?![\w:.])")
# a bare digit run right after one of these names is an id or a clock reading, not a card
_ID_CONTEXT = _r(
    r"(?i)(?:(?:trace|span|parent|request|req|correlation|order|offset|seq|epoch|nonce|msg|message|event|txn|transaction"
    r"|invoice|tracking|serial|build|job|ticket|batch|shipment|pipeline|run)[_\-. ]?(?:id|no|number)?"
    r"|(?:ts|time|timestamp|epoch|offset|seq|sequence)(?:[_\-]?(?:ms|ns|us|s|millis|nanos))?)\W{0,4}$"
)


# ---------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------


class _Redactor:
    """The rule set for one configuration, compiled once."""

    def __init__(self, config: RedactionConfig | None) -> None:
        cfg = config or RedactionConfig()
        off: set[str] = set()
        for name in cfg.disable:
            off |= CATEGORIES.get(name, {name})
        if not cfg.client_ips:
            off.add("ip")
        self.off = frozenset(off)
        self.allow = re.compile("|".join(f"(?:{a})" for a in cfg.allowlist)) if cfg.allowlist else None
        self.token_rules, self.wakes, self.trigger_rx, self.lower_trigger_rx = _token_table(self.off)
        self.extra = [(r.kind, re.compile(r.pattern)) for r in cfg.rules]
        self._memo: dict[str, str] = {}

    # -- one replacement ---------------------------------------------------
    def _keep(self, kind: str, value: str) -> bool:
        return kind in self.off or _MARK in value or (_HOLD in value and _HELD.search(value) is not None) or (
            self.allow is not None and self.allow.fullmatch(value) is not None)

    def _tokens(self, rule: "_Rule", text: str) -> str:
        """A provider rule: its own check, and a token of a few repeated characters (glpat-XXXX…) is a placeholder."""
        check = rule.check

        def ok(value: str) -> bool:
            return _varied(value) and (check is None or check(value))

        return self._sub(rule.rx, rule.kind, text, rule.group, ok)

    def _sub(self, rx: re.Pattern[str], kind: str, text: str, group: int | str = 0,
             check: Callable[[str], bool] | None = None) -> str:
        if kind in self.off:
            return text

        def repl(m: re.Match[str]) -> str:
            value = m.group(group)
            if value is None or self._keep(kind, value) or (check is not None and not check(value)):
                return m.group(0)
            if group == 0:
                return _marker(kind)
            start, end = m.span(group)
            base = m.start()
            whole = m.group(0)
            return whole[: start - base] + _marker(kind) + whole[end - base:]

        return rx.sub(repl, text)

    # -- the pass ----------------------------------------------------------
    def __call__(self, text: str) -> str:
        if len(text) < 6 or _PLAIN_NUMBER.fullmatch(text):
            return text
        if len(text) > 256:
            done = self._redact(text)
        else:
            # label values, names and templates repeat across series and evidence: remember short ones
            done = self._memo.get(text)
            if done is None:
                if len(self._memo) >= 8192:
                    self._memo.clear()
                done = self._memo[text] = self._redact(text)
        # nothing removed: the very object that came in (a str subclass, such as text the
        # renderer marked as its own, keeps its type)
        return text if done == text else done

    def _redact(self, text: str) -> str:
        held: list[str] = []
        if ("%" in text or "\\" in text or "+" in text) and _ENC_HINT.search(text) and _HOLD not in text:
            text = self._decoded(text, held)
        out = self._plain(text)
        if held:
            out = _HELD.sub(lambda m: held[int(m.group(1))], out)
        return out

    def _plain(self, text: str) -> str:
        lower = text.lower()
        out = text
        if "PRIVATE KEY" in text or "private key" in lower:
            out = self._sub(_PEM, "private-key", out)
            if "SSH2" in out:
                out = self._sub(_SSH2, "private-key", out)
        if "secret" in lower and "kind" in lower:
            out = self._k8s_secret(out)
        if "AKIA" in out or "ASIA" in out:
            out = self._sub(_AWS_PAIR, "aws-secret-key", out, 1)
        # the triggers present, found in one pass; each wakes the rules one of whose triggers it starts with
        present = set(self.trigger_rx.findall(out))
        if self.lower_trigger_rx is not None:
            present.update(self.lower_trigger_rx.findall(lower))
        if present:
            awake: set[int] = set()
            for p in present:
                awake |= self.wakes[p]
            for i in sorted(awake):
                out = self._tokens(self.token_rules[i], out)
            lower = out.lower()
        if "authorization" in lower:
            out = self._auth_header(out)
        if "earer" in out:
            out = self._sub(_BEARER, "bearer-token", out, 1, lambda v: any(c.isdigit() for c in v) or len(v) >= 20)
        if "asic " in out:
            out = self._sub(_BASIC, "basic-auth", out, 1, _basic_ok)
        if "://" in out:
            out = self._sub(_URL_PASSWORD, "url-password", out, 3, lambda v: not _is_placeholder(v))
        if "cookie" in lower:
            out = self._cookies(out)
        if "-" in out and ("pass" in lower or "secret" in lower or "token" in lower or "key" in lower):
            out = self._flags(out)
        if " -" in out or "|" in out:
            out = self._cli(out)
        if len(out) >= 16 and _B64_HINT.search(out):
            out = self._b64_values(out)
        lower = out.lower()
        if "value" in lower and _KV_TRIGGER_RX.search(lower):
            out = self._name_value(out)
            lower = out.lower()
        if _KV_TRIGGER_RX.search(lower):
            out = self._key_values(out)
            lower = out.lower()
        if _PROSE_TRIGGER_RX.search(lower):
            out = self._prose(out)
        if "config" in lower:
            out = self._pairs(_CONFIG_SET, out, 1, 2)
        if _KV_TRIGGER_RX.search(lower):
            out = self._key_space(out)
        if "htpasswd" in lower:
            out = self._sub(_HTPASSWD, "password", out, 1, lambda v: not _is_placeholder(v))
        if "(" in out and "," in out and _KV_TRIGGER_RX.search(lower):
            out = self._pairs(_CALL_PAIR, out, 2, 4)
        if ";" in out and ("'" in out or '"' in out):
            out = self._sub(_QUOTED_AFTER_KEY, "secret", out, 2,
                            lambda v: not _is_placeholder(v) and _looks_random(v) and " " not in v)
        if "<" in out and ">" in out:
            out = self._xml(out)
        if "machine" in lower or "-u" in out or "--user" in out:
            out = self._sub(_NETRC, "password", out, 1, lambda v: not _is_placeholder(v))
            out = self._sub(_CURL_USER, "password", out, 1, lambda v: not _is_placeholder(v))
        if len(out) >= 16:
            if "-----BEGIN" in out and _CERTIFICATE.search(out):  # certificate and public-key bodies are public
                out = self._outside_certificates(out)
            else:
                out = self._sub(_B64_LINE, "private-key", out, 1, _b64_line_ok)
        out = self._pii(out)
        for kind, rx in self.extra:
            out = self._sub(rx, kind, out, "secret" if "secret" in rx.groupindex else (1 if rx.groups else 0))
        return out

    # -- contextual rules ---------------------------------------------------
    def _auth_header(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            scheme, value = (m.group(1) or "").lower(), m.group(2)
            if _is_placeholder(value) or "=" in value.rstrip("="):
                return m.group(0)  # token token=..., Digest k=v: the key-value rule handles those
            if not scheme and not _looks_random(value):
                return m.group(0)  # authorization: enabled
            kind = "basic-auth" if scheme == "basic" else "bearer-token"
            if self._keep(kind, value):
                return m.group(0)
            s, e = m.span(2)
            return m.group(0)[: s - m.start()] + _marker(kind) + m.group(0)[e - m.start():]

        return _AUTH_HEADER.sub(repl, text) if "bearer-token" not in self.off else text

    def _cookies(self, text: str) -> str:
        if "cookie" in self.off:
            return text

        def repl(m: re.Match[str]) -> str:
            first_only = m.group(1).lower() == "set-cookie"
            parts = m.group(3).split(";")
            for i, part in enumerate(parts):
                pm = _COOKIE_PAIR.fullmatch(part)
                if pm is None or (first_only and i > 0):
                    continue
                value = pm.group(3)
                named = _key_kind(pm.group(2)) is not None or pm.group(2).lower() in _SESSION_COOKIES
                if (named or _looks_random(value) or len(value) >= 16) and not _is_placeholder(value) \
                        and not self._keep("cookie", value):
                    parts[i] = f"{pm.group(1)}{pm.group(2)}={_marker('cookie')}"
            return m.group(1) + m.group(2) + ";".join(parts)

        return _COOKIE.sub(repl, text)

    def _flags(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            value = m.group(2)
            kk = _key_kind(m.group(1))
            kind = kk[0] if kk else "secret"
            if _is_placeholder(value) or self._keep(kind, value):
                return m.group(0)
            s = m.start(2) - m.start()
            return m.group(0)[:s] + _marker(kind)

        return _FLAG.sub(repl, text)

    def _key_values(self, text: str) -> str:
        pieces: list[str] = []
        pos = skip_to = 0
        for m in _KV_HEAD.finditer(text):
            if m.start() < pos or m.start() < skip_to:
                continue
            kk = _key_kind(m.group(1))
            if kk is None:
                continue
            kind, strong = kk
            if kind in self.off:
                continue
            key_quote, sep, quote = m.group(2), m.group(3), m.group(4)
            if not sep.strip() and (not strong or quote is None):
                continue  # apikey "…";  a key then a quoted value with no sign between: strong keys only
            vstart = m.end()
            to_eol = quote is None and key_quote is None and ":" in sep and _at_line_start(text, m.start())
            vend = _value_end(text, vstart, quote, to_eol)
            value = text[vstart:vend]
            guard = vend  # whatever is decided, nothing inside this value is a key of its own
            if to_eol and value in _BLOCK_SCALAR:
                # token: |  (the value is the indented block below the key)
                bstart, bend = _block_span(text, m.start(), vend)
                if bend > bstart and not self._keep(kind, text[bstart:bend]):
                    pieces.append(text[pos:bstart])
                    pieces.append(_marker(kind))
                    pos = bend
                continue
            if not value or _is_placeholder(_AUTH_SCHEME.sub("", value)) or _is_path(value):
                skip_to = guard  # ${DB_PASSWORD:-x}: the placeholder's inside is not another key
                continue
            if kind == "secret" and key_lower_tail(m.group(1)) == "cookie" and "=" in value:
                continue  # Cookie: a=b; c=d — the cookie rule judges each pair
            if quote is None and _IDENT.fullmatch(value) and text[vend:vend + 3].lstrip(" ")[:1] in ("(", "[", "{"):
                continue  # os.getenv("X"), env("X"), Token{…}: code or an object, not a value
            if not strong and "=" not in sep and kind == "api-key" and _key_is_bare(m.group(1)):
                continue  # "- key: MySecretManagerKey": a bare key only names an API key in key=value form
            if kind == "api-key" and not strong and _key_is_bare(m.group(1)) and (
                    not any(c.isdigit() for c in value) or not _TOKEN_CHARS.fullmatch(value)):
                continue  # cache key=user:12345:profile names an entry; ?key=AIza… / appid=0123abcd… are keys
            if kind == "ssn" and sum(c.isdigit() for c in value) != 9:
                continue
            if kind == "card-cvv" and not (value.isdigit() and 3 <= len(value) <= 4):
                continue
            if not strong and not _looks_random(value) and not (
                    key_lower_tail(m.group(1)) == "pin" and value.isdigit() and 4 <= len(value) <= 8):
                continue
            if kind == "phone" and sum(c.isdigit() for c in value) < 6:
                continue
            if self._keep(kind, value):
                continue
            pieces.append(text[pos:vstart])
            pieces.append(_marker(kind))
            pos = vend
        if not pieces:
            return text
        pieces.append(text[pos:])
        return "".join(pieces)

    def _name_value(self, text: str) -> str:
        """``- name: AWS_SECRET_ACCESS_KEY`` then ``value: …``: the name on one line says what the next holds."""
        pieces: list[str] = []
        pos = 0
        for m in _NAME_VALUE.finditer(text):
            if m.start() < pos:
                continue
            kk = _key_kind(m.group(3))
            if kk is None or kk[0] in self.off:
                continue
            quote = m.group(6)
            vstart = m.end()
            value_end = _value_end(text, vstart, quote[-1] if quote else None, quote is None)
            if quote is None:  # unquoted: to the end of the line, or to a delimiter inside {...}
                stop = min((i for i in (text.find(c, vstart, value_end) for c in ",}]") if i >= 0), default=value_end)
                value_end = stop
                while value_end > vstart and text[value_end - 1] in " \t\r":
                    value_end -= 1
            value = text[vstart:value_end]
            if not value or _is_placeholder(value) or _is_path(value) or (not kk[1] and not _weak_ok(m.group(3), value)):
                continue
            if self._keep(kk[0], value):
                continue
            pieces.append(text[pos:vstart])
            pieces.append(_marker(kk[0]))
            pos = value_end
        if not pieces:
            return text
        pieces.append(text[pos:])
        return "".join(pieces)

    def _key_space(self, text: str) -> str:
        """``secret_access_key VALUE``: an identifier naming a secret, a space, then a random-looking token."""

        def repl(m: re.Match[str]) -> str:
            kk = _key_kind(m.group(1))
            value = m.group(2)
            digits = any(c.isdigit() for c in value)
            if kk is None or not kk[1] or kk[0] in self.off or not digits or not _looks_random(value) \
                    or _is_placeholder(value) or _UUID.fullmatch(value) or self._keep(kk[0], value):
                return m.group(0)
            s, e = m.span(2)
            return m.group(0)[: s - m.start()] + _marker(kk[0]) + m.group(0)[e - m.start():]

        return _KEY_SPACE_VALUE.sub(repl, text)

    def _pairs(self, rx: re.Pattern[str], text: str, key_group: int, value_group: int) -> str:
        """A key and its value found by ``rx`` (a call's two arguments, ``config set KEY VALUE``): the key decides."""

        def repl(m: re.Match[str]) -> str:
            kk = _key_kind(m.group(key_group).split("/")[-1].split(":")[-1])
            value = m.group(value_group)
            if kk is None or kk[0] in self.off or _is_placeholder(value) or _is_path(value.strip("\"'")) \
                    or (not kk[1] and not _looks_random(value)) or self._keep(kk[0], value):
                return m.group(0)
            s, e = m.span(value_group)
            return m.group(0)[: s - m.start()] + _marker(kk[0]) + m.group(0)[e - m.start():]

        return rx.sub(repl, text)

    def _cli(self, text: str) -> str:
        """Passwords given to well-known commands by short flag (``mysql -pS3cret``, ``sshpass -p …``) or pipe."""
        if "password" in self.off:
            return text

        def glued(m: re.Match[str]) -> str:
            value = m.group(1)
            if _is_placeholder(value) or self._keep("password", value):
                return m.group(0)
            s, e = m.span(1)
            return m.group(0)[: s - m.start()] + _marker("password") + m.group(0)[e - m.start():]

        def spaced(m: re.Match[str]) -> str:
            value = m.group(1)
            bare = value.strip("\"'")
            if _is_placeholder(value) or self._keep("password", value) or bare.startswith("-") or _is_path(bare):
                return m.group(0)
            s, e = m.span(1)
            return m.group(0)[: s - m.start()] + _marker("password") + m.group(0)[e - m.start():]

        def echo(m: re.Match[str]) -> str:
            value = m.group(2)
            if _is_placeholder(value) or self._keep("password", value) or value.startswith("$"):
                return m.group(0)
            s, e = m.span(2)
            return m.group(0)[: s - m.start()] + _marker("password") + m.group(0)[e - m.start():]

        text = _CLI_GLUED.sub(glued, text)
        text = _CLI_SPACED.sub(spaced, text)
        if "|" in text:
            text = _CLI_ECHO.sub(echo, text)
        return text

    def _prose(self, text: str) -> str:
        """A label in plain words before the value: ``secret key 8dF3kLq92mZx``, ``password is Hunter22``."""

        def repl(m: re.Match[str]) -> str:
            label, value = m.group(1).lower(), m.group(2)
            value = value.rstrip(".:!?")
            if _MARK in value or _is_placeholder(value) or _is_path(value) or "://" in value or "=" in value:
                return m.group(0)
            digits = sum(c.isdigit() for c in value)
            if label.startswith(("ssn", "social")):
                kind = "ssn"
                if digits != 9 or len(value) > 11:
                    return m.group(0)
            elif label.startswith("card"):
                return m.group(0)  # card numbers are found by their own check digits
            elif label.startswith(("cvv", "cvc", "csc")):
                kind = "card-cvv"
                if not (value.isdigit() and 3 <= len(value) <= 4):
                    return m.group(0)
            elif label == "pin":
                kind = "secret"
                if not (4 <= len(value) <= 8 and value.isdigit()):
                    return m.group(0)
            else:
                kind = "password" if label.startswith("pass") or label == "pwd" else (
                    "token" if "token" in label else "api-key" if "api" in label else "secret")
                letters = sum(c.isalpha() for c in value)
                if len(value) < 6 or not (digits and letters and (len(value) >= 8 or any(c.isupper() for c in value))):
                    return m.group(0)
                if _UUID.fullmatch(value) or _HEXISH.fullmatch(value) and label in ("token", "pin"):
                    return m.group(0)
                if _LOWER_NAME.fullmatch(value):
                    return m.group(0)  # "secret payments-db-v2 rotated": a name
            if kind in self.off or self._keep(kind, value):
                return m.group(0)
            s = m.start(2) - m.start()
            return m.group(0)[:s] + _marker(kind) + m.group(0)[s + len(value):]

        return _PROSE.sub(repl, text)

    def _decoded(self, text: str, held: list[str]) -> str:
        """Redact inside encodings: percent-encoded and form values, JSON/unicode escapes.

        Each word holding an encoding is decoded piece by piece (pieces split at ``&``) and the
        decoded piece redacted; where that removes something, the piece is replaced by the
        redacted decoded form (or by the redacted raw form when that removes more). Pieces
        with nothing to remove are left byte for byte.
        """
        out: list[str] = []
        pos = 0
        for m in _ENCODED_WORD.finditer(text):
            word = m.group(0)
            parts = word.split("&")
            changed = False
            for i, piece in enumerate(parts):
                dec = _decode_piece(piece)
                if dec == piece:
                    continue
                red_dec = self._plain(dec)
                red_raw = self._plain(piece)
                if red_dec == dec:
                    key, eq, value = piece.partition("=") if "=" in piece else ("", "", piece)
                    if red_raw != piece and _is_placeholder(_decode_piece(value)):
                        # a reference such as %24%7BDB_PASSWORD%7D: decoded, it is a placeholder
                        held.append(value)
                        parts[i] = f"{key}{eq}{_HOLD}{len(held) - 1}\ue001"
                        changed = True
                    continue
                if red_raw == piece and not _plus_mattered(piece, red_dec):
                    continue  # bounces+12345@host: only '+' was decoded, and no removal spans one
                parts[i] = red_raw if red_raw != piece and _residue(red_raw) <= _residue(red_dec) else red_dec
                changed = True
            if changed:
                out.append(text[pos:m.start()])
                out.append("&".join(parts))
                pos = m.end()
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)

    def _b64_values(self, text: str) -> str:
        """Base64 of text (a config file or credentials inside a manifest): redacted whole when what it encodes holds a secret."""

        def repl(m: re.Match[str]) -> str:
            raw = m.group(0)
            if len(raw) % 4 or not (any(c.isupper() for c in raw) and any(c.islower() for c in raw)):
                return raw
            try:
                dec = base64.b64decode(raw, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return raw
            if len(dec) < 6 or sum(c.isprintable() or c in "\n\r\t" for c in dec) < len(dec):
                return raw
            red = self._plain(dec)
            if red == dec:
                return raw
            found = _FIRST_MARK.search(red)
            kind = found.group(1) if found else "secret"
            return raw if self._keep(kind, raw) else _marker(kind)

        return _B64_VALUE.sub(repl, text)

    def _xml(self, text: str) -> str:
        def element(m: re.Match[str]) -> str:
            kk = _key_kind(m.group(2))
            value = m.group(4)
            if kk is None or _is_placeholder(value) or (not kk[1] and not _weak_ok(m.group(2), value)) \
                    or self._keep(kk[0], value):
                return m.group(0)
            return f"{m.group(1)}{m.group(3)}{_marker(kk[0])}{m.group(5)}{m.group(6)}"

        def name_elements(m: re.Match[str]) -> str:
            kk = _key_kind(m.group(2))
            value = m.group(3)
            if kk is None or _is_placeholder(value) or (not kk[1] and not _looks_random(value)) \
                    or self._keep(kk[0], value):
                return m.group(0)
            return f"{m.group(1)}{_marker(kk[0])}{m.group(4)}"

        if "<value>" in text:
            text = _XML_NAME_ELEMENTS.sub(name_elements, text)

        def name_value(m: re.Match[str]) -> str:
            kk = _key_kind(m.group(2))
            value = m.group(4)
            if kk is None or _is_placeholder(value) or (not kk[1] and not _looks_random(value)) \
                    or self._keep(kk[0], value):
                return m.group(0)
            return f"{m.group(1)}{m.group(2)}{m.group(3)}{_marker(kk[0])}{m.group(5)}"

        text = _XML_ELEMENT.sub(element, text)
        return _XML_NAME_VALUE.sub(name_value, text)

    def _outside_certificates(self, text: str) -> str:
        spans = [m.span() for m in _CERTIFICATE.finditer(text)]

        def repl(m: re.Match[str]) -> str:
            inside = any(a <= m.start() < b for a, b in spans)
            if inside or not _b64_line_ok(m.group(1)) or self._keep("private-key", m.group(1)):
                return m.group(0)
            s, e = m.span(1)
            return m.group(0)[: s - m.start()] + _marker("private-key") + m.group(0)[e - m.start():]

        return _B64_LINE.sub(repl, text) if "private-key" not in self.off else text

    def _k8s_secret(self, text: str) -> str:
        if "k8s-secret" in self.off or not _K8S_KIND.search(text):
            return text
        if "\n" in text and re.search(r"(?m)^\s*(?:data|stringData)\s*:\s*$", text):
            return _k8s_yaml(text)
        return _k8s_json(text)

    def _pii(self, text: str) -> str:
        off = self.off
        if "@" in text and "email" not in off:
            out = []
            pos = 0
            for m in _EMAIL.finditer(text):
                local = m.group(1).lower().split("+")[0]
                domain = m.group(2).lower()
                if local in _ROLE_MAILBOXES or self._keep("email", m.group(0)) \
                        or domain.rsplit(".", 1)[-1] in _NOT_MAIL_TLDS \
                        or (local in _PLACEHOLDER_LOCALS and domain in _EXAMPLE_DOMAINS):
                    continue
                out.append(text[pos:m.start()])
                out.append(_marker("email"))
                pos = m.end()
            if out:
                out.append(text[pos:])
                text = "".join(out)
        if "email" not in off and ("[at]" in text or "(at)" in text or " at " in text):
            text = self._sub(_EMAIL_SPELT, "email", text)
        if "email" not in off and ("&#" in text or "&commat;" in text):
            text = self._sub(_EMAIL_ENTITY, "email", text)
        if _DIGIT.search(text) is None:
            return text
        if "iban" not in off and _IBAN_HINT.search(text):  # first: an IBAN's digit groups can pass for a card
            text = self._sub(_IBAN, "iban", text, 0, _iban_ok)
        if "card-number" not in off:
            text = self._cards(text)
        if "ssn" not in off:
            text = self._sub(_SSN, "ssn", text)
        if "phone" not in off:
            text = self._sub(_PHONE, "phone", text, 0, _phone_ok)
            text = self._sub(_PHONE_LABELLED, "phone", text, 1, lambda v: 9 <= sum(c.isdigit() for c in v) <= (15 if v.startswith("00") else 12))
        if "ip" not in off:
            if "." in text:
                text = _IPV4.sub(lambda m: m.group(0) if not _public_ip(m.group(0)) or _version_before(text, m.start())
                                 or self._keep("ip", m.group(0)) else _marker("ip"), text)
            if "::" in text or text.count(":") >= 5:
                text = self._sub(_IPV6, "ip", text, 0, _public_ip)
        return text

    def _cards(self, text: str) -> str:
        def valid(digits: str) -> bool:
            return 13 <= len(digits) <= 19 and _card_issuer_ok(digits) and _luhn_ok(digits)

        def repl(m: re.Match[str]) -> str:
            raw = m.group(0)
            seps = {c for c in raw if not c.isdigit()}
            if len(seps) > 1:
                return raw
            if raw[0] == "1" and not _CARD_CONTEXT.search(text, max(0, m.start() - 30), m.start()):
                return raw
            if seps and tuple(len(w) for w in re.split(r"[ \-.+]", raw)) not in _GROUPED:
                return raw  # 4800.935999999999 and 7030 5019 150582 240 are numbers; 4111.1111.1111.1111 a card
            groups = re.split(r"([ \-.+])", raw)  # digits, sep, digits, ...
            words = groups[::2]
            # the match may have run into neighbouring numbers: try every run of groups, longest first
            for size in range(len(words), 0, -1):
                for i in range(0, len(words) - size + 1):
                    digits = "".join(words[i:i + size])
                    if not valid(digits):
                        continue
                    head = "".join(groups[: 2 * i])
                    body = "".join(groups[2 * i: 2 * (i + size) - 1])
                    tail = "".join(groups[2 * (i + size) - 1:])
                    if self._keep("card-number", body):
                        return raw
                    if size == len(words) == 1 and _ID_CONTEXT.search(text, max(0, m.start() - 24), m.start()):
                        return raw
                    return head + _marker("card-number") + tail
            return raw

        return _CARD.sub(repl, text)


# role and system mailboxes: nobody's personal data
_ROLE_MAILBOXES = frozenset({
    "git", "ubuntu", "ec2-user", "centos", "debian", "azureuser", "opc", "vagrant", "www-data", "nginx", "postgres",
    "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply", "postmaster",
    "mailer-daemon", "hostmaster", "webmaster", "abuse", "root", "nobody", "daemon", "bounce", "bounces",
    "notifications", "notification", "notify", "alerts", "alert", "alertmanager", "support", "helpdesk",
    "security", "oncall", "on-call", "newsletter", "system", "automation", "builds", "jenkins", "github-actions",
    "bot", "robot", "cron", "monitoring", "pagerduty", "devnull", "null",
})
# user@host prompts and cluster names are not mailboxes; user@example.com is a placeholder
_NOT_MAIL_TLDS = frozenset({"internal", "local", "localdomain", "localhost", "lan", "svc", "cluster", "intranet", "home",
                            "corp", "test", "invalid", "example"})
_PLACEHOLDER_LOCALS = frozenset({"user", "username", "name", "email", "you", "your.name", "yourname", "your-email",
                                 "your.email", "someone", "somebody", "me", "foo", "test", "example", "first.last"})
_EXAMPLE_DOMAINS = frozenset({"example.com", "example.org", "example.net", "domain.com", "email.com", "company.com",
                              "yourdomain.com", "mydomain.com", "acme.com"})
# jane.doe&#64;example.com: the @ as an HTML character reference
_EMAIL_ENTITY = _r(r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}(?:&#0*64;|&#[xX]0*40;|&commat;)"
                   r"(?:[A-Za-z0-9\-]{1,63}\.)+[A-Za-z]{2,24}(?![\w\-])")
_EMAIL_SPELT = _r(r"(?i)(?<![\w.])[a-z0-9][a-z0-9._+\-]{0,63}\s?[\[(]at[\])]\s?[a-z0-9\-]{1,63}"
                  r"(?:\s?(?:\.|[\[(]dot[\])])\s?[a-z0-9\-]{1,63})*\s?(?:\.|[\[(]dot[\])])\s?[a-z]{2,24}(?![\w])")
_VERSION_BEFORE = _r(r"(?i)(?:[A-Za-z][\w.\-]*/|[A-Za-z][\w]*[-_]|\bv|\bversion[ =:\-_]?|\bver[ =:.]|\bbuild[ =:\-_]?"
                     r"|\brelease[ =:\-_]?|\bfirmware[ =:]?|\bsdk[ =:]?|\brev[ =:.]?|\bos[ =:]?|\btag[ =:]?)$")
# 1.2.3.4-SNAPSHOT, payments-2.3.2.1.jar, 10.0.0.1+build: a version number
_VERSION_AFTER = _r(r"(?:\.[A-Za-z]|-[A-Za-z]|\+\w)")


def _version_before(text: str, start: int) -> bool:
    """``Chrome/122.0.0.0``, ``v1.2.3.4``, ``version 10.0.19041.1``: a version number, not an address."""
    if text[max(0, start - 3):start] == "://":
        return False
    if _VERSION_BEFORE.search(text, max(0, start - 24), start) is not None:
        return True
    end = start
    while end < len(text) and (text[end].isdigit() or text[end] == "."):
        end += 1
    return _VERSION_AFTER.match(text, end) is not None


_GROUPED = frozenset({(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 3), (4, 4, 4, 2)})


# cookie names that carry a session whatever their value looks like
_SESSION_COOKIES = frozenset({"jsessionid", "phpsessid", "asp.net_sessionid", "sid", "session", "sessionid", "connect.sid",
                              "_session_id", "laravel_session", "csrftoken", "xsrf-token", "remember_token", "auth"})


def _phone_ok(value: str) -> bool:
    digits = sum(c.isdigit() for c in value)
    if value.startswith("+"):
        return 8 <= digits <= 15
    if value.startswith("00"):
        return 10 <= digits <= 17
    return digits == 10 or (digits == 11 and value[0] == "1")


def _b64_line_ok(value: str) -> bool:
    """A line that is only base64: key material when it is random-looking, not a CamelCase word."""
    body = value.rstrip("=")
    if not (any(c.isupper() for c in body) and any(c.islower() for c in body) and sum(c.isdigit() for c in body) >= 2):
        return False
    if len(body) >= 40:
        return len(set(body)) >= 16
    # short last line of a key: upper case letters followed by non-lower case show randomness
    odd = sum(1 for a, b in zip(body, body[1:]) if a.isupper() and not b.islower())
    return odd >= 2 and len(set(body)) >= 10


_IDENT = _r(r"[A-Za-z_$][\w.$]*")
_TOKEN_CHARS = _r(r"[A-Za-z0-9_\-+/=.~]{16,}")
_AUTH_SCHEME = _r(r"(?i)^(?:bearer|basic|token|digest|negotiate|ntlm|apikey|key)\s+")
# a chain of identifiers without digits (member access, maybe a call): code that reads a secret, not the secret
_CODE_REF = _r(r"(?:new\s+)?[A-Za-z_$][A-Za-z_$]*(?:\.[A-Za-z_$][A-Za-z_$]*)+(?:\(.*\)?|\[.*\]?)?[,;)]*")


def _weak_ok(key: str, value: str) -> bool:
    """A value under a key that only may name a secret: taken when it looks random, or is a PIN's digits."""
    return _looks_random(value) or (key_lower_tail(key) == "pin" and value.isdigit() and 4 <= len(value) <= 8)


def key_lower_tail(key: str) -> str:
    segs = [x for x in _SEG_SPLIT.split(_CAMEL.sub("_", key)) if x]
    return segs[-1].lower() if segs else ""


def _key_is_bare(key: str) -> bool:
    return key.lower().strip("\"'") in ("key", "appid", "appkey", "apikey", "accesskey", "clientkey", "licensekey")


_BLOCK_SCALAR = frozenset({"|", ">", "|-", ">-", "|+", ">+"})


def _block_span(text: str, key_start: int, eol: int) -> tuple[int, int]:
    """The indented lines under a ``key: |`` line: (start of their first character, end of the last)."""
    line_start = text.rfind("\n", 0, key_start) + 1
    indent = len(text[line_start:key_start]) - len(text[line_start:key_start].lstrip(" \t-"))
    pos = text.find("\n", eol)
    if pos < 0:
        return eol, eol
    start = end = -1
    while pos >= 0 and pos < len(text):
        nxt = text.find("\n", pos + 1)
        line = text[pos + 1: len(text) if nxt < 0 else nxt]
        if line.strip():
            if len(line) - len(line.lstrip(" \t")) <= indent:
                break
            if start < 0:
                start = pos + 1 + len(line) - len(line.lstrip(" \t"))
            end = pos + 1 + len(line.rstrip())
        pos = nxt
    return (start, end) if start >= 0 else (eol, eol)


def _at_line_start(text: str, index: int) -> bool:
    start = text.rfind("\n", 0, index) + 1
    return _LINE_START_KEY.match(text, start, index) is not None


_LINE_START_KEY = re.compile(r"\s*(?:export\s+|-\s+|set\s+)?$")
_UNQUOTED_STOP = frozenset(" \t\r\n&;,\"'<>()[]{}|`\\")


def _value_end(text: str, start: int, quote: str | None, to_eol: bool) -> int:
    """Where the value that starts at ``start`` ends.

    Quoted values end at the matching (unescaped) quote; the value of a
    ``key: value`` line (YAML, HTTP header) runs to the end of the line, less a
    trailing `` # comment``; any other value ends at whitespace or a delimiter.
    """
    n = len(text)
    if quote:
        i = start
        while True:
            j = text.find(quote, i)
            if j < 0:
                nl = text.find("\n", start)
                return n if nl < 0 else nl
            if len(quote) == 1 and j > start and text[j - 1] == "\\":
                i = j + 1
                continue
            return j
    if to_eol:
        nl = text.find("\n", start)
        end = n if nl < 0 else nl
        cut = text.find(" #", start, end)
        if cut > start:
            end = cut
        while end > start and text[end - 1] in " \t\r":
            end -= 1
        return end
    i = start
    for opener, closer in (("${{", "}}"), ("${", "}"), ("$${", "}"), ("<%", "%>"), ("{{", "}}"), ("$(", ")"), ("%(", ")s"), ("#{", "}"), ("%env(", ")%")):
        if text.startswith(opener, start):
            j = text.find(closer, start)
            if j > 0:
                i = j + len(closer)
            break
    while i < n and text[i] not in _UNQUOTED_STOP:
        i += 1
    return i


_K8S_DATA_LINE = re.compile(r"^(\s*)(?:data|stringData)\s*:\s*$")
_K8S_ITEM = re.compile(r"^(\s*)([\w.\-]+)(\s*:\s*)(.+?)\s*$")


def _k8s_yaml(text: str) -> str:
    lines = text.split("\n")
    in_data = -1
    for i, line in enumerate(lines):
        m = _K8S_DATA_LINE.match(line)
        if m:
            in_data = len(m.group(1))
            continue
        if in_data < 0 or not line.strip():
            continue
        item = _K8S_ITEM.match(line)
        indent = len(line) - len(line.lstrip())
        if indent <= in_data:
            in_data = -1
            continue
        if item and not _is_placeholder(item.group(4)) and item.group(4) not in ("|", ">", "|-", ">-"):
            lines[i] = f"{item.group(1)}{item.group(2)}{item.group(3)}{_marker('k8s-secret')}"
        elif not item:
            lines[i] = line[:indent] + _marker("k8s-secret")  # a block scalar continuation line
    return "\n".join(lines)


_K8S_JSON_DATA = re.compile(r"(\\*[\"'])(?:data|stringData)\1\s*:\s*\{([^{}]*)\}")
_K8S_JSON_ITEM = re.compile(r"(\\*[\"'])([^\"'\\]+)\1(\s*:\s*)\1((?:\\\\.|[^\"'\\])*)\1")


def _k8s_json(text: str) -> str:
    def items(m: re.Match[str]) -> str:
        body = _K8S_JSON_ITEM.sub(lambda im: f"{im.group(1)}{im.group(2)}{im.group(1)}{im.group(3)}{im.group(1)}"
                                             f"{_marker('k8s-secret')}{im.group(1)}", m.group(2))
        return m.group(0).replace(m.group(2), body, 1) if m.group(2) else m.group(0)

    text = _K8S_JSON_DATA.sub(items, text)
    # kubectl's describe/log form: "data map[password:aGVsbG8=]"
    return re.sub(r"(?<=data map\[)[^\]]*", lambda m: re.sub(r"(?<=:)[^ \]]+", _marker("k8s-secret"), m.group(0)), text)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

_DEFAULT = _Redactor(None)
_CACHE: dict[str, _Redactor] = {}


def _redactor(config: RedactionConfig | None) -> _Redactor:
    if config is None:
        return _DEFAULT
    if isinstance(config, dict):
        config = RedactionConfig.model_validate(config)
    key = config.model_dump_json()
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) > 32:
            _CACHE.clear()
        found = _CACHE[key] = _Redactor(config)
    return found


def redact(text: str, config: RedactionConfig | dict[str, Any] | None = None) -> str:
    """Return ``text`` with every secret and piece of personal data replaced by ``[REDACTED:<kind>]``.

    Everything else, whitespace and line endings included, is unchanged, and
    redacting twice changes nothing more than redacting once.

    >>> redact('{"user": "ana", "password": "s3cr3t!"}')
    '{"user": "ana", "password": "[REDACTED:password]"}'
    >>> redact("idempotency_key=5f0c6b1e-8f7a-4e1b-9a57-3c2d1e0f9a8b")
    'idempotency_key=5f0c6b1e-8f7a-4e1b-9a57-3c2d1e0f9a8b'
    """
    return _redactor(config)(text)


_PLAIN = (int, float, bool, type(None))


def _walk(value: Any, red: _Redactor, key_kind: tuple[str, bool] | None = None) -> Any:
    if isinstance(value, str):
        if key_kind is not None and key_kind[0] not in red.off and not _is_placeholder(value) \
                and not red._keep(key_kind[0], value) and (key_kind[1] or _looks_random(value)) \
                and not _is_path(value):
            return _marker(key_kind[0])
        return red(value)
    if isinstance(value, list):
        if value and type(value[0]) is list and len(value[0]) == 2 and type(value[0][0]) in _PLAIN:
            # a series of [timestamp, value] points: numbers need no look
            return [v if type(v) is list and len(v) == 2 and type(v[0]) in _PLAIN and type(v[1]) in _PLAIN
                    else _walk(v, red, key_kind) for v in value]
        return [v if type(v) in _PLAIN else _walk(v, red, key_kind) for v in value]
    if isinstance(value, dict):
        # {"name": "DB_PASSWORD", "value": "..."}: the Kubernetes env / settings list shape
        pair_kind = None
        name = value.get("name", value.get("key"))
        if isinstance(name, str) and "value" in value:
            pair_kind = _key_kind(name)
        out = {}
        for k, v in value.items():
            # a field called "key" in structured data holds a name ({"key": "server.port", "value": 8080})
            kk = _key_kind(k) if isinstance(k, str) and k.lower() != "key" else None
            if k == "value" and pair_kind is not None:
                kk = pair_kind
            nk = red(k) if isinstance(k, str) else k
            if nk != k and nk in out:  # two keys redacted alike: keep both values
                n = 2
                while f"{nk} #{n}" in out:
                    n += 1
                nk = f"{nk} #{n}"
            out[nk] = _walk(v, red, kk)
        return out
    if isinstance(value, tuple):
        return tuple(_walk(v, red, key_kind) for v in value)
    return value


def redact_evidence(ev: Evidence, config: RedactionConfig | dict[str, Any] | None = None) -> Evidence:
    """A copy of ``ev`` with every text field redacted: data (keys and values), reason, title, source, warnings.

    Inside ``data`` a value stored under a secret-sounding key (``{"DB_PASSWORD": "x"}``,
    or ``{"name": "DB_PASSWORD", "value": "x"}``) is redacted whole, even when the value
    alone would not look like a secret.

    >>> ev = Evidence(kind="settings", name="env", title="env", data={"DB_PASSWORD": "hunter2"})
    >>> redact_evidence(ev).data
    {'DB_PASSWORD': '[REDACTED:password]'}
    """
    red = _redactor(config)
    return ev.model_copy(
        update={
            "data": _walk(ev.data, red),
            "reason": red(ev.reason) if ev.reason else ev.reason,
            "title": red(ev.title),
            "warnings": [red(w) for w in ev.warnings],
            "source": red(ev.source) if ev.source else ev.source,
        }
    )


