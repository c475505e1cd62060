#!/usr/bin/env bash
# Hostile inputs, each answered with a finding in bounded time and memory: prints the verdict,
# the rules that answered, wall time and peak RSS for every one. Large inputs (a 100,001-member
# zip, a 4 GB sparse file, an endless-looking stream) are generated under $ADV_DIR (default
# /tmp/picklegate-adversarial); small ones are committed fixtures. Usage: bash scripts/adversarial.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${ADV_DIR:-/tmp/picklegate-adversarial}
mkdir -p "$dir"
cargo build --release --quiet
bin="$root/target/release/picklegate"

python3 - "$dir" <<'PY'
import os, sys, zipfile, io, struct
d = sys.argv[1]
def put(name, data):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
# 100,001 members (one over the default member limit), written without compression.
path = os.path.join(d, "members_100001.zip")
if not os.path.exists(path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(100_001):
            z.writestr(zipfile.ZipInfo(f"m/{i}.txt", date_time=(1980, 1, 1, 0, 0, 0)), b"x")
# An endless-looking stream: 20 million NONE/POP opcodes and no STOP.
put("endless.pkl", b"\x80\x02" + b"N0" * 10_000_000)
# Memo growth: 5 million PUTs of the same value.
put("memo_growth.pkl", b"\x80\x02N" + b"".join(b"r" + struct.pack("<I", i) for i in range(5_000_000)) + b".")
# Nested archives: a pickle in a zip in a tar in a gzip, eight levels deep.
import gzip, tarfile
inner = b"cos\nsystem\n(S'true'\ntR."
for level in range(8):
    if level % 2 == 0:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("inner.bin", inner)
        inner = buf.getvalue()
    else:
        inner = gzip.compress(inner, mtime=0)
put("nested_8_levels.bin", inner)
# Names that grow the cost of every call with them: a 2 MB attribute walk in one GLOBAL,
# memoized and called 100,000 times; a call of a call of a call, 500,000 deep (each result's
# __call__ one attribute further down); 100,000 nested getattr(…, 'path') lookups.
put("long_name_called_100k.pkl", b"\x80\x02cos\n" + b"path." * 400_000 + b"system\nq\x00"
    + b"h\x00)R0" * 100_000 + b"N.")
put("call_chain_500k.pkl", b"\x80\x02c__builtin__\nlen\n)R" + b")R" * 500_000 + b".")
put("getattr_chain_100k.pkl", b"\x80\x03" + b"cbuiltins\ngetattr\n" * 100_000 + b"cos\npath\n"
    + b"X\x04\x00\x00\x00path\x86R" * 100_000 + b".")
# One memoized 1 MB string decoded by b64decode 16,384 times.
put("decoder_rereads_16k.pkl", b"\x80\x04cbase64\nb64decode\nr\x01\x00\x00\x000X" + struct.pack("<I", 1 << 20)
    + b"!" * (1 << 20) + b"\x85r\x02\x00\x00\x000" + b"h\x01h\x02R0" * 16_384 + b"N.")
# 4,096 streams, each with a FRAME whose last opcode reads on into the next stream.
straddle = b"N0" * 125 + b"C\x0f"
put("frame_straddles_4096.pkl", (b"\x80\x04\x95" + struct.pack("<Q", 2) + b"C" + bytes([len(straddle)])
    + straddle + b"N.") * 4096)
# One call 5,000 times BUILT with a tuple shared 8 ways over 7 levels (2 million paths).
shared = b"Nq\x000" + b"".join(b"(" + bytes([0x68, level - 1]) * 8 + b"tq" + bytes([level]) + b"0" for level in range(1, 8))
put("shared_states_5000.pkl", b"\x80\x04cmytools\nf\n)R.\x80\x04N" + shared + b"h\x07b" * 5000 + b".")
# 30,000 storage declarations sharing one memoized 100 KB key.
key = b"k" * 100_000
put("storage_key_100k_x30000.pkl", b"\x80\x02]q\x00X\x07\x00\x00\x00storageq\x010ctorch\nFloatStorage\nq\x020X"
    + len(key).to_bytes(4, "little") + key + b"q\x030X\x03\x00\x00\x00cpuq\x040"
    + b"(h\x01h\x02h\x03h\x04K\x01tQa" * 30_000 + b".")
# A zip of 16,000 pickles, each naming its own unknown callable.
path = os.path.join(d, "members_16000.zip")
if not os.path.exists(path):
    with zipfile.ZipFile(path, "w") as z:
        for i in range(16_000):
            z.writestr(f"d/{i}.pkl", b"\x80\x04cmytools\nf%d\n." % i)
PY
# A 4 GB sparse file named like a pickle (nothing but zeros).
[ -f "$dir/sparse_4g.pkl" ] || truncate -s 4G "$dir/sparse_4g.pkl"

inputs=(
  "$root/fixtures/pickle/evasive/billion_laughs_dup_p2.pkl"
  "$root/fixtures/pickle/evasive/billion_laughs_memo_p2.pkl"
  "$root/fixtures/pickle/evasive/deep_nesting_lists_p2.pkl"
  "$root/fixtures/pickle/evasive/deep_nesting_marks_p0.pkl"
  "$root/fixtures/pickle/evasive/binstring_negative_length_p1.pkl"
  "$root/fixtures/pickle/evasive/long4_negative_length_p2.pkl"
  "$root/fixtures/pickle/evasive/frame_straddle_payload_p4.pkl"
  "$root/fixtures/pickle/evasive/frame_overrun_p4.pkl"
  "$root/fixtures/pickle/malicious/payload_then_garbage_p2.pkl"
  "$root/fixtures/containers/compressed/bomb.pkl.gz"
  "$root/fixtures/containers/compressed/zip_bomb.zip"
  "$dir/members_100001.zip"
  "$dir/nested_8_levels.bin"
  "$dir/endless.pkl"
  "$dir/memo_growth.pkl"
  "$dir/sparse_4g.pkl"
  "$dir/long_name_called_100k.pkl"
  "$dir/call_chain_500k.pkl"
  "$dir/getattr_chain_100k.pkl"
  "$dir/decoder_rereads_16k.pkl"
  "$dir/frame_straddles_4096.pkl"
  "$dir/shared_states_5000.pkl"
  "$dir/storage_key_100k_x30000.pkl"
  "$dir/members_16000.zip"
)
printf '| input | verdict | answered by | time | peak RSS |\n|---|---|---|---|---|\n'
for input in "${inputs[@]}"; do
  json=$(mktemp)
  start=$(date +%s%N)
  rss=$( (/usr/bin/time -f %M "$bin" scan --quiet --format json --output "$json" "$input" 2>&1 || true) | tail -1)
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  read -r verdict rules < <(python3 -c "
import json, sys
f = json.load(open(sys.argv[1]))['files'][0]
print(f['verdict'], ','.join(sorted({x['rule'] for x in f['findings']})) or '-')" "$json")
  printf '| %s | %s | %s | %s ms | %s MB |\n' "$(basename "$input")" "$verdict" "$rules" "$elapsed" "$((rss / 1024))"
  rm -f "$json"
done
