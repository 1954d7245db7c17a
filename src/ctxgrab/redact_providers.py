"""Provider token formats, as data: one entry per provider.

Each entry says what a provider's token looks like (the documented format, whole:
prefix, body and any suffix or checksum part, so no tail is left behind), which
cheap substring must be present before the pattern runs (``triggers``), an
optional validator, and the marker kind. ``examples`` are the provider's own
documented examples or public scanners' published samples (``source`` says
where); ``tests/test_redact_providers.py`` checks every example is removed whole,
so a new provider is one entry here and its examples are its test.

The patterns are matched on already-decoded text (see ``redact.py``: percent and
JSON escapes are undone first), so they describe the token, not its encodings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Provider", "PROVIDERS"]

@dataclass(frozen=True)
class Provider:
    kind: str  # marker kind
    pattern: str  # Python regular expression of the whole documented token
    triggers: tuple[str, ...]  # substrings; the pattern only runs when one is present
    examples: tuple[str, ...] = ()  # documented / published samples: each must be redacted whole
    source: str = ""  # where the format and the examples come from
    group: int | str = 0  # the part of a match that is the secret
    check: Callable[[str], bool] | None = field(default=None, compare=False)
    lower: bool = False  # triggers are matched against lower-cased text


_W = r"(?<![\w-])"  # left boundary: not inside a word or a dashed name
_E = r"(?![\w-])"  # right boundary

PROVIDERS: list[Provider] = [
    Provider("aws-access-key-id",
             r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA|A3T[A-Z0-9])[A-Z2-7]{16}"
             r"(?![A-Za-z0-9])",
             ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA", "ASCA", "A3T"),
             ("AKIAIOSFODNN7EXAMPLE", "AKIALALEMEL33243OLIB"),
             "AWS IAM identifiers (unique id prefixes); gitleaks cmd/generate/config/rules/aws.go"),
    Provider("aws-session-token",
             r"(?<![A-Za-z0-9+/])(?:FwoGZXIvYXdzE|IQoJb3JpZ2lu|FQoGZXIvYXdzE)[A-Za-z0-9+/=%]{40,}",
             ("FwoGZXIvYXdzE", "IQoJb3JpZ2lu", "FQoGZXIvYXdzE"), (), "STS session tokens (base64 of the issuer header)"),
    Provider("gcp-api-key", _W + r"AIza[0-9A-Za-z_\-]{35}" + _E, ("AIza",),
             ("AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-",), "gitleaks rules/gcp.go (GCPAPIKey tps)"),
    Provider("gcp-oauth-token", r"(?<![\w.])(?:ya29\.[0-9A-Za-z_\-]{20,}|GOCSPX-[0-9A-Za-z_\-]{20,})",
             ("ya29.", "GOCSPX-"), (), "Google OAuth access tokens and client secrets"),
    Provider("github-token",
             r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"
             r"|github_pat_[A-Za-z0-9_]{40,255})(?!\w)",
             ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
             (),
             "GitHub token formats (github.blog 2021-04-05, fine-grained PATs 2022-10-18); gitleaks rules/github.go"),
    Provider("gitlab-token",
             r"(?<![\w-])(?:gl(?:pat|dt|rt|ptt|cbt|oas|ft|imt|agent|soat|ffct|sa|wt)-[A-Za-z0-9_\-]{20,300}"
             r"(?:\.[0-9A-Za-z]{9})?|GR1348941[A-Za-z0-9_\-]{20,})",
             ("gl", "GR1348941"),
             (),
             "GitLab token prefixes (docs.gitlab.com security/tokens); gitleaks rules/gitlab.go (routable tokens)",
             check=lambda v: not v.startswith("GR1348941") or any(c.isalpha() for c in v[9:])),  # random, not 1231231…
    Provider("slack-webhook", r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]+",
             ("hooks.slack.com",), (), "Slack incoming webhooks"),
    Provider("slack-token",
             r"(?<![\w.-])(?:xoxe\.xox[bp]-\d-[A-Za-z0-9]{100,200}|xoxe-\d-[A-Za-z0-9]{100,200}"
             r"|xox[bp]-\d{8,14}-(?:\d{8,14}-){0,2}[A-Za-z0-9]{18,64}|xox[pe](?:-\d{8,14}){3}-[A-Za-z0-9]{28,64}"
             r"|xox[ar]-(?:\d-)?[0-9A-Za-z]{8,48}(?:-[0-9A-Za-z]{8,48})*|xox[os]-\d+-\d+-\d+-[A-Fa-f0-9]{8,}"
             r"|xapp-\d-[A-Z0-9]{8,}-\d{8,}-[A-Za-z0-9]{20,})(?![\w-])",
             ("xox", "xapp-"),
             ("xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD",
              "xoxp-41684372915-1320496754-45609968301-e708ba56e1517a99f6b5fb07349476ef",
              "xapp-1-A052FGTS2DL-5171572773297-610b6a11f4b7eb819e87b767d80e6575a3634791acb9a9ead051da879eb5b55e",
              "xoxs-416843729158-132049654-5609968301-e708ba56e1"),
             "Slack token types (api.slack.com/authentication/token-types); gitleaks rules/slack.go tps"),
    Provider("discord-webhook", r"https?://(?:canary\.|ptb\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]+",
             ("/api/webhooks/",), (), "Discord webhooks (discord.com/developers/docs/resources/webhook)"),
    Provider("teams-webhook", r"https://[\w.\-]+\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_\-]+(?:/IncomingWebhook/[A-Za-z0-9/_\-]+)?",
             (".webhook.office.com",), (), "Microsoft Teams incoming webhooks"),
    Provider("braintree-token", r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}", ("access_token$",), (),
             "Braintree access tokens"),
    Provider("stripe-key", r"(?<!\w)(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,255}|(?<!\w)whsec_[A-Za-z0-9]{20,}",
             ("k_live_", "k_test_", "whsec_"), (), "Stripe secret / restricted keys and webhook secrets (stripe.com/docs/keys)"),
    Provider("sendgrid-key", r"(?<![\w.])SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}|(?<![\w.])SG\.[A-Za-z0-9_\-=.]{60,70}",
             ("SG.",), (), "SendGrid API keys (SG.<22>.<43>); gitleaks rules/sendgrid.go (66 characters after SG.)"),
    Provider("twilio-key", r"(?<![A-Za-z0-9])SK[0-9a-fA-F]{32}(?![A-Za-z0-9])", ("SK",), (), "gitleaks rules/twilio.go"),
    Provider("npm-token", r"(?<!\w)npm_[A-Za-z0-9]{36}(?!\w)", ("npm_",), (), "npm access tokens (github.blog 2021-09-23)"),
    Provider("pypi-token", r"(?<![\w-])pypi-AgE[A-Za-z0-9_\-]{30,1000}", ("pypi-AgE",), (),
             "PyPI API tokens are macaroons: pypi- + base64 (pypi.org/help/#apitoken); gitleaks rules/pypi.go"),
    Provider("anthropic-key", r"(?<![\w-])sk-ant-(?:(?:api03|admin01)-[A-Za-z0-9_\-]{93}AA"
             r"|(?!api03-|admin01-)[a-z]{2,8}\d\d-[A-Za-z0-9_\-]{40,})(?![\w-])", ("sk-ant-",),
             ("sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzAA",),
             "gitleaks rules/anthropic.go"),
    Provider("openai-key", r"(?<![\w-])sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_\-]{20,}(?![\w-])", ("sk-",),
             ("sk-admin-JWARXiHjpLXSh6W_0pFGb3sW7yr0cKheXXtWGMY0Q8kbBNqsxLskJy0LCOT3BlbkFJgTJWgjMvdi6YlPvdXRqmSlZ4dLK-"
              "nFxUG2d9Tgaz5Q6weGVNBaLuUmMV4A",),
             "gitleaks rules/openai.go tps"),
    Provider("huggingface-token", r"(?<!\w)(?:hf_[A-Za-z0-9]{34}|api_org_[A-Za-z]{34})(?!\w)", ("hf_", "api_org_"),
             (), "Hugging Face user access tokens"),
    Provider("vault-token",
             r"(?<![\w.])(?:hv[sbr]\.[A-Za-z0-9_\-]{24,}|[sbr]\.[A-Za-z0-9]{24}(?![\w.]))",
             ("hvs.", "hvb.", "hvr.", "s.", "b.", "r."), (), "HashiCorp Vault token prefixes (1.10+: hvs./hvb./hvr.)",
             check=lambda v: v.startswith("hv") or (any(c.isdigit() for c in v) and any(c.isupper() for c in v[2:])
                                                     and any(c.islower() for c in v[2:]))),
    Provider("azure-key", r"(?<![\w~.\-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}(?![\w~.\-])", ("Q~",),
             ("bP88Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR",),
             "Azure AD client secrets (xxx<digit>Q~…); gitleaks rules/azure.go tps"),
    Provider("private-key",
             r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{3}IBA|MIG[A-Za-z0-9+/]{2}AgEA|MC4CAQAwBQYDK2Vw)[A-Za-z0-9+/]{40,8000}={0,2}",
             ("MII", "MIG", "MC4CAQAw"), (),
             "DER private keys in base64 without PEM armour (PKCS#1 / PKCS#8: SEQUENCE then INTEGER 0 — certificates "
             "start differently); gitleaks rules/privatekey.go (non-PEM)"),
    Provider("jwt", r"(?<![\w-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*={0,2}", ("eyJ",),
             ("eyJhbGciOieeeiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
              "a_5icKBDo-8EjUlrfvz2k2k-FYaindQ0DEYNrlsnRG0==",),
             "RFC 7519 compact serialisation; gitleaks rules/jwt.go"),
    Provider("pagerduty-key", r"(?i)(?<![\w-])token\s+token=([A-Za-z0-9_+\-]{16,})", ("token token=",), (),
             "PagerDuty REST API: Authorization: Token token=…", group=1, lower=True),
    Provider("azure-key", r"(?i)(?<!\w)(?:AccountKey|SharedAccessKey|SharedAccessSignature)=([^;\"'\s]+)",
             ("accountkey=", "sharedaccesskey=", "sharedaccesssignature="), (), "Azure connection strings",
             group=1, lower=True),
    Provider("azure-sas", r"(?<=[?&;])sig=([A-Za-z0-9%+/=]{16,})", ("sig=",), (), "Azure SAS URLs", group=1),
    # --- prefixed tokens of further providers (documented prefixes) ---------------------------------
    Provider("shopify-token", r"(?<!\w)shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?!\w)", ("shp",), (), "Shopify access tokens"),
    Provider("digitalocean-token", r"(?<!\w)do[opr]_v1_[a-f0-9]{64}(?!\w)", ("_v1_",), (), "DigitalOcean tokens"),
    Provider("databricks-token", r"(?<!\w)dapi[a-f0-9]{32}(?:-\d)?(?!\w)", ("dapi",), (), "Databricks PATs"),
    Provider("doppler-token", r"(?<!\w)dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}(?!\w)", ("dp.",), (),
             "Doppler tokens"),
    Provider("linear-key", r"(?<!\w)lin_(?:api|oauth)_[A-Za-z0-9]{40}(?!\w)", ("lin_",), (), "Linear API keys"),
    Provider("grafana-token", r"(?<!\w)(?:glc_[A-Za-z0-9+/]{32,400}={0,2}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})(?!\w)",
             ("glc_", "glsa_"), (), "Grafana cloud / service account tokens"),
    Provider("postman-key", r"(?<!\w)PMAK-[a-f0-9]{24}-[a-f0-9]{34}(?!\w)", ("PMAK-",), (), "Postman API keys"),
    Provider("atlassian-token", r"(?<!\w)(?:ATATT3|ATCTT3|ATOTT3)[A-Za-z0-9_\-=]{150,300}(?!\w)", ("ATATT3", "ATCTT3", "ATOTT3"),
             (), "Atlassian API tokens"),
    Provider("age-secret-key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", ("AGE-SECRET-KEY-1",), (),
             "age identities (age-encryption.org/v1)"),
    Provider("terraform-token", r"(?<!\w)[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}(?!\w)", (".atlasv1.",), (),
             "Terraform Cloud / Enterprise API tokens"),
    Provider("1password-token", r"(?<!\w)ops_eyJ[A-Za-z0-9+/]{250,}={0,3}", ("ops_eyJ",), (),
             "1Password service account tokens"),
    Provider("dockerhub-token", r"(?<!\w)dckr_pat_[A-Za-z0-9_\-]{27}(?![\w-])", ("dckr_pat_",), (), "Docker Hub PATs"),
    Provider("sentry-token", r"(?<!\w)(?:sntrys_eyJ[A-Za-z0-9+/=_\-]{50,}|sntryu_[a-f0-9]{64})", ("sntry",), (),
             "Sentry auth tokens"),
    Provider("newrelic-key", r"(?<!\w)NR(?:AK|AA|II|JS)-[A-Za-z0-9]{27}(?!\w)", ("NRAK-", "NRAA-", "NRII-", "NRJS-"), (),
             "New Relic keys"),
    Provider("dynatrace-token", r"(?<!\w)dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}(?!\w)", ("dt0c01.",), (), "Dynatrace tokens"),
    Provider("pulumi-token", r"(?<!\w)pul-[a-f0-9]{40}(?!\w)", ("pul-",), (), "Pulumi access tokens"),
    Provider("groq-key", r"(?<!\w)gsk_[A-Za-z0-9]{52}(?!\w)", ("gsk_",), (), "Groq API keys"),
    Provider("replicate-token", r"(?<!\w)r8_[A-Za-z0-9]{37}(?!\w)", ("r8_",), (), "Replicate API tokens"),
    Provider("langsmith-key", r"(?<!\w)lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}(?!\w)", ("lsv2_",), (), "LangSmith keys"),
    Provider("notion-token", r"(?<!\w)(?:ntn_[A-Za-z0-9]{46}|secret_[A-Za-z0-9]{43})(?!\w)", ("ntn_", "secret_"), (),
             "Notion integration tokens"),
    Provider("figma-token", r"(?<!\w)figd_[A-Za-z0-9_\-]{40}(?![\w-])", ("figd_",), (), "Figma PATs"),
    Provider("supabase-token", r"(?<!\w)sbp_[a-f0-9]{40}(?!\w)", ("sbp_",), (), "Supabase access tokens"),
    Provider("planetscale-token", r"(?<!\w)pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_\-=.]{32,64}", ("pscale_",), (),
             "PlanetScale tokens and passwords"),
    Provider("contentful-token", r"(?<!\w)CFPAT-[A-Za-z0-9_\-]{43}(?![\w-])", ("CFPAT-",), (), "Contentful PATs"),
    Provider("rubygems-key", r"(?<!\w)rubygems_[a-f0-9]{48}(?!\w)", ("rubygems_",), (), "RubyGems API keys"),
    Provider("nuget-key", r"(?<!\w)oy2[a-z0-9]{43}(?!\w)", ("oy2",), (), "NuGet API keys"),
    Provider("circleci-token", r"(?<!\w)CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}(?!\w)", ("CCIPAT_",), (), "CircleCI PATs"),
    Provider("buildkite-token", r"(?<!\w)bkua_[a-f0-9]{40}(?!\w)", ("bkua_",), (), "Buildkite API tokens"),
    Provider("jfrog-key", r"(?<!\w)AKCp[A-Za-z0-9]{69}(?!\w)", ("AKCp",), (), "JFrog Artifactory API keys"),
    Provider("square-token", r"(?<!\w)(?:EAAA[A-Za-z0-9_\-]{60}|sq0(?:atp|csp)-[A-Za-z0-9_\-]{22,43})(?![\w-])",
             ("EAAA", "sq0"), (), "Square access tokens and OAuth secrets"),
    Provider("mailgun-key", r"(?<![\w-])key-[a-f0-9]{32}(?![\w-])", ("key-",), (), "Mailgun private API keys"),
    Provider("mailchimp-key", r"(?<![\w-])[a-f0-9]{32}-us\d{1,2}(?!\w)", ("-us",), (), "Mailchimp API keys"),
    Provider("telegram-bot-token", r"(?<![\w:])\d{8,10}:AA[A-Za-z0-9_\-]{33}(?![\w-])", (":AA",), (),
             "Telegram Bot API tokens"),
    Provider("facebook-token", r"(?<!\w)EAA[A-Za-z0-9]{90,}(?!\w)", ("EAA",), (), "Facebook access tokens"),
    Provider("mapbox-token", r"(?<!\w)(?:sk|tk)\.eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,}", ("k.eyJ",), (),
             "Mapbox secret tokens"),
    Provider("heroku-key", r"(?<!\w)HRKU-AA[A-Za-z0-9_\-]{58}(?![\w-])", ("HRKU-",), (), "Heroku API keys (2024 format)"),
    Provider("easypost-key", r"(?<!\w)EZ[AT]K[A-Za-z0-9]{54}(?!\w)", ("EZAK", "EZTK"), (), "EasyPost API keys"),
    Provider("flyio-token", r"(?<!\w)(?:fo1_[A-Za-z0-9_\-]{43}|FlyV1 fm\d+_[A-Za-z0-9+/=,_\-]{50,})", ("fo1_", "FlyV1"), (),
             "Fly.io tokens"),
    Provider("clickup-key", r"(?<!\w)pk_\d{6,10}_[A-Z0-9]{32}(?!\w)", ("pk_",), (), "ClickUp personal API tokens"),
    Provider("posthog-key", r"(?<!\w)phx_[A-Za-z0-9_]{43}(?!\w)", ("phx_",), (), "PostHog personal API keys"),
]
