"""Heap-dump parsing on hand-built HPROF files, dominators against a brute-force reference,
histogram text, corrupt input, the ``heap`` command and the ``heap`` collector.

The HPROF files here are written by :class:`HprofWriter` from the format summary
(shared/reference/hprof-format.md), so each test knows exactly what the dump holds.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ctxgrab.analysis.dominators import analyze_heap_file, compare_reports, dominator_tree, heap_report
from ctxgrab.analysis.histogram import histogram_report, parse_histogram
from ctxgrab.analysis.hprof import KIND_CLASS, HeapDump, java_class_name, parse_hprof
from ctxgrab.cli import app
from ctxgrab.errors import InputError

OBJ, INT, LONG, BYTE = 2, 10, 11, 8


class HprofWriter:
    """Writes a small HPROF file: strings, classes, roots, instances and arrays."""

    def __init__(self, id_size: int = 8, version: str = "1.0.2") -> None:
        self.n = id_size
        self.version = version
        self.top: list[bytes] = []
        self.heap: list[bytes] = []
        self._sid = 1000
        self._serial = 0

    def id(self, v: int) -> bytes:
        return v.to_bytes(self.n, "big")

    def string(self, text: str) -> int:
        self._sid += 1
        self.top.append(self._rec(0x01, self.id(self._sid) + text.encode()))
        return self._sid

    def _rec(self, tag: int, body: bytes) -> bytes:
        return struct.pack(">BII", tag, 0, len(body)) + body

    def klass(self, cid: int, name: str, super_id: int = 0, fields=(), statics=()) -> None:
        """fields: [(name, type)], statics: [(name, type, value)]."""
        self._serial += 1
        self.top.append(self._rec(0x02, struct.pack(">I", self._serial) + self.id(cid) + struct.pack(">I", 0)
                                  + self.id(self.string(name))))
        size = sum(self.n if t == OBJ else {INT: 4, LONG: 8, BYTE: 1}[t] for _n, t in fields)
        body = bytes([0x20]) + self.id(cid) + struct.pack(">I", 0) + self.id(super_id) + self.id(0) * 5
        body += struct.pack(">I", size) + struct.pack(">H", 0) + struct.pack(">H", len(statics))
        for fname, t, value in statics:
            body += self.id(self.string(fname)) + bytes([t]) + (self.id(value) if t == OBJ else
                                                                  struct.pack(">i", value))
        body += struct.pack(">H", len(fields))
        for fname, t in fields:
            body += self.id(self.string(fname)) + bytes([t])
        self.heap.append(body)

    def instance(self, oid: int, cid: int, values: list[tuple[int, int]]) -> None:
        """values in dump order (own class's fields first): [(type, value)]."""
        data = b"".join(self.id(v) if t == OBJ else struct.pack(">q" if t == LONG else ">i", v)
                        for t, v in values)
        self.heap.append(bytes([0x21]) + self.id(oid) + struct.pack(">I", 0) + self.id(cid)
                         + struct.pack(">I", len(data)) + data)

    def obj_array(self, oid: int, acid: int, elems: list[int]) -> None:
        self.heap.append(bytes([0x22]) + self.id(oid) + struct.pack(">II", 0, len(elems)) + self.id(acid)
                         + b"".join(self.id(e) for e in elems))

    def byte_array(self, oid: int, n: int) -> None:
        self.heap.append(bytes([0x23]) + self.id(oid) + struct.pack(">II", 0, n) + bytes([BYTE]) + bytes(n))

    def root(self, oid: int, tag: int = 0x01) -> None:
        extra = {0x01: self.id(0), 0x03: struct.pack(">II", 1, 0), 0x05: b"", 0xFF: b""}[tag]
        self.heap.append(bytes([tag]) + self.id(oid) + extra)

    def raw_heap(self, data: bytes) -> None:
        self.heap.append(data)

    def build(self, segments: int = 2, extra_top: bytes = b"") -> bytes:
        head = b"JAVA PROFILE " + self.version.encode() + b"\0" + struct.pack(">III", self.n, 0, 1_700_000_000)
        out = head + b"".join(self.top) + extra_top
        if segments == 1:
            out += self._rec(0x0C, b"".join(self.heap))
        else:
            k = max(1, len(self.heap) // segments)
            for i in range(0, len(self.heap), k):
                out += self._rec(0x1C, b"".join(self.heap[i:i + k]))
            out += self._rec(0x2C, b"")
        return out


def _cache_dump(id_size: int = 8, version: str = "1.0.2", entries: int = 5, payload: int = 1000) -> HprofWriter:
    """class App { static Cache CACHE }  Cache { Entry[] entries }  Entry { long stamp; byte[] data }."""
    w = HprofWriter(id_size, version)
    OBJECT, APP, CACHE, ENTRY, ENTRY_ARR, BYTES, STRING = 0x100, 0x110, 0x120, 0x130, 0x140, 0x150, 0x160
    w.klass(OBJECT, "java/lang/Object")
    w.klass(BYTES, "[B", OBJECT)
    w.klass(ENTRY_ARR, "[Lcom/acme/Entry;", OBJECT)
    w.klass(STRING, "java/lang/Class", OBJECT)
    w.klass(CACHE, "com/acme/Cache", OBJECT, fields=[("entries", OBJ), ("hits", INT)])
    w.klass(ENTRY, "com/acme/Entry", OBJECT, fields=[("stamp", LONG), ("data", OBJ)])
    w.klass(APP, "com/acme/App", OBJECT, statics=[("CACHE", OBJ, 0x1000), ("COUNT", INT, 7)])
    w.root(APP, 0x05)
    w.instance(0x1000, CACHE, [(OBJ, 0x2000), (INT, 3)])
    ids = [0x3000 + 0x10 * i for i in range(entries)]
    w.obj_array(0x2000, ENTRY_ARR, ids + [0])
    for i, e in enumerate(ids):
        w.instance(e, ENTRY, [(LONG, i), (OBJ, 0x8000 + 0x10 * i)])
        w.byte_array(0x8000 + 0x10 * i, payload)
    w.byte_array(0x9990, 50)  # unreachable garbage
    return w


@pytest.mark.parametrize("id_size,version,segments", [(8, "1.0.2", 3), (4, "1.0.1", 1), (8, "1.0.1", 1)])
def test_parses_classes_objects_and_references(tmp_path: Path, id_size: int, version: str, segments: int):
    path = tmp_path / "c.hprof"
    path.write_bytes(_cache_dump(id_size, version).build(segments))
    d = parse_hprof(path)
    assert (d.version, d.id_size, d.partial, d.warnings) == (version, id_size, False, [])
    names = [d.describe(i) for i in range(d.n_objects)]
    assert names.count("com.acme.Entry") == 5 and names.count("byte[]") == 6
    assert "class com.acme.App" in names and "com.acme.Entry[]" in names
    # Shallow sizes follow the JVM layout: 64-bit compressed oops (12-byte header, 4-byte refs) or 32-bit.
    entry = names.index("com.acme.Entry")
    cache = names.index("com.acme.Cache")
    arr = names.index("com.acme.Entry[]")
    big = int(np.flatnonzero(d.shallow_bytes == d.shallow_bytes.max())[0])
    if id_size == 8:
        assert (d.shallow_bytes[entry], d.shallow_bytes[cache], d.shallow_bytes[arr]) == (24, 24, 40)
        assert d.shallow_bytes[big] == 1016  # round8(16 + 1000)
    else:
        assert (d.shallow_bytes[entry], d.shallow_bytes[cache], d.shallow_bytes[arr]) == (24, 16, 40)
        assert d.shallow_bytes[big] == 1016  # round8(12 + 1000)
    # Cache -> Entry[] by field "entries"; Entry[] -> five entries (the null slot is no edge).
    lo, hi = d.edge_start[cache], d.edge_start[cache + 1]
    assert [names[t] for t in d.edge_dst[lo:hi]] == ["com.acme.Entry[]"]
    assert d.edge_label(cache, int(d.edge_slot[lo])) == ".entries"
    assert d.edge_start[arr + 1] - d.edge_start[arr] == 5
    app = names.index("class com.acme.App")
    lo, hi = d.edge_start[app], d.edge_start[app + 1]
    labels = {d.edge_label(app, int(s)): names[t] for s, t in zip(d.edge_slot[lo:hi], d.edge_dst[lo:hi])}
    assert labels["static CACHE"] == "com.acme.Cache"


def test_retained_sizes_and_suspect_path(tmp_path: Path):
    path = tmp_path / "c.hprof"
    path.write_bytes(_cache_dump(entries=20, payload=4000).build())
    d = parse_hprof(path)
    tree = dominator_tree(d)
    names = [d.describe(i) for i in range(d.n_objects)]
    cache = names.index("com.acme.Cache")
    expected = 24 + (16 + 21 * 4 + 4) // 8 * 8 + 20 * (24 + 4016)
    assert tree.retained_of(cache) == expected
    assert tree.retained_of(names.index("byte[]")) == 4016
    garbage = int(np.flatnonzero(d.obj_id == 0x9990)[0])
    assert tree.dfn[garbage] == -1 and tree.retained_of(garbage) == 0
    r = heap_report(d, tree)
    assert r["unreachable_objects"] == 1 and r["unreachable_bytes"] == 72
    s = r["suspects"][0]
    assert s["path"][:3] == ["GC root (system class): class com.acme.App", "static CACHE → com.acme.Cache",
                             ".entries → com.acme.Entry[]"]
    assert s["accumulation"]["object"] == "com.acme.Entry[]"
    assert s["accumulation"]["children"][0]["class"] == "com.acme.Entry"
    assert s["accumulation"]["children"][0]["instances"] == 20
    assert s["description"].startswith("com.acme.Cache (static CACHE of class com.acme.App) retains")
    top = {x["class"]: x for x in r["top_retainers"]}
    assert top["com.acme.Entry"]["retained_bytes"] == 20 * (24 + 4016)
    assert top["com.acme.Cache"]["retained_bytes"] == expected


def test_gzipped_dump_reads_like_the_plain_one(tmp_path: Path):
    raw = _cache_dump().build()
    (tmp_path / "a.hprof").write_bytes(raw)
    (tmp_path / "a.hprof.gz").write_bytes(gzip.compress(raw))
    a, b = parse_hprof(tmp_path / "a.hprof"), parse_hprof(tmp_path / "a.hprof.gz")
    assert np.array_equal(a.obj_id, b.obj_id) and np.array_equal(a.edge_dst, b.edge_dst)
    assert np.array_equal(a.shallow_bytes, b.shallow_bytes)


# ---------------------------------------------------------------- dominators vs brute force


def _graph_dump(n: int, edges: list[tuple[int, int]], roots: list[int], sizes: list[int],
                classes: list[int] | None = None) -> HeapDump:
    edges = sorted(edges)
    start = np.zeros(n + 2, np.int64)
    for u, _v in edges:
        start[u + 1] += 1
    start[n + 1] = len(roots)
    start = np.cumsum(start)
    dst = np.array([v for _u, v in edges] + roots, np.int32)
    return HeapDump(path="g", version="1.0.2", id_size=8, timestamp_ms=0, compressed_oops=True,
                    obj_id=np.arange(1, n + 1, dtype=np.int64), obj_kind=np.zeros(n, np.uint8),
                    obj_class=np.array(classes if classes else [0] * n, np.int32),
                    shallow_bytes=np.array(sizes, np.int64), edge_start=start, edge_dst=dst,
                    edge_slot=np.full(dst.shape[0], 255, np.uint8), class_names=["A", "B", "java.lang.Class"],
                    class_id=np.zeros(3, np.int64), ref_field_names=[[], [], []], static_ref_names=[[], [], []],
                    root_kind={}, n_roots=len(roots), file_bytes=0)


def _brute_idom(n: int, edges: list[tuple[int, int]], roots: list[int]) -> dict[int, int]:
    """idom by definition: d dominates w when removing d cuts w off the super-root (index n)."""
    succ: dict[int, list[int]] = {i: [] for i in range(n + 1)}
    for u, v in edges:
        succ[u].append(v)
    succ[n] = list(roots)

    def reach(skip: int) -> set[int]:
        seen, todo = {n}, [n]
        while todo:
            u = todo.pop()
            for v in succ[u]:
                if v != skip and v not in seen:
                    seen.add(v)
                    todo.append(v)
        return seen

    live = reach(-1)
    doms = {w: {n} for w in live}
    for d in live - {n}:
        cut = live - reach(d)
        for w in cut:
            doms[w].add(d)
    idom = {}
    for w in live - {n}:
        strict = doms[w] - {w}
        # the immediate dominator is the strict dominator dominated by all the others
        idom[w] = next(d for d in strict if all(o in doms[d] for o in strict))
    return idom


@pytest.mark.parametrize("seed", range(12))
def test_dominators_match_brute_force(seed: int):
    rnd = random.Random(seed)
    n = rnd.randint(5, 60)
    edges = {(rnd.randrange(n), rnd.randrange(n)) for _ in range(rnd.randint(n, 3 * n))}
    roots = rnd.sample(range(n), rnd.randint(1, 3))
    sizes = [rnd.randint(8, 100) for _ in range(n)]
    d = _graph_dump(n, list(edges), roots, sizes)
    tree = dominator_tree(d)
    expect = _brute_idom(n, list(edges), roots)
    got = {}
    for dd in range(1, tree.vertex.shape[0]):
        got[int(tree.vertex[dd])] = int(tree.vertex[tree.idom[dd]])
    assert got == expect
    for w in expect:  # retained = own size + everything it dominates
        dominated = {x for x in expect if _dominated_by(x, w, expect, n)}
        assert tree.retained_of(w) == sizes[w] + sum(sizes[x] for x in dominated)


def _dominated_by(x: int, w: int, idom: dict[int, int], root: int) -> bool:
    while x != root:
        x = idom[x]
        if x == w:
            return True
    return False


def test_class_retained_counts_an_instance_once_not_per_dominating_node():
    # A linked list root -> a0 -> a1 -> a2 -> b (A, A, A, B): class A retains the list once.
    d = _graph_dump(4, [(0, 1), (1, 2), (2, 3)], [0], [16, 16, 16, 100], classes=[0, 0, 0, 1])
    r = heap_report(d)
    top = {x["class"]: x for x in r["top_retainers"]}
    assert top["A"]["retained_bytes"] == 148 and top["A"]["instances"] == 3
    assert top["B"]["retained_bytes"] == 100
    assert r["total_live_bytes"] == 148


def test_deep_chain_does_not_recurse():
    n = 200_000  # a linked list this long would overflow any recursive DFS
    d = _graph_dump(n, [(i, i + 1) for i in range(n - 1)], [0], [16] * n)
    tree = dominator_tree(d)
    assert tree.retained_of(0) == 16 * n and tree.retained_of(n - 1) == 16


# ---------------------------------------------------------------- corrupt input


def test_wrong_magic_is_a_clear_error(tmp_path: Path):
    p = tmp_path / "x.hprof"
    p.write_bytes(b"PK\x03\x04 this is a zip file" + bytes(100))
    with pytest.raises(InputError, match=r"x\.hprof: not an HPROF heap dump .*offset 0"):
        parse_hprof(p)


@pytest.mark.parametrize("cut", [5, 20, 31])
def test_truncated_header_is_a_clear_error(tmp_path: Path, cut: int):
    p = tmp_path / "t.hprof"
    p.write_bytes(_cache_dump().build()[:cut])
    with pytest.raises(InputError, match=r"t\.hprof"):
        parse_hprof(p)


def test_unknown_top_level_tag_is_skipped_with_a_warning(tmp_path: Path):
    w = _cache_dump()
    p = tmp_path / "u.hprof"
    p.write_bytes(w.build(extra_top=struct.pack(">BII", 0x77, 0, 4) + b"abcd"))
    d = parse_hprof(p)
    assert not d.partial and d.n_objects == parse_hprof_bytes(tmp_path, _cache_dump().build()).n_objects
    assert any("unknown record tag 0x77" in x for x in d.warnings)


def parse_hprof_bytes(tmp_path: Path, data: bytes) -> HeapDump:
    p = tmp_path / f"b{len(data)}.hprof"
    p.write_bytes(data)
    return parse_hprof(p)


def test_unknown_heap_sub_tag_gives_partial_result(tmp_path: Path):
    w = _cache_dump()
    w.heap.insert(len(w.heap) - 4, bytes([0x55]) + bytes(30))
    d = parse_hprof_bytes(tmp_path, w.build(segments=1))
    assert d.partial
    assert any("unknown heap sub-record tag 0x55 at offset" in x for x in d.warnings)
    assert 0 < d.n_objects < parse_hprof_bytes(tmp_path, _cache_dump().build(segments=1)).n_objects
    r = heap_report(d)
    assert r["partial"] is True


@pytest.mark.parametrize("frac", [0.3, 0.55, 0.8, 0.97])
def test_dump_cut_anywhere_keeps_what_was_read(tmp_path: Path, frac: float):
    data = _cache_dump(entries=30).build(segments=4)
    d = parse_hprof_bytes(tmp_path, data[: int(len(data) * frac)])
    assert d.partial and any("truncated" in x for x in d.warnings)
    json.dumps(heap_report(d))


def test_cut_gzip_stream_is_partial_or_clear(tmp_path: Path):
    gz = gzip.compress(_cache_dump(entries=30).build())
    p = tmp_path / "cut.hprof.gz"
    p.write_bytes(gz[: len(gz) // 2])
    try:
        d = parse_hprof(p)
    except InputError as e:
        assert "cut.hprof.gz" in str(e)
    else:
        assert d.partial


def test_not_a_dump_nor_histogram(tmp_path: Path):
    p = tmp_path / "notes.txt"
    p.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="neither an HPROF heap dump"):
        analyze_heap_file(str(p))
    with pytest.raises(InputError, match="cannot read"):
        analyze_heap_file(str(tmp_path / "missing.hprof"))


# ---------------------------------------------------------------- histograms

JCMD_HISTO = """12345:
 num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:         21991       20656160  [B (java.base@17.0.15)
   2:         16823         403752  java.lang.String (java.base@17.0.15)
   3:          2354         203280  [Ljava.lang.Object; (java.base@17.0.15)
   4:          3000          72000  com.acme.Session
Total         44168       21335192
"""

JMAP8_HISTO = """
 num     #instances         #bytes  class name
----------------------------------------------
   1:         21991       20656160  [B
   2:          9000         216000  com.acme.Session
   3:           100           4000  [[I
Total         31091       20876160
"""


def test_histogram_jcmd_and_jdk8_jmap():
    h = parse_histogram(JCMD_HISTO)
    assert [r.class_name for r in h.rows] == ["byte[]", "java.lang.String", "java.lang.Object[]", "com.acme.Session"]
    assert h.rows[0].module == "java.base@17.0.15" and h.total_bytes == 21335192 and not h.warnings
    h8 = parse_histogram(JMAP8_HISTO)
    assert h8.rows[2].class_name == "int[][]" and h8.total_instances == 31091


def test_histogram_bad_lines_and_missing_total():
    text = JCMD_HISTO.replace("Total         44168       21335192\n", "") + "garbage here\n"
    h = parse_histogram(text, source="h.txt")
    assert h.partial and any("h.txt:8: not a histogram row" in w for w in h.warnings)
    assert any("no 'Total' line" in w for w in h.warnings)
    with pytest.raises(InputError, match="no class histogram rows"):
        parse_histogram("nothing to see\n", source="h.txt")


def test_histogram_growth_between_two():
    now = histogram_report(parse_histogram(JMAP8_HISTO), source="now")
    before = histogram_report(parse_histogram(JCMD_HISTO), source="before")
    g = compare_reports(now, before)
    sess = next(c for c in g["classes"] if c["class"] == "com.acme.Session")
    assert sess["instances_delta"] == 6000 and sess["shallow_bytes_delta"] == 144000
    assert g["classes"][0]["class"] == "com.acme.Session"


def test_java_class_names():
    assert java_class_name("java/util/HashMap$Node") == "java.util.HashMap$Node"
    assert java_class_name("[[Ljava/lang/String;") == "java.lang.String[][]"
    assert java_class_name("[J") == "long[]"


# ---------------------------------------------------------------- command and collector


def test_cli_heap_markdown_json_and_errors(tmp_path: Path):
    p = tmp_path / "c.hprof"
    p.write_bytes(_cache_dump(entries=20, payload=4000).build())
    runner = CliRunner()
    res = runner.invoke(app, ["heap", str(p), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["top_retainers"][0]["class"] == "com.acme.Cache"
    res = runner.invoke(app, ["heap", str(p)])
    assert res.exit_code == 0 and "static CACHE → com.acme.Cache" in res.stdout
    assert "| `com.acme.Cache` | 1 |" in res.stdout
    bad = tmp_path / "bad.hprof"
    bad.write_bytes(b"JAVA PROFILE 1.0.2\0" + struct.pack(">I", 3) + bytes(8))
    res = runner.invoke(app, ["heap", str(bad)])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "identifier size 3" in res.stderr
    assert "Traceback" not in res.output
    h = tmp_path / "h.txt"
    h.write_text(JCMD_HISTO)
    res = runner.invoke(app, ["heap", str(h)])
    assert res.exit_code == 0 and "## Class histogram" in res.stdout and "| `byte[]` | 21,991 |" in res.stdout


def _request(base: Path):
    from ctxgrab.collectors import CollectRequest
    from ctxgrab.timeutil import Window

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return CollectRequest(service="payments", window=Window(now - timedelta(hours=1), now), baseline=None, at=now,
                          base_dir=base, config=None)  # type: ignore[arg-type]


def test_collector_takes_newest_with_previous_as_baseline(tmp_path: Path):
    from ctxgrab.collectors.heapdumps import collect

    (tmp_path / "heap").mkdir()
    old, new = tmp_path / "heap" / "a.hprof", tmp_path / "heap" / "b.hprof.gz"
    old.write_bytes(_cache_dump(entries=10, payload=2000).build())
    new.write_bytes(gzip.compress(_cache_dump(entries=30, payload=2000).build()))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_003_600, 1_700_003_600))
    ev = asyncio.run(collect(_request(tmp_path), {"paths": ["heap/*.hprof*"]}))
    assert ev.status.value == "ok" and ev.source == str(new)
    g = ev.data["growth"]
    assert g["baseline_file"] == "heap/a.hprof" and ev.data["file"] == "heap/b.hprof.gz"
    assert g["suspects"][0]["children_before"] == 10 and g["suspects"][0]["children_now"] == 30
    from ctxgrab.commands.heap import render_markdown

    md = render_markdown(ev.data)
    assert "Growth since the baseline" in md and "10 → 30 entries" in md
    empty = asyncio.run(collect(_request(tmp_path), {"paths": ["nothing/*.hprof"]}))
    assert empty.status.value == "empty" and "no file matches nothing/*.hprof" in (empty.reason or "")
    (tmp_path / "heap" / "c.hprof").write_bytes(b"garbage, not a dump")
    bad = asyncio.run(collect(_request(tmp_path), {"paths": ["heap/c.hprof"]}))
    assert bad.status.value == "error" and "c.hprof" in (bad.reason or "")


def test_class_objects_rooted_even_without_gc_root(tmp_path: Path):
    w = HprofWriter()
    w.klass(0x100, "java/lang/Object")
    w.klass(0x200, "com/acme/Holder", 0x100, statics=[("X", OBJ, 0x500)])
    w.klass(0x300, "[B", 0x100)
    w.byte_array(0x500, 100)
    d = parse_hprof_bytes(tmp_path, w.build())
    tree = dominator_tree(d)
    cls = int(np.flatnonzero(d.obj_kind == KIND_CLASS)[1])
    assert d.describe(cls) == "class com.acme.Holder"
    assert tree.retained_of(cls) == 8 + 120  # its int-free statics (one ref: 4 B -> 8) + byte[100]
