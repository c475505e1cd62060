#!/usr/bin/env python3
"""Validate picklegate's knowledge base (src/kb/dangerous.toml, src/kb/frameworks.toml).

Usage:
    python3 scripts/check_kb.py                   # validate both files, print entry counts
    python3 scripts/check_kb.py --globals FILE..  # also list the globals these model files
                                                  # reference that the knowledge base does
                                                  # not classify (coverage check)

Checks: both files parse; schema/version present; every target matches
MODULE:QUALNAME or MODULE:*; ids are unique kebab-case; behaviours and severities
come from the fixed sets; alias keys and values are module names, with no chains,
and no target spells an aliased (non-canonical) module; no duplicate targets; no
allowlist target is matched by a dangerous entry (it would be dead, because
dangerous entries are checked first, with the dotted-path semantics of
src/kb/mod.rs); `walk` is a boolean on single-name entries; every [[loader]]
target is itself dangerous; decoders use a known transform and are not dangerous.

--globals only parses files (pickletools.genops plus a small stack model for
STACK_GLOBAL operands); it never unpickles anything. It understands raw pickles,
several pickles in a row (legacy torch), zip archives (torch, npz) and their
members, .npy object arrays, gzip/bz2/xz/lzma/zlib wrappers and joblib's inline
array bytes. Standard library only; Python 3.11+.
"""
from __future__ import annotations

import argparse
import ast
import bz2
import collections
import gzip
import io
import lzma
import pickletools
import re
import struct
import sys
import tomllib
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DANGEROUS = ROOT / "src" / "kb" / "dangerous.toml"
FRAMEWORKS = ROOT / "src" / "kb" / "frameworks.toml"

TARGET_RE = re.compile(r"^[A-Za-z_][\w.]*:(\*|[A-Za-z_][\w.]*)$")
MODULE_RE = re.compile(r"^[A-Za-z_][\w.]*$")
ID_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
BEHAVIOURS = {"runs-code", "starts-process", "network", "reads-files", "writes-files", "environment",
              "dynamic-import", "loads-pickle", "native-code", "tampers-model", "persists", "indirect-call",
              "evades-scanners", "disrupts-loader"}
SEVERITIES = {"critical", "high", "medium"}
TRANSFORMS = {"base64", "urlsafe-base64", "base32", "base32hex", "hex", "hex-upper", "ascii85", "base85",
              "zlib", "gzip", "bz2", "lzma", "codecs", "codecs-encode"}
LOADER_INPUTS = {"bytes", "file", "path", "path-or-file"}


class KB:
    """Classification with the same semantics as src/kb/mod.rs.

    A dangerous target `module:*` is the dotted path `module`, `module:Name` the path `module.Name`;
    a global `module.name` matches when its path equals that path or starts with it plus a dot (so
    attribute paths and submodules below it match too), and the longest matching path wins. An
    entry with `walk = true` matches only `module` + a name whose first component is `Name` (an
    attribute walk), never the submodule `module.Name`. Allowlist targets match exactly;
    `module:*` allowlists the module tree.
    """

    def __init__(self, dangerous: dict, frameworks: dict):
        self.aliases: dict[str, str] = dangerous.get("aliases", {})
        self.dangerous = [(e["target"], e, c) for c in dangerous["category"] for e in c["entries"]]
        self.allow = [(e["target"], fw["id"]) for fw in frameworks["framework"] for e in fw["entries"]]

    def canon(self, module: str) -> str:
        for key in sorted(self.aliases, key=len, reverse=True):
            if module == key or module.startswith(key + "."):
                return self.aliases[key] + module[len(key):]
        return module

    @staticmethod
    def split(target: str) -> tuple[str, str]:
        module, _, name = target.partition(":")
        return module, name

    @staticmethod
    def path_key(target: str) -> str:
        module, name = KB.split(target)
        return module if name == "*" else f"{module}.{name}"

    @staticmethod
    def dangerous_matches(target: str, entry: dict, module: str, name: str) -> bool:
        tm, tn = KB.split(target)
        if entry.get("walk"):
            return module == tm and name.split(".")[0] == tn
        key = KB.path_key(target)
        path = f"{module}.{name}" if name else module
        return path == key or path.startswith(key + ".")

    @staticmethod
    def allow_matches(target: str, module: str, name: str) -> bool:
        tm, tn = KB.split(target)
        if tn == "*":
            return module == tm or module.startswith(tm + ".")
        return module == tm and name == tn

    def classify(self, module: str, name: str) -> tuple[str, str | None]:
        """Return ('dangerous', category id) / ('allowed', framework id) / ('unknown', None)."""
        module = self.canon(module)
        hits = [(t, e, c) for t, e, c in self.dangerous if self.dangerous_matches(t, e, module, name)]
        if hits:
            # the longest matching path wins; walk entries only when no path entry matches
            t, e, c = max(hits, key=lambda h: (not h[1].get("walk"), len(KB.path_key(h[0]))))
            return "dangerous", c["id"]
        for t, fw in self.allow:
            if self.allow_matches(t, module, name):
                return "allowed", fw
        return "unknown", None


def validate(dangerous: dict, frameworks: dict) -> list[str]:
    errors: list[str] = []
    err = errors.append
    for label, doc in (("dangerous.toml", dangerous), ("frameworks.toml", frameworks)):
        if doc.get("schema") != 1:
            err(f"{label}: schema must be 1")
        if not re.fullmatch(r"\d{4}\.\d{2}\.\d{2}", str(doc.get("version", ""))):
            err(f"{label}: version must look like YYYY.MM.DD")

    aliases = dangerous.get("aliases", {})
    for k, v in aliases.items():
        if not MODULE_RE.match(k) or not MODULE_RE.match(v):
            err(f"alias {k!r} = {v!r}: not a module name")
        if v in aliases or any(v.startswith(a + ".") for a in aliases):
            err(f"alias {k!r} -> {v!r}: chained alias")

    def check_target(where: str, t: str) -> None:
        if not TARGET_RE.match(t):
            err(f"{where}: bad target {t!r}")
            return
        module = t.split(":")[0]
        for a in aliases:
            if module == a or module.startswith(a + "."):
                err(f"{where}: {t!r} uses aliased module {a!r}; write the canonical name")

    ids: set[str] = set()
    seen: set[str] = set()
    for c in dangerous.get("category", []):
        cid = c.get("id", "")
        if not ID_RE.match(cid) or cid in ids:
            err(f"category id {cid!r}: not unique kebab-case")
        ids.add(cid)
        for k in ("title", "description"):
            if not c.get(k):
                err(f"category {cid}: missing {k}")
        if c.get("behaviour") not in BEHAVIOURS:
            err(f"category {cid}: behaviour {c.get('behaviour')!r}")
        if c.get("severity") not in SEVERITIES:
            err(f"category {cid}: severity {c.get('severity')!r}")
        for e in c.get("entries", []):
            t = e.get("target", "")
            check_target(f"category {cid}", t)
            if not e.get("why"):
                err(f"category {cid}: {t} has no why")
            if "severity" in e and e["severity"] not in SEVERITIES:
                err(f"category {cid}: {t} severity {e['severity']!r}")
            if set(e) - {"target", "why", "severity", "walk"}:
                err(f"category {cid}: {t} has unknown keys {sorted(set(e) - {'target', 'why', 'severity', 'walk'})}")
            if "walk" in e and (not isinstance(e["walk"], bool) or t.endswith(":*") or "." in t.split(":")[1]):
                err(f"category {cid}: {t}: walk must be a boolean on a single-component name")
            if t in seen:
                err(f"dangerous target {t} listed twice")
            seen.add(t)

    fids: set[str] = set()
    allow_seen: set[str] = set()
    for fw in frameworks.get("framework", []):
        fid = fw.get("id", "")
        if not ID_RE.match(fid) or fid in fids:
            err(f"framework id {fid!r}: not unique kebab-case")
        fids.add(fid)
        for k in ("title", "context"):
            if not fw.get(k):
                err(f"framework {fid}: missing {k}")
        for e in fw.get("entries", []):
            t = e.get("target", "")
            check_target(f"framework {fid}", t)
            if not e.get("why"):
                err(f"framework {fid}: {t} has no why")
            if set(e) - {"target", "why"}:
                err(f"framework {fid}: {t} has unknown keys")
            if t in allow_seen:
                err(f"allowlist target {t} listed twice")
            allow_seen.add(t)

    kb = KB(dangerous, frameworks)
    for t in sorted(allow_seen):
        m, n = KB.split(t)
        if t in seen:
            err(f"{t} is both dangerous and allowlisted")
            continue
        if n == "*":  # an allowlisted tree must not contain or sit inside a dangerous path
            hits = [d for d, e, _ in kb.dangerous if not e.get("walk")
                    and (KB.path_key(d) == m or KB.path_key(d).startswith(m + ".") or m.startswith(KB.path_key(d) + "."))]
        else:
            hits = [d for d, e, _ in kb.dangerous if KB.dangerous_matches(d, e, m, n)]
        if hits:
            err(f"allowlist target {t} is shadowed by dangerous {hits}")

    for d in dangerous.get("decoder", []):
        check_target("decoder", d.get("target", ""))
        if d.get("transform") not in TRANSFORMS:
            err(f"decoder {d.get('target')}: transform {d.get('transform')!r}")
        m, n = KB.split(d.get("target", ":"))
        if any(KB.dangerous_matches(t, e, m, n) for t, e, _ in kb.dangerous):
            err(f"decoder {d.get('target')} is also matched by a dangerous entry")
    for ld in dangerous.get("loader", []):
        t = ld.get("target", "")
        check_target("loader", t)
        if ld.get("input") not in LOADER_INPUTS:
            err(f"loader {t}: input {ld.get('input')!r}")
        if not isinstance(ld.get("arg"), int) or ld["arg"] < 0:
            err(f"loader {t}: arg must be a non-negative integer")
        m, n = KB.split(t)
        if not any(KB.dangerous_matches(dt, e, m, n) for dt, e, _ in kb.dangerous):
            err(f"loader {t} is not a dangerous target")
    return errors


# --------------------------------------------------------------------------- coverage (--globals)

class _Obj:
    def __init__(self, cls, args=None):
        self.cls, self.args, self.state = cls, args, None


_MARK = object()
_BYTES_OPS = {"BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"}
_LITERAL_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
                "BINUNICODE8", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT",
                "BINFLOAT"} | _BYTES_OPS


def _pop_mark(stack: list) -> list:
    items = []
    while stack and stack[-1] is not _MARK:
        items.append(stack.pop())
    if stack:
        stack.pop()
    items.reverse()
    return items


def _joblib_array_skip(data: bytes, end: int, state: dict, out, errors, label) -> int:
    """Position after the raw bytes joblib writes behind a NumpyArrayWrapper BUILD."""
    dtype = state.get("dtype")
    code = dtype.args[0] if isinstance(dtype, _Obj) and dtype.args else None
    if not isinstance(code, str):
        raise ValueError("joblib array with an unreadable dtype")
    if "O" in code:  # object array: a complete nested pickle follows
        return _parse_stream(data, end, out, errors, label + ">object-array", joblib=True)
    letters = code.lstrip("<>|=")
    size = int(letters[1:] or 1) * (4 if letters[0] == "U" else 1)
    st = dtype.state
    if isinstance(st, tuple) and len(st) > 5 and isinstance(st[5], int) and st[5] > 0:
        size = st[5]
    count = 1
    for dim in state.get("shape", ()):
        count *= dim
    pos = end
    pad = data[pos] if pos < len(data) else 0
    if pad <= 16 and data[pos + 1:pos + 1 + pad] == b"\xff" * pad:
        pos += 1 + pad
    return pos + count * size


def _parse_stream(data: bytes, pos: int, out: collections.Counter, errors: list, label: str,
                  joblib: bool = False) -> int:
    stack: list = []
    memo: dict = {}
    f = io.BytesIO(data)
    f.seek(pos)
    while True:
        restart = None
        for op, arg, p in pickletools.genops(f):
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, qual = arg.split(" ", 1)
                out[(module, qual)] += 1
                if name == "INST":
                    _pop_mark(stack)
                    stack.append(_Obj((module, qual)))
                else:
                    stack.append((module, qual))
            elif name == "STACK_GLOBAL":
                qual = stack.pop() if stack else None
                module = stack.pop() if stack else None
                if isinstance(module, str) and isinstance(qual, str):
                    out[(module, qual)] += 1
                    stack.append((module, qual))
                else:
                    out[("<unresolved>", "STACK_GLOBAL")] += 1
                    stack.append(None)
            elif name in _LITERAL_OPS:
                stack.append(arg.decode("latin1") if isinstance(arg, bytes) and name not in _BYTES_OPS else arg)
            elif name == "MARK":
                stack.append(_MARK)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1] if stack else None
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1] if stack else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg))
            elif name == "STOP":
                return f.tell()
            elif name in ("FRAME", "PROTO"):
                pass
            elif name == "TUPLE":
                stack.append(tuple(_pop_mark(stack)))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                k = int(name[-1])
                items = stack[-k:]
                del stack[-k:]
                stack.append(tuple(items))
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name in ("EMPTY_LIST", "EMPTY_SET"):
                stack.append([])
            elif name == "NONE":
                stack.append(None)
            elif name in ("NEWTRUE", "NEWFALSE"):
                stack.append(name == "NEWTRUE")
            elif name in ("DICT", "SETITEMS", "SETITEM"):
                items = _pop_mark(stack) if name != "SETITEM" else [stack.pop(-2), stack.pop()]
                target = {} if name == "DICT" else (stack[-1] if stack else None)
                if isinstance(target, dict):
                    for i in range(0, len(items) - 1, 2):
                        try:
                            target[items[i]] = items[i + 1]
                        except TypeError:
                            pass
                if name == "DICT":
                    stack.append(target)
            elif name in ("REDUCE", "NEWOBJ"):
                args = stack.pop()
                stack.append(_Obj(stack.pop(), args))
            elif name == "NEWOBJ_EX":
                stack.pop()
                args = stack.pop()
                stack.append(_Obj(stack.pop(), args))
            elif name == "OBJ":
                items = _pop_mark(stack)
                stack.append(_Obj(items[0] if items else None, tuple(items[1:])))
            elif name == "BUILD":
                state = stack.pop()
                obj = stack[-1] if stack else None
                if isinstance(obj, _Obj):
                    obj.state = state
                    if (joblib and isinstance(obj.cls, tuple) and obj.cls[1] == "NumpyArrayWrapper"
                            and isinstance(state, dict)):
                        restart = _joblib_array_skip(data, p + 1, state, out, errors, label)
                        break
            else:  # generic stack effect
                before = op.stack_before
                if pickletools.markobject in before:
                    _pop_mark(stack)
                    for _ in range(before.index(pickletools.markobject)):
                        if stack:
                            stack.pop()
                else:
                    for _ in before:
                        if stack:
                            stack.pop()
                stack.extend([None] * len(op.stack_after))
        if restart is None:
            raise ValueError("stream ended without STOP")
        f.seek(restart)


def _scan_bytes(data: bytes, label: str, out: collections.Counter, errors: list, depth: int = 0) -> None:
    if depth > 4:
        return
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                member = z.read(info)
                if re.search(r"(^|/)data/\d+$", info.filename):
                    continue  # torch tensor storage: raw bytes, not a pickle
                if (info.filename.endswith((".pkl", ".npy", ".pt", ".pth", ".bin"))
                        or (member[:1] == b"\x80" and member[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))
                        or member[:4] == b"PK\x03\x04"):
                    _scan_bytes(member, f"{label}!{info.filename}", out, errors, depth + 1)
        return
    if data[:6] == b"\x93NUMPY":
        if data[6] == 1:
            hlen, off = struct.unpack("<H", data[8:10])[0], 10
        else:
            hlen, off = struct.unpack("<I", data[8:12])[0], 12
        header = ast.literal_eval(data[off:off + hlen].decode("latin1"))
        if "O" in str(header.get("descr")):
            _scan_bytes(data[off + hlen:], label + "[object array]", out, errors, depth + 1)
        return
    for magic, decode in ((b"\x1f\x8b", gzip.decompress), (b"BZh", bz2.decompress), (b"\xfd7zXZ", lzma.decompress),
                          (b"\x5d\x00\x00", lambda b: lzma.decompress(b, format=lzma.FORMAT_ALONE)),
                          (b"\x78", zlib.decompress)):
        if data.startswith(magic):
            try:
                inner = decode(data)
            except Exception:  # not actually compressed: fall through to pickle parsing
                continue
            return _scan_bytes(inner, label, out, errors, depth + 1)
    joblib = label.split("!")[0].split("[")[0].endswith(".joblib")
    pos = count = 0
    while pos < len(data) and count < 8:
        if count and not (pos + 1 < len(data) and data[pos] == 0x80 and 2 <= data[pos + 1] <= 5):
            break  # only PROTO-headed streams follow the first one
        try:
            pos = _parse_stream(data, pos, out, errors, label, joblib)
        except Exception as e:  # report and keep what was collected
            errors.append(f"{label}@{pos}: {type(e).__name__}: {e}")
            break
        count += 1


def coverage(kb: KB, files: list[str]) -> int:
    unknown: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    dangerous: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for path in files:
        out: collections.Counter = collections.Counter()
        errors: list[str] = []
        _scan_bytes(Path(path).read_bytes(), path, out, errors)
        for e in errors:
            print(f"parse: {e}")
        for module, name in out:
            verdict, where = kb.classify(module, name)
            if verdict == "unknown":
                unknown[(module, name)].add(path)
            elif verdict == "dangerous":
                dangerous[(module, name, where)].add(path)
    for (module, name, cat), paths in sorted(dangerous.items()):
        print(f"dangerous  {module}:{name}  [{cat}]  {', '.join(sorted(paths))}")
    for (module, name), paths in sorted(unknown.items()):
        print(f"unknown    {module}:{name}  {', '.join(sorted(paths))}")
    print(f"{len(files)} files: {len(dangerous)} dangerous, {len(unknown)} unknown globals")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--globals", nargs="+", metavar="FILE", help="report unclassified globals in these files")
    args = ap.parse_args()
    with open(DANGEROUS, "rb") as fh:
        dangerous = tomllib.load(fh)
    with open(FRAMEWORKS, "rb") as fh:
        frameworks = tomllib.load(fh)
    errors = validate(dangerous, frameworks)
    for e in errors:
        print(f"error: {e}")
    n_dang = sum(len(c["entries"]) for c in dangerous["category"])
    n_allow = sum(len(f["entries"]) for f in frameworks["framework"])
    print(f"dangerous.toml {dangerous['version']}: {len(dangerous['aliases'])} aliases, {n_dang} entries "
          f"in {len(dangerous['category'])} categories, {len(dangerous.get('decoder', []))} decoders, "
          f"{len(dangerous.get('loader', []))} loaders")
    for c in dangerous["category"]:
        print(f"  {c['id']:<24} {c['severity']:<9} {len(c['entries'])}")
    print(f"frameworks.toml {frameworks['version']}: {n_allow} entries in {len(frameworks['framework'])} frameworks")
    for f in frameworks["framework"]:
        print(f"  {f['id']:<24} {len(f['entries'])}")
    if args.globals:
        coverage(KB(dangerous, frameworks), args.globals)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
