"""The shapes the issue names, each a class: encodings, keys in unexpected shapes, providers' whole tokens, look-alikes."""

from __future__ import annotations

import pytest

from ctxgrab.redact import redact

S = "Zx9Qw7Lm3Pk5Rt"


@pytest.mark.parametrize(
    "text, secret",
    [
        ("GET /signup?email=jane.doe%40example.com&plan=pro", "jane.doe"),
        ("cardnumber=4111+1111+1111+1111&exp=12%2F27", "1111+1111"),
        ('{"msg": "login", "body": "{\\"password\\": \\"S3cr3tPassw0rd\\"}"}', "S3cr3tPassw0rd"),
        ("\\u0022password\\u0022:\\u0022" + S + "\\u0022", S),
        ("apiVersion: v1\nkind: ConfigMap\ndata:\n  app.conf: cGFzc3dvcmQ9UzNjcjN0UGFzc3cwcmQK\n", "cGFzc3dvcmQ9UzNj"),
        ("ssn=123456789", "123456789"),
        ("mysql -uroot -pS3cretPw9 -h db", "S3cretPw9"),
        ("mysql -p S3cretPw9 payments", "S3cretPw9"),
        ("GET /maps?key=AbCdEf1234567890xyz&q=1", "AbCdEf1234567890xyz"),
        ("GET /weather?appid=0123456789abcdef0123456789abcdef", "0123456789abcdef"),
        ("env:\n  - name: AWS_SECRET_ACCESS_KEY\n    value: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzKEY\"\n", "wJalrXUtnFEMI"),
        ("the secret key 8dF3kLq92mZx7Pw is rotated", "8dF3kLq92mZx7Pw"),
        ("glpat-abcdefghij0123456789ABCDEFGHIJ.01abcdefg", "01abcdefg"),
        ("card 4111.1111.1111.1111 ok", "1111.1111"),
        ("aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzKEY", "wJalrXUtnFEMI"),
        (f"define('DB_PASSWORD', '{S}');", S),
        (f'props.setProperty("javax.net.ssl.keyStorePassword", "{S}");', S),
        (f"htpasswd -b -c /etc/nginx/.htpasswd admin {S}", S),
        (f"echo '{S}' | sudo -S systemctl restart payments", S),
        (f"  818  az login --service-principal -u app -p {S} --tenant t", S),
        (f"rclone config create s3 s3 secret_access_key {S}", S),
        (f"token: |\n  {S}\nnext: 1", S),
        ("to jane.doe&#64;example.com", "jane.doe"),
        ("user=jane%2Edoe%2540example%2Ecom", "jane"),
        ("card: 4111 1111 1111 1111 exp 12/27 cvv 123", "cvv 123"),
        ("tel 07911 123456", "07911 123456"),
    ],
)
def test_each_shape_is_removed(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out, out


@pytest.mark.parametrize(
    "text",
    [
        "password = %(db_password)s",
        "existingSecret: billing-credentials",
        "secretKey: password",
        "password: <redacted>",
        "password: ****",
        "DB_PASSWORD=${DB_PASSWORD:-changeme}",
        "api_key: ${{ secrets.API_KEY }}",
        "GET /v1/callback?db_password=%24%7BDB_PASSWORD%7D&order=1 HTTP/1.1",
        "contact no-reply@example.com or postmaster@example.org",
        "Return-Path: <bounces+12345@sendgrid.net>",
        "UA Mozilla/5.0 Chrome/122.0.0.0 Safari/537.36",
        "deploy payments-2.3.2.1.jar ok",
        "SECRET_KEY = os.getenv('SECRET_KEY')",
        "apiKey: this.apiKey,",
        "Skipping AppWindowToken{df0798e token=Token{78af589 ActivityRecord{3b04890 u0 com.x/.A t761}}",
        "Processed session termination for sessionid: 0x14ede63a5a70002",
        "relay=[127.0.0.1], dsn=4.0.0, stat=Deferred",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----",
        "ubuntu@ip-172-31-1-12:~$ sudo systemctl restart payments",
        "authorization: enabled",
        "Set-Cookie: theme=dark; Path=/",
        "DEBUG cache key=user:12345:profile",
        "GITHUB_TOKEN=ghp_your_token_here",
        "glpat-XXXXXXXXXXX-XXXXXXXX",
        "REPORT : 7030 5019 150582 240",
        "new date =20171223, type=40004,4800.935999999999,old=5112.0",
    ],
)
def test_each_look_alike_is_kept(text: str) -> None:
    assert redact(text) == text


def test_text_that_carries_the_internal_stand_in_characters_is_still_redacted() -> None:
    out = redact("password=\ue0000\ue001 token=\ue000abc123def456\ue001 GET /cb?pw=S3cr%21t9x")
    assert "abc123def456" not in out and "S3cr" not in out
