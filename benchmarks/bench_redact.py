"""Redaction quality and cost: ctxgrab against detect-secrets on the same labelled corpora, in one run.

    python benchmarks/bench_redact.py --per-kind 300 --seed 7 --runs 15

Two corpora, reported separately:

- ``rules`` (benchmarks/redact_corpus.py ``generate``): written together with the rules;
- ``public`` (``public_corpus``): built only from material written by others — gitleaks',
  detect-secrets' and Presidio's published samples, documented token formats placed in gitleaks'
  sample contexts, public configuration lines, and the Loghub logs read from ../shared at run time
  (tests/data/redact/SOURCES.md). In Loghub lines, removing IP and e-mail addresses is expected;
  any other change counts as damage.

Prints, for each secret kind, the recall of ctxgrab and of detect-secrets (a
secret counts as caught only if nothing past its first 4 characters survives);
the share of benign records each tool changed, per benign type; the throughput
of each; and the time redaction adds to the demo incident (the payments
fixture run end to end through the library, with and without the redaction
stage, runs interleaved, medians compared).

detect-secrets (benchmark-only, ``pip install detect-secrets``) scans the corpus
as one file the way ``detect-secrets scan`` scans a repository, with its default
plugins and filters; every value it reports on a record's lines is replaced in
that record.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from redact_corpus import generate, loghub_damaged, public_corpus, survives  # noqa: E402

from ctxgrab.redact import redact  # noqa: E402


def detect_secrets_redact_all(texts: list[str]) -> list[str]:
    """detect-secrets' own verdict on each text: the corpus is written to one file and scanned the way
    ``detect-secrets scan`` scans a repository (default plugins and filters); every value it reports on a
    record's lines is replaced in that record."""
    import os
    import tempfile

    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    owner: list[int] = []  # line number (1-based) -> record index
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False, encoding="utf-8") as f:
        for i, text in enumerate(texts):
            lines = text.split("\n")
            f.write("\n".join(lines) + "\n")
            owner.extend([i] * len(lines))
        path = f.name
    try:
        collection = SecretsCollection()
        with default_settings():
            collection.scan_file(path)
        found: dict[int, set[str]] = {}
        for _filename, secret in collection:
            if secret.secret_value and secret.line_number:
                found.setdefault(owner[secret.line_number - 1], set()).add(secret.secret_value)
    finally:
        os.unlink(path)
    out = list(texts)
    for i, values in found.items():
        for value in sorted(values, key=len, reverse=True):
            out[i] = out[i].replace(value, "[REDACTED]")
    return out


def detect_secrets_available() -> bool:
    try:
        import detect_secrets  # noqa: F401
    except ImportError:
        return False
    return True


def score(corpus: list[dict], fn=None, batch=None) -> dict:  # noqa: ANN001
    """Recall and benign changes of one tool; ``fn`` redacts one text, ``batch`` a list of texts."""
    caught: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    changed: collections.Counter[str] = collections.Counter()
    start = time.perf_counter()
    texts = [r["text"] for r in corpus]
    outputs = batch(texts) if batch is not None else [fn(t) for t in texts]
    seconds = time.perf_counter() - start
    for r, out in zip(corpus, outputs):
        total[r["kind"]] += 1
        if r["secret"] is None:
            if r["kind"].startswith("benign:loghub"):
                changed[r["kind"]] += loghub_damaged(r["text"], out.replace("[REDACTED]", "[REDACTED:secret]"))
            else:
                changed[r["kind"]] += out != r["text"]
        elif not survives(r["secret"], out):
            caught[r["kind"]] += 1
    return {"caught": caught, "total": total, "changed": changed, "seconds": seconds}


def _cold_caches() -> None:
    """Forget what earlier runs redacted, so each run pays what a fresh process pays."""
    red = sys.modules["ctxgrab.redact"]
    red._key_kind.cache_clear()
    red._CACHE.clear()
    red._DEFAULT._memo.clear()


def incident_overhead(runs: int) -> tuple[list[float], list[float], list[float]]:
    """Run times of the demo incident with and without redaction, and the redaction time inside each run."""
    import ctxgrab.engine as engine
    from ctxgrab import incident

    config = HERE.parent / "fixtures" / "demo" / "ctxgrab.yaml"
    real = engine.redact_evidence
    spent: list[float] = []

    def timed(ev, cfg=None):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        out = real(ev, cfg)
        spent.append(time.perf_counter() - t)
        return out

    def passthrough(ev, cfg=None):  # noqa: ANN001, ANN202
        return ev

    incident("payments", config=config)  # warm caches and imports
    with_r, without_r, inside = [], [], []
    try:
        for _ in range(runs):
            for mode in ("on", "off"):
                engine.redact_evidence = timed if mode == "on" else passthrough
                spent.clear()
                _cold_caches()
                t = time.perf_counter()
                incident("payments", config=config)
                elapsed = time.perf_counter() - t
                if mode == "on":
                    with_r.append(elapsed)
                    inside.append(sum(spent))
                else:
                    without_r.append(elapsed)
    finally:
        engine.redact_evidence = real
    return with_r, without_r, inside


# Inputs shaped to make regular expressions backtrack; each should take milliseconds, not seconds.
ADVERSARIAL = {
    "hex-and-colons": ("1:" + "a" * 28 + "g ") * 200 + "::",
    "secret-word keys": ("password" * 50 + "= ") * 100,
    "unterminated PEM": "-----BEGIN RSA PRIVATE KEY-----" + "A" * 200_000,
    "card-like digit groups": "4111 " * 4000,
    "email-like": "a" * 5000 + "@" + "b." * 3000,
    "base64 run": "A1b2" * 20_000,
    "url userinfo": "http://" + "a:" * 5000 + "@",
    "digits": "1" * 100_000,
    "key=value flood": ("key=" + "k" * 10 + " ") * 5000,
    "percent-encoded flood": "%41" * 30000,
    "form plus flood": "a=b+" * 20000,
    "JSON escape flood": "\\u0041" * 20000,
    "CLI flag flood": "mysql " + " -x" * 20000,
    "config set flood": "config " + "--a " * 20000,
    "name/value lines": "name: PASSWORD\n" * 5000,
    "call pair flood": '("password", ' * 10000,
    "plain-words labels": "password is " * 10000,
    "base64 words": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY " * 3000,
}


def adversarial() -> None:
    print("\nadversarial inputs (worst of 3 runs)")
    for name, text in ADVERSARIAL.items():
        worst = 0.0
        for _ in range(3):
            t = time.perf_counter()
            redact(text)
            worst = max(worst, time.perf_counter() - t)
        print(f"  {name:24} {len(text):>8} chars {worst * 1000:8.1f} ms")


def report(label: str, corpus: list[dict], with_detect_secrets: bool) -> None:
    """Recall per kind, benign records changed per type and throughput of each tool on one corpus."""
    secrets = [r for r in corpus if r["secret"] is not None]
    benign = [r for r in corpus if r["secret"] is None]
    mb = sum(len(r["text"].encode()) for r in corpus) / 1e6
    written = "written with the rules" if label == "rules" else "public samples, not written with the rules"
    print(f"\n=== corpus {label!r} ({written}): {len(secrets)} secret records in "
          f"{len(set(r['kind'] for r in secrets))} kinds, {len(benign)} benign records in "
          f"{len(set(r['kind'] for r in benign))} types, {mb:.2f} MB")
    tools = {"ctxgrab": score(corpus, redact)}
    if with_detect_secrets:
        tools["detect-secrets"] = score(corpus, batch=detect_secrets_redact_all)
    names = list(tools)

    print("\nrecall per kind (caught / total)")
    print(f"{'kind':28}{'n':>6}" + "".join(f"{n:>16}" for n in names))
    kinds = sorted({r["kind"] for r in secrets})
    for kind in kinds:
        row = "".join(f"{tools[n]['caught'][kind] / tools[n]['total'][kind]:>16.1%}" for n in names)
        print(f"{kind:28}{tools['ctxgrab']['total'][kind]:>6}{row}")
    overall = "".join(f"{sum(tools[n]['caught'].values()) / len(secrets):>16.1%}" for n in names)
    worst = "".join(f"{min(tools[n]['caught'][k] / tools[n]['total'][k] for k in kinds):>16.1%}" for n in names)
    print(f"{'ALL (micro)':28}{len(secrets):>6}{overall}\n{'worst kind':28}{'':>6}{worst}")

    print("\nbenign records changed")
    for kind in sorted({r["kind"] for r in benign}):
        row = "".join(f"{tools[n]['changed'][kind] / tools[n]['total'][kind]:>16.1%}" for n in names)
        print(f"{kind:28}{tools['ctxgrab']['total'][kind]:>6}{row}")
    allb = "".join(f"{sum(tools[n]['changed'].values()) / len(benign):>16.2%}" for n in names)
    print(f"{'ALL benign':28}{len(benign):>6}{allb}")
    logs = [r for r in benign if r["kind"].startswith("benign:loghub")]
    if logs and len(logs) < len(benign):
        rest = len(benign) - len(logs)
        row = "".join(f"{sum(v for k, v in tools[n]['changed'].items() if not k.startswith('benign:loghub')) / rest:>16.2%}"
                      for n in names)
        print(f"{'ALL benign except Loghub':28}{rest:>6}{row}")

    print("\nthroughput over the whole corpus")
    for n in names:
        sec = tools[n]["seconds"]
        print(f"{n:16} {sec:8.3f} s  {mb / sec:8.2f} MB/s  {len(corpus) / sec:10.0f} records/s")
    if "detect-secrets" in tools:
        print(f"ctxgrab is {tools['detect-secrets']['seconds'] / tools['ctxgrab']['seconds']:.1f}x faster")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-kind", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=15, help="demo incident runs per mode")
    ap.add_argument("--no-detect-secrets", dest="detect_secrets", action="store_false",
                    help="measure ctxgrab alone")
    args = ap.parse_args(argv)

    corpora = {"rules": generate(args.per_kind, args.seed), "public": public_corpus(args.seed)}
    if not args.detect_secrets:
        print("detect-secrets skipped (--no-detect-secrets)")
    elif not detect_secrets_available():
        print("detect-secrets not installed: pip install detect-secrets (the `bench` extra)")
    for label, corpus in corpora.items():
        report(label, corpus, args.detect_secrets and detect_secrets_available())

    adversarial()

    with_r, without_r, inside = incident_overhead(args.runs)
    print(f"\ndemo incident (payments fixture), {args.runs} interleaved runs each (min / median):")
    print(f"  with redaction    {min(with_r) * 1000:8.1f} / {statistics.median(with_r) * 1000:8.1f} ms")
    print(f"  without redaction {min(without_r) * 1000:8.1f} / {statistics.median(without_r) * 1000:8.1f} ms")
    share = [i / w for i, w in zip(inside, with_r)]
    print(f"  redaction measured inside each run: median {statistics.median(inside) * 1000:.2f} ms, "
          f"median share {statistics.median(share):.2%}, largest share {max(share):.2%}")
    print(f"  difference of minimums {(min(with_r) - min(without_r)) / min(without_r):+.2%}, "
          f"of medians {(statistics.median(with_r) - statistics.median(without_r)) / statistics.median(without_r):+.2%} "
          f"(machine noise dominates this one)")


if __name__ == "__main__":
    main()
