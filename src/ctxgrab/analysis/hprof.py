"""Streaming HPROF heap-dump parser into compact numpy arrays.

Reads ``JAVA PROFILE 1.0.1`` / ``1.0.2`` (and Android's ``1.0.3``) dumps with
identifier size 4 or 8, one ``HEAP DUMP`` record or many ``HEAP DUMP SEGMENT``
records, plain or gzipped. The file is read in chunks (never loaded whole), and
every heap object becomes one row in a handful of numpy arrays rather than a
Python object: production dumps hold tens of millions of objects.

The hot loop (walking heap sub-records, which carry no length field) is
compiled with numba when it is installed (the ``heap`` extra); without numba
the very same functions run as plain Python, which is fine for small dumps.

The result, :class:`HeapDump`, is an object graph in CSR form:

* ``obj_id[i]``    the object's HPROF id (an address on HotSpot), int64
* ``obj_kind[i]``  0 instance, 1 class object, 2 object array, 3 primitive array
* ``obj_class[i]`` index into ``class_names`` (for a class object: the class it *is*)
* ``shallow_bytes[i]`` the object's size in the JVM (HPROF does not store it, see
  :func:`_shallow_sizes` for the layout model)
* ``edge_start`` / ``edge_dst`` / ``edge_slot``: outgoing references of object i are
  ``edge_dst[edge_start[i]:edge_start[i+1]]``; the last node (index ``n_objects``)
  is a virtual super-root pointing at every GC root and every class.

Bad input never raises a traceback: a wrong header is an :class:`InputError`
naming the file and offset; a file cut short or an unknown sub-record keeps what
was read and sets ``partial`` with a warning that says where.

Example::

    >>> dump = parse_hprof("app.hprof.gz")            # doctest: +SKIP
    >>> dump.n_objects, dump.class_names[dump.obj_class[0]]  # doctest: +SKIP
    (61234, 'java.lang.String')
"""

from __future__ import annotations

import gzip
import mmap
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import InputError
from ..parsebudget import progress

__all__ = ["HeapDump", "parse_hprof", "java_class_name", "HAVE_NUMBA"]

try:  # numba turns the record walk from ~2 µs into ~20 ns per object
    from numba import njit as _njit

    HAVE_NUMBA = True

    def jit(fn):
        return _njit(cache=True, nogil=True)(fn)

except ImportError:  # pragma: no cover - exercised when the extra is absent
    HAVE_NUMBA = False

    def jit(fn):
        return fn


KIND_INSTANCE, KIND_CLASS, KIND_OBJ_ARRAY, KIND_PRIM_ARRAY = 0, 1, 2, 3

# Basic type code -> size in an HPROF record (2 = reference: the identifier size).
_TYPE_SIZE = {2: 0, 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}
_PRIM_NAMES = {4: "boolean", 5: "char", 6: "float", 7: "double", 8: "byte", 9: "short", 10: "int", 11: "long"}
_PRIM_SIG = {4: "[Z", 5: "[C", 6: "[F", 7: "[D", 8: "[B", 9: "[S", 10: "[I", 11: "[J"}
_SIG_PRIM = {"Z": "boolean", "C": "char", "F": "float", "D": "double", "B": "byte", "S": "short", "I": "int", "J": "long"}

ROOT_KINDS = {
    0xFF: "unknown", 0x01: "JNI global", 0x02: "JNI local", 0x03: "Java frame", 0x04: "native stack",
    0x05: "system class", 0x06: "thread block", 0x07: "busy monitor", 0x08: "thread",
    0x89: "interned string", 0x8A: "finalizing", 0x8B: "debugger", 0x8C: "reference cleanup",
    0x8D: "VM internal", 0x8E: "JNI monitor", 0x90: "unreachable",
}

SLOT_NONE = 255  # edge_slot for array elements and edges we cannot name

# Status codes of the scan kernel.
_NEED_MORE, _CLASS_DUMP, _BAD_TAG, _FULL = 0, 1, 2, 3

_CHUNK_BYTES = 32 << 20
_WINDOW_BYTES = 8 << 20  # a mapped segment is scanned in windows: progress, and pages released behind


def java_class_name(internal: str) -> str:
    """``java/lang/String`` -> ``java.lang.String``, ``[B`` -> ``byte[]``, ``[[Ljava/lang/Object;`` -> ``java.lang.Object[][]``."""
    dims = 0
    while internal.startswith("["):
        dims += 1
        internal = internal[1:]
    if dims:
        if internal.startswith("L") and internal.endswith(";"):
            internal = internal[1:-1]
        elif internal in _SIG_PRIM:
            internal = _SIG_PRIM[internal]
    return internal.replace("/", ".") + "[]" * dims


@dataclass
class HeapDump:
    """A parsed heap dump: compact arrays, one row per heap object (see the module docstring)."""

    path: str
    version: str
    id_size: int
    timestamp_ms: int
    compressed_oops: bool
    obj_id: np.ndarray
    obj_kind: np.ndarray
    obj_class: np.ndarray
    shallow_bytes: np.ndarray
    edge_start: np.ndarray
    edge_dst: np.ndarray
    edge_slot: np.ndarray
    class_names: list[str]
    class_id: np.ndarray  # class index -> class object id (0 when synthetic)
    ref_field_names: list[list[str]]  # class index -> names of its reference fields (supers included), by slot
    static_ref_names: list[list[str]]  # class index -> names of the class object's outgoing edges, by slot
    root_kind: dict[int, str]  # object index -> GC root kind (first seen)
    n_roots: int
    file_bytes: int
    partial: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def n_objects(self) -> int:
        return int(self.obj_id.shape[0])

    @property
    def super_root(self) -> int:
        return self.n_objects

    def edge_label(self, src: int, slot: int) -> str:
        """A person's name for an edge: ``.map``, ``static CACHE``, ``[]``."""
        if src == self.super_root:
            return "GC root"
        kind = int(self.obj_kind[src])
        cls = int(self.obj_class[src])
        if kind == KIND_INSTANCE and slot != SLOT_NONE and 0 <= cls and slot < len(self.ref_field_names[cls]):
            return "." + self.ref_field_names[cls][slot]
        if kind == KIND_CLASS and slot != SLOT_NONE and 0 <= cls and slot < len(self.static_ref_names[cls]):
            return self.static_ref_names[cls][slot]
        return "[]" if kind == KIND_OBJ_ARRAY else "→"

    def describe(self, i: int) -> str:
        """``java.util.HashMap`` for an instance, ``class com.acme.Foo`` for a class object."""
        name = self.class_names[int(self.obj_class[i])] if int(self.obj_class[i]) >= 0 else "<unknown class>"
        return f"class {name}" if int(self.obj_kind[i]) == KIND_CLASS else name

    def histogram_class(self) -> np.ndarray:
        """Per object, the class index it counts under in a class histogram (class objects -> java.lang.Class)."""
        out = self.obj_class.copy()
        out[self.obj_kind == KIND_CLASS] = self.class_names.index("java.lang.Class")
        return out


# --------------------------------------------------------------------------- kernel


@jit
def _rd(b, p, idsz):
    if idsz == 8:
        v = 0
        for k in range(8):
            v = (v << 8) | int(b[p + k])
        return v
    return (int(b[p]) << 24) | (int(b[p + 1]) << 16) | (int(b[p + 2]) << 8) | int(b[p + 3])


@jit
def _u4(b, p):
    return (int(b[p]) << 24) | (int(b[p + 1]) << 16) | (int(b[p + 2]) << 8) | int(b[p + 3])


@jit
def _lookup(keys, vals, key):
    lo = 0
    hi = keys.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    if lo < keys.shape[0] and keys[lo] == key:
        return vals[lo]
    return -1


@jit
def _scan(b, pos, end, stop, idsz, cls_keys, cls_vals, lay_start, lay_count, lay_off, lay_slot, prim_cls, prim_size,
          o_id, o_cls, o_kind, o_len, o_nedge, e_dst, e_slot, r_id, r_kind, cnt):
    """Walk heap sub-records in ``b[pos:end]`` into the output arrays, starting none at or after ``stop``.

    Returns ``(pos, status)``: status _NEED_MORE (pos is the first incomplete
    sub-record, or ``end``), _CLASS_DUMP (Python parses the CLASS DUMP at pos),
    _BAD_TAG (unknown sub-tag at pos) or _FULL (flush the outputs; cnt[4] says
    how many edges the next record needs).
    """
    no = cnt[0]
    ne = cnt[1]
    nr = cnt[2]
    cap_o = o_id.shape[0]
    cap_e = e_dst.shape[0]
    cap_r = r_id.shape[0]
    status = _NEED_MORE
    while pos < end and pos < stop:
        tag = int(b[pos])
        if tag == 0x21:  # INSTANCE DUMP
            h = pos + 1 + 2 * idsz + 8
            if h > end:
                break
            nbytes = _u4(b, h - 4)
            rec_end = h + nbytes
            if rec_end > end:
                break
            ci = _lookup(cls_keys, cls_vals, _rd(b, pos + 5 + idsz, idsz))
            nref = 0
            if ci >= 0 and lay_count[ci] > 0:
                nref = lay_count[ci]
            if no >= cap_o or ne + nref > cap_e:
                cnt[4] = nref
                status = _FULL
                break
            k = 0
            if nref > 0:
                s = lay_start[ci]
                for j in range(s, s + nref):
                    off = lay_off[j]
                    if off + idsz > nbytes:
                        break
                    v = _rd(b, h + off, idsz)
                    if v != 0:
                        e_dst[ne] = v
                        e_slot[ne] = lay_slot[j]
                        ne += 1
                        k += 1
            if ci < 0:
                cnt[3] += 1
            o_id[no] = _rd(b, pos + 1, idsz)
            o_cls[no] = ci
            o_kind[no] = 0
            o_len[no] = nbytes
            o_nedge[no] = k
            no += 1
            pos = rec_end
        elif tag == 0x22:  # OBJECT ARRAY DUMP
            h = pos + 1 + 2 * idsz + 8
            if h > end:
                break
            n = _u4(b, pos + 5 + idsz)
            rec_end = h + n * idsz
            if rec_end > end:
                break
            if no >= cap_o or ne + n > cap_e:
                cnt[4] = n
                status = _FULL
                break
            k = 0
            for j in range(n):
                v = _rd(b, h + j * idsz, idsz)
                if v != 0:
                    e_dst[ne] = v
                    e_slot[ne] = 255
                    ne += 1
                    k += 1
            o_id[no] = _rd(b, pos + 1, idsz)
            o_cls[no] = _lookup(cls_keys, cls_vals, _rd(b, h - idsz, idsz))
            o_kind[no] = 2
            o_len[no] = n
            o_nedge[no] = k
            no += 1
            pos = rec_end
        elif tag == 0x23 or tag == 0xC3:  # PRIMITIVE ARRAY DUMP (0xC3: Android, no data)
            h = pos + 1 + idsz + 9
            if h > end:
                break
            n = _u4(b, pos + 5 + idsz)
            et = int(b[h - 1])
            if et > 11 or prim_size[et] == 0:
                status = _BAD_TAG
                break
            rec_end = h + (n * prim_size[et] if tag == 0x23 else 0)
            if rec_end > end:
                break
            if no >= cap_o:
                cnt[4] = 0
                status = _FULL
                break
            o_id[no] = _rd(b, pos + 1, idsz)
            o_cls[no] = prim_cls[et]
            o_kind[no] = 3
            o_len[no] = n
            o_nedge[no] = 0
            no += 1
            pos = rec_end
        elif tag == 0x20:
            status = _CLASS_DUMP
            break
        elif tag == 0xFE:  # Android HEAP DUMP INFO: heap id, heap-name string id
            if pos + 5 + idsz > end:
                break
            pos += 5 + idsz
        else:
            # GC roots: fixed layouts after the sub-tag
            if tag == 0xFF or tag == 0x05 or tag == 0x07 or (0x89 <= tag <= 0x8D) or tag == 0x90:
                ln = idsz
            elif tag == 0x01:
                ln = 2 * idsz
            elif tag == 0x02 or tag == 0x03 or tag == 0x08 or tag == 0x8E:
                ln = idsz + 8
            elif tag == 0x04 or tag == 0x06:
                ln = idsz + 4
            else:
                status = _BAD_TAG
                break
            if pos + 1 + ln > end:
                break
            if nr >= cap_r:
                cnt[4] = 0
                status = _FULL
                break
            r_id[nr] = _rd(b, pos + 1, idsz)
            r_kind[nr] = tag
            nr += 1
            pos += 1 + ln
    cnt[0] = no
    cnt[1] = ne
    cnt[2] = nr
    return pos, status


@jit
def _slot(x, mask):
    p = (int(x) >> 3) * 0x7E3779B97F4A7C15  # multiplicative hash of an 8-aligned address (wraps in int64)
    return (p ^ (p >> 29)) & mask


@jit
def _build_index(obj_id, table):
    """Insert every object index into ``table`` (all -1) keyed by its id; returns the duplicates."""
    mask = table.shape[0] - 1
    dup = 0
    for i in range(obj_id.shape[0]):
        x = obj_id[i]
        h = _slot(x, mask)
        while True:
            j = table[h]
            if j < 0:
                table[h] = i
                break
            if obj_id[j] == x:
                dup += 1
                break
            h = (h + 1) & mask
    return dup


@jit
def _lookup_ids(ids, obj_id, table, out):
    """out[k] = index of the object with id ids[k], or -1."""
    mask = table.shape[0] - 1
    for k in range(ids.shape[0]):
        x = ids[k]
        h = _slot(x, mask)
        r = -1
        while True:
            j = table[h]
            if j < 0:
                break
            if obj_id[j] == x:
                r = j
                break
            h = (h + 1) & mask
        out[k] = r


# --------------------------------------------------------------------------- Python side


class _Incomplete(Exception):
    pass


@dataclass
class _Class:
    obj_id: int
    name_id: int
    super_id: int
    loader_id: int
    instance_size: int
    fields: list[tuple[int, int]]  # (name id, type) declared by this class
    edges: list[tuple[int, str]]  # (target id, label) from the class object
    static_bytes: int


class _Reader:
    """A gzip (or other) stream: counts bytes consumed so errors can name the offset (uncompressed),
    stops at ``limit`` expanded bytes (a decompression bomb), and reports progress by the raw file's
    position."""

    mapped = False

    def __init__(self, f: BinaryIO, total: int, raw: BinaryIO | None = None, limit: int | None = None):
        self.f = f
        self.raw = raw
        self.total = total
        self.limit = limit
        self.capped = False
        self.offset = 0

    def _allow(self, n: int) -> int:
        if self.limit is not None and self.offset + n > self.limit:
            self.capped = True
            return max(0, self.limit - self.offset)
        return n

    def read(self, n: int) -> bytes:
        data = self.f.read(self._allow(n))
        self.offset += len(data)
        return data

    def readinto(self, out: np.ndarray) -> int:
        """Fill ``out`` (a uint8 array) from the stream; returns the bytes read (fewer at the end)."""
        mv = memoryview(out)[: self._allow(out.shape[0])]
        got = 0
        while got < len(mv):
            k = self.f.readinto(mv[got:])  # type: ignore[attr-defined]
            if not k:
                break
            got += k
        self.offset += got
        self.report()
        return got

    def skip(self, n: int) -> int:
        left = n
        while left > 0:
            got = len(self.read(min(left, _CHUNK_BYTES)))
            if got == 0:
                break
            left -= got
            self.report()
        return n - left

    def report(self) -> None:
        try:
            done = self.raw.tell() if self.raw is not None else self.offset
        except (OSError, ValueError):
            done = self.offset
        progress(done, self.total)

    def close(self) -> None:
        self.f.close()
        if self.raw is not None:
            self.raw.close()


class _MapReader(_Reader):
    """A plain file, memory-mapped: heap segments are scanned in place, never copied, and the pages
    already scanned are handed back to the kernel (RSS stays a window, not the file)."""

    mapped = True

    def __init__(self, f: BinaryIO, size: int):
        super().__init__(f, size)
        self.mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
        self.size = size
        self._released = 0

    def read(self, n: int) -> bytes:
        data = self.mm[self.offset:self.offset + n]
        self.offset += len(data)
        return data

    def skip(self, n: int) -> int:
        k = max(0, min(n, self.size - self.offset))
        self.offset += k
        self.report()
        return k

    def view(self, n: int) -> np.ndarray:
        """The next ``n`` bytes (fewer at the end of the file) as a uint8 array over the mapping."""
        k = max(0, min(n, self.size - self.offset))
        arr = np.frombuffer(self.mm, np.uint8, count=k, offset=self.offset)
        self.offset += k
        return arr

    def release(self, upto: int) -> None:
        """Drop the mapping's pages before file offset ``upto`` from memory (they are re-read if touched)."""
        page = mmap.PAGESIZE
        end = (upto // page) * page
        if end > self._released and hasattr(mmap, "MADV_DONTNEED"):
            try:
                self.mm.madvise(mmap.MADV_DONTNEED, self._released, end - self._released)
            except (OSError, ValueError):
                pass
            self._released = end
        progress(upto, self.size)

    def close(self) -> None:
        try:
            self.mm.close()
        except BufferError:  # an array still views it: it closes when that array goes
            pass
        self.f.close()


class _Builder:
    """Growable per-object and per-edge buffers shared by the kernel and the class parser."""

    def __init__(self, cap_o: int = 1 << 20, cap_e: int = 4 << 20, cap_r: int = 1 << 16):
        self._alloc(cap_o, cap_e, cap_r)
        self.cnt = np.zeros(5, dtype=np.int64)
        self.chunks: list[tuple[np.ndarray, ...]] = []
        self.roots: list[tuple[np.ndarray, np.ndarray]] = []

    def _alloc(self, cap_o: int, cap_e: int, cap_r: int) -> None:
        self.o_id = np.empty(cap_o, np.int64)
        self.o_cls = np.empty(cap_o, np.int32)
        self.o_kind = np.empty(cap_o, np.uint8)
        self.o_len = np.empty(cap_o, np.uint32)
        self.o_nedge = np.empty(cap_o, np.int32)
        self.e_dst = np.empty(cap_e, np.int64)
        self.e_slot = np.empty(cap_e, np.uint8)
        self.r_id = np.empty(cap_r, np.int64)
        self.r_kind = np.empty(cap_r, np.uint8)

    def flush(self, need_edges: int = 0) -> None:
        no, ne, nr = (int(x) for x in self.cnt[:3])
        if no:
            self.chunks.append((self.o_id[:no].copy(), self.o_cls[:no].copy(), self.o_kind[:no].copy(),
                                self.o_len[:no].copy(), self.o_nedge[:no].copy(),
                                self.e_dst[:ne].copy(), self.e_slot[:ne].copy()))
        if nr:
            self.roots.append((self.r_id[:nr].copy(), self.r_kind[:nr].copy()))
        self.cnt[:3] = 0
        if need_edges > self.e_dst.shape[0]:  # one huge object array: grow the edge buffer to fit it
            self.e_dst = np.empty(need_edges, np.int64)
            self.e_slot = np.empty(need_edges, np.uint8)

    def add_object(self, obj_id: int, cls_index: int, kind: int, length: int) -> None:
        """One object without references (a primitive array read outside the kernel)."""
        if int(self.cnt[0]) >= self.o_id.shape[0]:
            self.flush()
        no = int(self.cnt[0])
        self.o_id[no], self.o_cls[no], self.o_kind[no], self.o_len[no], self.o_nedge[no] = (
            obj_id, cls_index, kind, length, 0)
        self.cnt[0] = no + 1

    def add_class_object(self, obj_id: int, cls_index: int, targets: list[int]) -> None:
        no, ne = int(self.cnt[0]), int(self.cnt[1])
        if no >= self.o_id.shape[0] or ne + len(targets) > self.e_dst.shape[0]:
            self.flush(len(targets))
            no, ne = 0, 0
        self.o_id[no], self.o_cls[no], self.o_kind[no], self.o_len[no] = obj_id, cls_index, KIND_CLASS, 0
        k = 0
        for slot, t in enumerate(targets):
            if t:
                self.e_dst[ne + k] = t
                self.e_slot[ne + k] = min(slot, SLOT_NONE)
                k += 1
        self.o_nedge[no] = k
        self.cnt[0] = no + 1
        self.cnt[1] = ne + k


GZIP_MAX_RATIO = 64  # a .hprof.gz may expand to 64× its size (real dumps: 3–10×) ...
GZIP_MIN_CAP = 256 << 20  # ... and at least 256 MiB; past that it is read as cut short


def _open(path: Path) -> _Reader:
    try:
        st = path.stat()
        f = open(path, "rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read heap dump: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise InputError(f"{path}: not a regular file; heap dump parsing needs a seekable file "
                         "(save the dump to disk first)")
    size = st.st_size
    magic = f.read(2)
    f.seek(0)
    if magic == b"\x1f\x8b":
        return _Reader(gzip.GzipFile(fileobj=f, mode="rb"), size, raw=f,  # type: ignore[arg-type]
                       limit=max(GZIP_MIN_CAP, GZIP_MAX_RATIO * size))
    if size == 0:
        f.close()
        raise InputError(f"{path}: empty file, not an HPROF heap dump")
    try:
        return _MapReader(f, size)
    except (OSError, ValueError) as e:
        f.close()
        raise InputError(f"{path}: cannot map heap dump: {e}") from None


def parse_hprof(path: str | os.PathLike[str], *, compressed_oops: bool | None = None) -> HeapDump:
    """Parse an HPROF file (plain or gzipped) into a :class:`HeapDump`.

    ``compressed_oops``: the JVM's object layout, which HPROF does not record;
    ``None`` guesses "on" when the heap is under 30 GB (HotSpot's default).

    A plain file is memory-mapped and scanned in place; a gzipped one is streamed and read
    up to :data:`GZIP_MAX_RATIO` times its size. The header is checked before anything else.
    Raises :class:`InputError` when the file is not an HPROF dump at all (or not a regular
    file). A dump that is cut short, lacks its HEAP DUMP END record or has an unknown record
    still returns, with ``partial`` set and a warning naming the offset.

    >>> dump = parse_hprof("heap.hprof")               # doctest: +SKIP
    >>> dump.partial, dump.n_objects                    # doctest: +SKIP
    (False, 61234)
    """
    path = Path(path)
    r = _open(path)
    try:
        return _parse(path, r, r.total, compressed_oops)
    except (EOFError, gzip.BadGzipFile, OSError, _ZlibError) as e:
        raise InputError(f"{path}: cannot decompress heap dump: {e}") from None
    finally:
        r.close()


try:
    from zlib import error as _ZlibError
except ImportError:  # pragma: no cover
    _ZlibError = OSError  # type: ignore[misc,assignment]


def _parse(path: Path, r: _Reader, file_bytes: int, compressed_oops: bool | None) -> HeapDump:
    head = b""
    ch = b""
    while len(head) < 64:  # the header first, a byte at a time: nothing else is read from a non-dump
        ch = r.read(1)
        if not ch or ch == b"\0":
            break
        head += ch
    if not head.startswith(b"JAVA PROFILE ") or ch != b"\0":
        raise InputError(
            f"{path}: not an HPROF heap dump (expected 'JAVA PROFILE 1.0.x' at offset 0, found {head[:20]!r})"
        )
    version = head[13:].decode("ascii", "replace")
    rest = r.read(12)
    if len(rest) < 12:
        raise InputError(f"{path}: truncated HPROF header (file ends at offset {r.offset})")
    id_size, hi, lo = struct.unpack(">III", rest)
    if id_size not in (4, 8):
        raise InputError(f"{path}: unsupported identifier size {id_size} at offset {len(head) + 1} (expected 4 or 8)")
    warnings: list[str] = []
    if version not in ("1.0.1", "1.0.2", "1.0.3"):
        warnings.append(f"unknown HPROF version {version!r}; reading it as 1.0.2")

    p = _Parser(path, id_size, warnings)
    partial = False
    segments = 0  # HEAP DUMP SEGMENT records: a dump made of them ends with HEAP DUMP END
    seen_end = False
    n_records = 0
    while True:
        rec_off = r.offset
        n_records += 1
        if not n_records & 4095:
            r.report()
        hdr = r.read(9)
        if not hdr:
            if segments and not seen_end and not partial:
                partial = True
                warnings.append(
                    f"the dump ends at offset {rec_off} after {segments:,} heap dump segment"
                    f"{'s' if segments > 1 else ''} without its HEAP DUMP END record: it was cut short "
                    "(disk full or the JVM killed while dumping?); objects and GC roots written after that "
                    "offset are missing")
            break
        if len(hdr) < 9:
            partial = True
            warnings.append(f"file ends inside a record header at offset {rec_off}: the dump is truncated")
            break
        tag, _t, length = struct.unpack(">BII", hdr)
        if tag in (0x0C, 0x1C):
            segments += tag == 0x1C
            ok = p.heap_segment(r, length, rec_off + 9)
            if not ok:
                partial = True
                if p.truncated:
                    break
            continue
        if tag == 0x2C:
            seen_end = True
            continue
        if tag in (0x01, 0x02):
            body = r.read(length)
            if len(body) < length:
                partial = True
                warnings.append(f"file ends inside a record (tag 0x{tag:02X}) at offset {rec_off}: the dump is truncated")
                break
            if tag == 0x02 and length < 8 + 2 * id_size:
                warnings.append(f"LOAD CLASS record at offset {rec_off} is {length} bytes, too short; skipped")
                continue
            if tag == 0x01:
                p.strings[_sid(body, 0, id_size)] = body[id_size:].decode("utf-8", "replace")
            else:
                _serial, cid, _trace, name_id = struct.unpack_from(">I" + ("Q" if id_size == 8 else "I") + "I" + ("Q" if id_size == 8 else "I"), body)
                p.load_class[_signed(cid, id_size)] = _signed(name_id, id_size)
            continue
        if tag not in _KNOWN_TOP_TAGS:
            warnings.append(f"unknown record tag 0x{tag:02X} at offset {rec_off} ({length} bytes) skipped")
        if r.skip(length) < length:
            partial = True
            warnings.append(f"file ends inside a record (tag 0x{tag:02X}) at offset {rec_off}: the dump is truncated")
            break
    if r.capped:
        partial = True
        warnings.insert(0, f"stopped reading at {r.limit:,} expanded bytes, the cap for a "
                        f"{file_bytes:,}-byte gzipped dump ({GZIP_MAX_RATIO}× its size; real dumps compress "
                        "3–10×): a decompression bomb or a damaged file; the rest is not analysed")
    if not p.segments_seen:
        if partial:
            raise InputError(f"{path}: truncated before any heap data ({'; '.join(warnings)})")
        raise InputError(f"{path}: HPROF file holds no HEAP DUMP records (a CPU or allocation profile?)")
    return p.finish(version, (hi << 32) | lo, file_bytes, compressed_oops, partial)


_KNOWN_TOP_TAGS = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x1C, 0x2C}


def _signed(v: int, id_size: int) -> int:
    bits = id_size * 8
    return v - (1 << bits) if id_size == 8 and v >= (1 << (bits - 1)) else v


def _sid(buf: bytes, off: int, id_size: int) -> int:
    return int.from_bytes(buf[off:off + id_size], "big", signed=(id_size == 8))


class _Parser:
    def __init__(self, path: Path, id_size: int, warnings: list[str]):
        self.path = path
        self.id_size = id_size
        self.warnings = warnings
        self.strings: dict[int, str] = {}
        self.load_class: dict[int, int] = {}  # class object id -> name string id
        self.classes: list[_Class] = []
        self.class_index: dict[int, int] = {}  # class object id -> index
        self.b = _Builder()
        self.segments_seen = 0
        self.truncated = False
        self._tables_dirty = True
        self._layouts: dict[int, tuple[list[int], list[int]] | None] = {}
        self.prim_cls = np.full(12, -1, np.int32)
        self.prim_size = np.zeros(12, np.int64)
        for t, s in _TYPE_SIZE.items():
            self.prim_size[t] = s if s else id_size
        self.prim_size[2] = 0  # an object-typed primitive array is malformed
        self._synthetic: dict[str, int] = {}

    # ---- classes
    def _name_of(self, c: _Class) -> str:
        name = self.strings.get(self.load_class.get(c.obj_id, -1))
        return java_class_name(name) if name is not None else f"<class 0x{c.obj_id:x}>"

    def _layout(self, ci: int) -> tuple[list[int], list[int]] | None:
        """Byte offsets of the reference fields in an instance of class ci (own fields first, then supers)."""
        if ci in self._layouts:
            return self._layouts[ci]
        offs: list[int] = []
        chain: list[_Class] = []
        c: _Class | None = self.classes[ci]
        while c is not None:
            chain.append(c)
            if c.super_id == 0:
                break
            si = self.class_index.get(c.super_id)
            if si is None:
                return None  # super not dumped yet; decided on a later rebuild
            c = self.classes[si]
        off = 0
        for c in chain:
            for _name, t in c.fields:
                if t == 2:
                    offs.append(off)
                    off += self.id_size
                else:
                    off += _TYPE_SIZE.get(t, 0)
        self._layouts[ci] = (offs, list(range(len(offs))))
        return self._layouts[ci]

    def _tables(self):
        if self._tables_dirty:
            ids = np.array([c.obj_id for c in self.classes], dtype=np.int64)
            order = np.argsort(ids, kind="stable")
            self._keys = ids[order]
            self._vals = order.astype(np.int32)
            starts, counts, offs, slots = [], [], [], []
            n = 0
            for ci in range(len(self.classes)):
                lay = self._layout(ci)
                if lay is None:
                    starts.append(0)
                    counts.append(-1)
                    continue
                starts.append(n)
                counts.append(len(lay[0]))
                offs.extend(lay[0])
                slots.extend(min(s, SLOT_NONE) for s in lay[1])
                n += len(lay[0])
            self._lay_start = np.array(starts, dtype=np.int64)
            self._lay_count = np.array(counts, dtype=np.int64)
            self._lay_off = np.array(offs, dtype=np.int64)
            self._lay_slot = np.array(slots, dtype=np.uint8)
            self._tables_dirty = False
        return self._keys, self._vals, self._lay_start, self._lay_count, self._lay_off, self._lay_slot

    def _class_dump(self, b: np.ndarray, pos: int, end: int) -> int:
        """Parse one CLASS DUMP at b[pos]; returns the position after it. Raises _Incomplete."""
        idsz = self.id_size
        fmt_id = ">q" if idsz == 8 else ">I"

        def need(n: int) -> None:
            if q + n > end:
                raise _Incomplete

        def rid(at: int) -> int:
            return struct.unpack_from(fmt_id, mv, at)[0]

        mv = memoryview(b)
        q = pos + 1
        need(7 * idsz + 4 + 4 + 2)
        cid = rid(q)
        super_id = rid(q + idsz + 4)
        loader = rid(q + 2 * idsz + 4)
        signers = rid(q + 3 * idsz + 4)
        domain = rid(q + 4 * idsz + 4)
        q += 7 * idsz + 4
        inst_size = struct.unpack_from(">I", mv, q)[0]
        q += 4
        edges: list[tuple[int, str]] = [(super_id, "superclass"), (loader, "class loader"),
                                        (signers, "signers"), (domain, "protection domain")]
        static_bytes = 0
        (ncp,) = struct.unpack_from(">H", mv, q)
        q += 2
        for _ in range(ncp):
            need(3)
            t = b[q + 2]
            size = idsz if t == 2 else _TYPE_SIZE.get(int(t), -1)
            if size < 0:
                raise _BadClass(f"unknown constant-pool value type {int(t)} at offset +{q - pos}")
            need(3 + size)
            if t == 2:
                edges.append((rid(q + 3), "constant pool"))
            q += 3 + size
        need(2)
        (nst,) = struct.unpack_from(">H", mv, q)
        q += 2
        for _ in range(nst):
            need(idsz + 1)
            name_id = rid(q)
            t = int(b[q + idsz])
            size = idsz if t == 2 else _TYPE_SIZE.get(t, -1)
            if size < 0:
                raise _BadClass(f"unknown static field type {t} at offset +{q - pos}")
            need(idsz + 1 + size)
            if t == 2:
                edges.append((rid(q + idsz + 1), "static " + self.strings.get(name_id, "?")))
                static_bytes += 4
            else:
                static_bytes += size
            q += idsz + 1 + size
        need(2)
        (nf,) = struct.unpack_from(">H", mv, q)
        q += 2
        need(nf * (idsz + 1))
        fields = []
        for _ in range(nf):
            fields.append((rid(q), int(b[q + idsz])))
            q += idsz + 1
        if any(t not in _TYPE_SIZE for _n, t in fields):
            raise _BadClass("unknown instance field type")
        c = _Class(cid, self.load_class.get(cid, -1), super_id, loader, inst_size, fields, edges, static_bytes)
        if cid in self.class_index:  # a repeated class dump: keep the first
            return q
        ci = len(self.classes)
        self.classes.append(c)
        self.class_index[cid] = ci
        self._tables_dirty = True
        self.b.add_class_object(cid, ci, [t for t, _l in edges])
        return q

    def _synthetic_class(self, name: str) -> int:
        """A class index for a name with no CLASS DUMP (primitive arrays of some dumps, java.lang.Class)."""
        for ci, c in enumerate(self.classes):
            if self._name_of(c) == name:
                return ci
        if name not in self._synthetic:
            ci = len(self.classes)
            self.classes.append(_Class(0, -1, 0, 0, 0, [], [], 0))
            self._synthetic[name] = ci
            self._tables_dirty = True
        return self._synthetic[name]

    def _prim_classes(self) -> None:
        by_sig = {}
        for ci, c in enumerate(self.classes):
            n = self.strings.get(self.load_class.get(c.obj_id, -1))
            if n in _PRIM_SIG.values():
                by_sig[n] = ci
        for t, sig in _PRIM_SIG.items():
            if self.prim_cls[t] < 0 and sig in by_sig:
                self.prim_cls[t] = by_sig[sig]

    # ---- heap segments
    report: Any = None  # called with a buffer position now and then (progress of a long run of class dumps)

    def _walk(self, buf: np.ndarray, pos: int, end: int, stop: int) -> tuple[int, str | None]:
        """Scan ``buf[pos:end]``, starting no record at or after ``stop``.

        Returns ``(pos, problem)``: problem ``None`` (pos: the first record not read, incomplete
        when pos < stop), or a description of the bad sub-record at pos (the rest of the segment
        must be skipped).
        """
        b = self.b
        while True:
            if self._tables_dirty:
                self._prim_classes()
            keys, vals, ls, lc, lo, lsl = self._tables()
            pos, status = _scan(buf, pos, end, stop, self.id_size, keys, vals, ls, lc, lo, lsl, self.prim_cls,
                                self.prim_size, b.o_id, b.o_cls, b.o_kind, b.o_len, b.o_nedge, b.e_dst,
                                b.e_slot, b.r_id, b.r_kind, b.cnt)
            if status == _FULL:
                b.flush(int(b.cnt[4]))
                continue
            if status == _CLASS_DUMP:
                try:
                    k = 0
                    while pos < end and buf[pos] == 0x20:  # class dumps come in runs: rebuild tables once
                        pos = self._class_dump(buf, pos, end)
                        k += 1
                        if not k & 4095 and self.report is not None:
                            self.report(pos)
                except _Incomplete:
                    return pos, None
                except _BadClass as e:
                    return pos, f"malformed CLASS DUMP ({e})"
                continue
            if status == _BAD_TAG:
                return pos, f"unknown heap sub-record tag 0x{int(buf[pos]):02X}"
            return pos, None

    def _need(self, c: np.ndarray) -> tuple[int, int]:
        """Bytes of the sub-record that starts ``c`` (0 when its header is not complete or it has no
        length), and its primitive element type for a primitive array (else -1)."""
        idsz, n = self.id_size, c.shape[0]
        tag = int(c[0])
        if tag in (0x21, 0x22):
            h = 1 + 2 * idsz + 8
            if n < h:
                return 0, -1
            if tag == 0x21:
                return h + int.from_bytes(c[h - 4:h].tobytes(), "big"), -1
            return h + int.from_bytes(c[1 + idsz + 4:1 + idsz + 8].tobytes(), "big") * idsz, -1
        if tag == 0x23:
            h = 1 + idsz + 9
            if n < h:
                return 0, -1
            et = int(c[h - 1])
            size = int(self.prim_size[et]) if et <= 11 else 0
            if not size:
                return 0, -1
            return h + int.from_bytes(c[1 + idsz + 4:1 + idsz + 8].tobytes(), "big") * size, et
        return 0, -1

    def heap_segment(self, r: _Reader, length: int, body_off: int) -> bool:
        """Parse one HEAP DUMP (SEGMENT) body of ``length`` bytes. False when it ended early (see warnings)."""
        self.segments_seen += 1
        if r.mapped:
            return self._segment_mapped(r, length, body_off)  # type: ignore[arg-type]
        return self._segment_stream(r, length, body_off)

    def _truncated(self, at: int, missing: int, length: int) -> bool:
        self.truncated = True
        self.warnings.append(
            f"file ends inside a heap dump segment at offset {at} ({missing} of {length} bytes missing): "
            "the dump is truncated, objects after it are missing")
        return False

    def _segment_mapped(self, r: _MapReader, length: int, body_off: int) -> bool:
        # The segment is scanned where it lies in the mapping: a 1.5 GB array is stepped over, not read.
        buf = r.view(length)
        end = buf.shape[0]
        pos = 0
        self.report = lambda at: progress(body_off + at, r.size)
        while True:
            stop = min(end, pos + _WINDOW_BYTES)
            pos, problem = self._walk(buf, pos, end, stop)
            if problem:
                self.warnings.append(f"{problem} at offset {body_off + pos}; the rest of this heap segment "
                                     f"({length - pos} bytes) was skipped")
                if end < length:
                    self.truncated = True
                return False
            r.release(body_off + pos)
            if pos >= end or pos < stop:
                break
        if end < length:
            return self._truncated(body_off + end, length - end, length)
        if pos < end:
            self.warnings.append(f"heap dump segment ends inside a sub-record at offset {body_off + pos} "
                                 f"(tag 0x{int(buf[pos]):02X}, {end - pos} bytes left over)")
            return False
        return True

    def _segment_stream(self, r: _Reader, length: int, body_off: int) -> bool:
        # Chunks of a stream (gzip). A sub-record larger than a chunk is read once into a buffer of its
        # size (a primitive array is not read at all: its bytes are skipped), never glued again and again.
        carry = np.empty(0, np.uint8)
        left = length
        base = body_off  # file offset of carry[0]
        while True:
            want = min(left, _CHUNK_BYTES)
            if carry.shape[0]:
                need, et = self._need(carry)
                if need > carry.shape[0] + want and need - carry.shape[0] <= left:
                    if et >= 0:  # a big primitive array: record it, skip its data
                        self._add_prim_array(carry, et)
                        rest = need - carry.shape[0]
                        got = r.skip(rest)
                        left -= got
                        if got < rest:
                            return self._truncated(base + carry.shape[0] + got, left + rest - got, length)
                        base += need
                        carry = np.empty(0, np.uint8)
                        if left == 0:
                            return True
                        continue
                    want = need - carry.shape[0]
            buf = np.empty(carry.shape[0] + want, np.uint8)
            buf[:carry.shape[0]] = carry
            got = r.readinto(buf[carry.shape[0]:]) if want else 0
            left -= got
            eof = got < want
            end = carry.shape[0] + got
            del carry
            pos, problem = self._walk(buf, 0, end, end)
            if problem:
                self.warnings.append(f"{problem} at offset {base + pos}; the rest of this heap segment "
                                     f"({end - pos + left} bytes) was skipped")
                if r.skip(left) < left:
                    self.truncated = True
                return False
            carry = buf[pos:end].copy() if pos < end else np.empty(0, np.uint8)
            del buf
            base += pos
            if eof:
                return self._truncated(base + carry.shape[0], left, length)
            if left == 0:
                if carry.shape[0]:
                    self.warnings.append(
                        f"heap dump segment ends inside a sub-record at offset {base} "
                        f"(tag 0x{int(carry[0]):02X}, {carry.shape[0]} bytes left over)")
                    return False
                return True

    def _add_prim_array(self, c: np.ndarray, et: int) -> None:
        if self._tables_dirty:
            self._prim_classes()
        idsz = self.id_size
        obj_id = int.from_bytes(c[1:1 + idsz].tobytes(), "big", signed=(idsz == 8))
        n = int.from_bytes(c[1 + idsz + 4:1 + idsz + 8].tobytes(), "big")
        self.b.add_object(obj_id, int(self.prim_cls[et]), KIND_PRIM_ARRAY, n)

    # ---- finish
    def finish(self, version: str, ts: int, file_bytes: int, compressed: bool | None, partial: bool) -> HeapDump:
        b = self.b
        self._prim_classes()
        for t, sig in _PRIM_SIG.items():
            if self.prim_cls[t] < 0:
                self.prim_cls[t] = self._synthetic_class(java_class_name(sig))
        class_ci = self._synthetic_class("java.lang.Class")
        b.flush()
        chunks = b.chunks
        n = sum(c[0].shape[0] for c in chunks)
        ne = sum(c[5].shape[0] for c in chunks)
        obj_id = np.empty(n, np.int64)
        obj_cls = np.empty(n, np.int32)
        obj_kind = np.empty(n, np.uint8)
        obj_len = np.empty(n, np.uint32)
        nedge = np.empty(n, np.int32)
        e_id = np.empty(ne, np.int64)
        e_slot = np.empty(ne, np.uint8)
        io_, ie = 0, 0
        while chunks:  # move chunk by chunk so the peak is one chunk over the total
            c = chunks.pop(0)
            k, ke = c[0].shape[0], c[5].shape[0]
            obj_id[io_:io_ + k], obj_cls[io_:io_ + k], obj_kind[io_:io_ + k], obj_len[io_:io_ + k] = c[:4]
            nedge[io_:io_ + k] = c[4]
            e_id[ie:ie + ke], e_slot[ie:ie + ke] = c[5], c[6]
            io_ += k
            ie += ke
            del c
        roots = b.roots
        r_id = np.concatenate([x[0] for x in roots]) if roots else np.empty(0, np.int64)
        r_kind = np.concatenate([x[1] for x in roots]) if roots else np.empty(0, np.uint8)
        unknown = int(np.count_nonzero((obj_cls < 0) & (obj_kind == KIND_INSTANCE)))
        if unknown:
            self.warnings.append(f"{unknown:,} instances of classes missing from the dump: their references are lost")
        if (obj_cls < 0).any():
            obj_cls[obj_cls < 0] = self._synthetic_class("<unknown class>")

        # Edge targets: ids -> object indices through an open-addressing hash table (4 bytes a slot,
        # far less than sorting the ids); references to ids not in the dump are dropped.
        table = np.full(1 << max(4, int(n * 1.3).bit_length()), -1, np.int32)
        dup = _build_index(obj_id, table)
        if dup:
            self.warnings.append(f"{dup:,} object ids appear twice; references go to the first")
        e_dst = np.empty(ne, np.int32)
        _lookup_ids(e_id, obj_id, table, e_dst)
        del e_id
        root_idx = np.empty(r_id.shape[0], np.int32)
        _lookup_ids(r_id, obj_id, table, root_idx)
        del table
        wide = ne + n >= 2**32 - 1  # edge offsets fit 32 bits for any dump below ~4 billion references
        starts = np.zeros(n + 2, np.int64 if wide else np.uint32)
        np.cumsum(nedge, out=starts[1:n + 1])
        del nedge
        bad = np.flatnonzero(e_dst < 0)
        if bad.shape[0]:
            owner = np.searchsorted(starts[: n + 1], bad, side="right") - 1
            lost = np.bincount(owner, minlength=n)
            starts[1:n + 1] -= np.cumsum(lost).astype(starts.dtype)
            keep = e_dst >= 0
            e_dst = e_dst[keep]
            e_slot = e_slot[keep]
            del keep, owner, lost
        # Super-root edges: every GC root, and every class object (classes live as long as their loader).
        root_kind: dict[int, str] = {}
        for i, k in zip(root_idx.tolist(), r_kind.tolist()):
            if i >= 0 and i not in root_kind:
                root_kind[i] = ROOT_KINDS.get(k, "unknown")
        class_objs = np.flatnonzero(obj_kind == KIND_CLASS).astype(np.int32)
        sr = np.unique(np.concatenate([root_idx[root_idx >= 0].astype(np.int32), class_objs]))
        e_dst = np.concatenate([e_dst, sr])
        e_slot = np.concatenate([e_slot, np.full(sr.shape[0], SLOT_NONE, np.uint8)])
        starts[n + 1] = e_dst.shape[0]

        # Class names and field names.
        names = [self._name_of(c) for c in self.classes]
        for nm, ci in self._synthetic.items():
            names[ci] = nm
        ref_names = []
        static_names = []
        for ci, c in enumerate(self.classes):
            chain_names: list[str] = []
            cc: _Class | None = c
            seen = 0
            while cc is not None and seen < 256:
                chain_names.extend(self.strings.get(nid, "?") for nid, t in cc.fields if t == 2)
                cc = self.classes[self.class_index[cc.super_id]] if cc.super_id in self.class_index else None
                seen += 1
            ref_names.append(chain_names)
            static_names.append([lbl for _t, lbl in c.edges])
        class_ids = np.array([c.obj_id for c in self.classes], dtype=np.int64)

        guess = True if compressed is None else compressed
        shallow = _shallow_sizes(obj_kind, obj_cls, obj_len, self, guess, class_ci)
        if compressed is None:
            # HotSpot turns compressed oops off for heaps of 32 GB and more.
            compressed = self.id_size == 8 and int(shallow.sum(dtype=np.int64)) < 30 * 1024**3
            if not compressed and self.id_size == 8:
                shallow = _shallow_sizes(obj_kind, obj_cls, obj_len, self, False, class_ci)
        del obj_len
        root_count = int(r_id.shape[0])
        return HeapDump(
            path=str(self.path), version=version, id_size=self.id_size, timestamp_ms=ts,
            compressed_oops=bool(compressed), obj_id=obj_id, obj_kind=obj_kind, obj_class=obj_cls,
            shallow_bytes=shallow, edge_start=starts, edge_dst=e_dst, edge_slot=e_slot, class_names=names,
            class_id=class_ids, ref_field_names=ref_names, static_ref_names=static_names, root_kind=root_kind,
            n_roots=root_count, file_bytes=file_bytes, partial=partial or self.truncated, warnings=self.warnings,
        )


class _BadClass(Exception):
    pass


def _shallow_sizes(kind: np.ndarray, cls: np.ndarray, length: np.ndarray, p: _Parser, compressed: bool,
                   class_ci: int) -> np.ndarray:
    """Object sizes in the JVM, modelled from HotSpot's layout (HPROF stores none).

    64-bit with compressed oops and class pointers: instance = round8(12 + fields, refs 4 B);
    array = round8(16 + n × element, refs 4 B). Without compressed oops (JDK 15+, class
    pointers still compressed): the same headers with 8-byte refs; checked against
    ``jcmd GC.class_histogram`` of a JDK 17 JVM run with -XX:-UseCompressedOops.
    32-bit (id size 4): header 8, array header 12.
    A class object counts its static fields.
    """
    idsz = p.id_size
    if idsz == 4:
        hdr, ahdr, ref = 8, 12, 4
    elif compressed:
        hdr, ahdr, ref = 12, 16, 4
    else:
        hdr, ahdr, ref = 12, 16, 8  # JDK 15+ keeps compressed class pointers without compressed oops
    nc = len(p.classes)
    inst = np.zeros(nc, np.int64)
    statics = np.zeros(nc, np.int64)
    for ci, c in enumerate(p.classes):
        lay = p._layouts.get(ci) or p._layout(ci)
        nref = len(lay[0]) if lay else 0
        field_bytes = max(c.instance_size - nref * idsz, 0) + nref * ref
        inst[ci] = (hdr + field_bytes + 7) & ~7
        statics[ci] = c.static_bytes
    elem = np.zeros(nc, np.int64)  # element size per array class
    for t, ci in enumerate(p.prim_cls.tolist()):
        if ci >= 0 and t in _PRIM_NAMES:
            elem[ci] = _TYPE_SIZE[t]
    out = np.empty(kind.shape[0], np.int64)
    m = kind == KIND_INSTANCE
    out[m] = inst[cls[m]]
    m = kind == KIND_OBJ_ARRAY
    out[m] = ((ahdr + length[m].astype(np.int64) * ref) + 7) & ~7
    m = kind == KIND_PRIM_ARRAY
    out[m] = ((ahdr + length[m].astype(np.int64) * elem[cls[m]]) + 7) & ~7
    m = kind == KIND_CLASS
    out[m] = (statics[cls[m]] + 7) & ~7
    if out.shape[0] == 0 or int(out.max()) < 2**32:
        return out.astype(np.uint32)  # half the memory; only arrays over 4 GB need 64 bits
    return out
