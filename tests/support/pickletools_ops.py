#!/usr/bin/env python3
"""Print the opcodes that pickletools.genops sees in a file, as JSON lines.

Reference side of the Rust differential tests. Standard library only, and it
never unpickles anything: pickletools.genops only parses the byte stream.

Usage: python3 tests/support/pickletools_ops.py FILE [FILE...]

Output, one compact JSON object per line, in file order:

  {"op": NAME, "pos": OFFSET, "arg": ARG}
      one per opcode genops yields; NAME is the pickletools name (e.g.
      "SHORT_BINUNICODE"), OFFSET the byte offset of the opcode.
  {"stream_end": OFFSET}
      after each STOP; OFFSET is just past the STOP byte. If bytes remain,
      genops starts again there, so concatenated pickles (or junk after a
      STOP) are all reported.
  {"error": MESSAGE}
      if genops raises; always the last line. MESSAGE is str(exception).

ARG is rendered as follows:

  null               opcode without argument
  true / false       INT, GET or PUT written as "01" / "00" (pickletools
                     decodes these two spellings as booleans)
  integer            ints with |n| < 2**53
  "decimal string"   ints with |n| >= 2**53
  "repr string"      floats, as Python repr: "1.5", "inf", "nan"
  "string"           str (GLOBAL and INST give "module name", space separated)
  {"str_hex": HEX}   str that is not valid Unicode (lone surrogates): HEX is
                     its UTF-8 encoding with surrogatepass
  {"hex": HEX}       bytes and bytearray arguments

The exit status is 0 whenever the file could be read, error line or not.
"""

import io
import json
import pickletools
import sys

JSON_SAFE_INT = 2**53


def render(arg):
    """Turn a pickletools argument into a deterministic JSON value."""
    if arg is None or isinstance(arg, bool):
        return arg
    if isinstance(arg, int):
        return arg if abs(arg) < JSON_SAFE_INT else str(arg)
    if isinstance(arg, float):
        return repr(arg)
    if isinstance(arg, str):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return {"str_hex": arg.encode("utf-8", "surrogatepass").hex()}
        return arg
    if isinstance(arg, (bytes, bytearray)):
        return {"hex": bytes(arg).hex()}
    raise TypeError(f"unexpected pickletools argument type {type(arg).__name__}")


def records(data):
    """Yield the output records for `data`, stream after stream."""
    stream = io.BytesIO(data)
    while True:
        ops = pickletools.genops(stream)
        while True:
            try:
                item = next(ops, None)
            except Exception as exc:  # genops reports bad input as exceptions
                yield {"error": str(exc)}
                return
            if item is None:
                break
            opcode, arg, pos = item
            yield {"op": opcode.name, "pos": pos, "arg": render(arg)}
        end = stream.tell()
        yield {"stream_end": end}
        if end >= len(data):
            return


def main(argv):
    if len(argv) < 2:
        print(f"usage: {argv[0]} FILE [FILE...]", file=sys.stderr)
        return 2
    out = sys.stdout
    for path in argv[1:]:
        if len(argv) > 2:
            # Several files: each one's records follow a {"file": PATH} line.
            out.write(json.dumps({"file": path}) + "\n")
        with open(path, "rb") as f:
            data = f.read()
        for record in records(data):
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
