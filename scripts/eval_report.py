#!/usr/bin/env python3
"""Turn the peer harness's result folders into docs/evaluation.md.

Usage: python3 scripts/eval_report.py OUT.md NAME=RESULT_DIR [NAME=RESULT_DIR ...]

Each RESULT_DIR is what ../shared/eval/run_peers.py wrote (summary.json, results.csv). The
corpus manifest named in summary.json gives each file's technique, so misses can be broken down
by technique family. Standard library only; reads reports, never model files.
"""
import collections
import csv
import json
import os
import sys

PEERS = ["picklescan", "modelscan", "fickling", "fickling-api", "modelaudit", "modelaudit-picklescan", "picklegate"]


def technique(meta):
    value = meta.get("technique") or meta.get("family") or "other"
    return value.split("/")[0] if isinstance(value, str) else "other"


def load(result_dir):
    summary = json.load(open(os.path.join(result_dir, "summary.json")))
    rows = list(csv.DictReader(open(os.path.join(result_dir, "results.csv"))))
    manifest_path = summary["meta"]["manifest"]
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    return summary, rows, manifest


def pct(n, d):
    return f"{n}/{d} ({100 * n / d:.0f}%)" if d else "n/a"


def corpus_section(name, summary, rows, manifest):
    meta = summary["meta"]
    out = [f"### {name}", "",
           f"{meta['n_files']} files ({meta['n_malicious']} malicious, {meta['n_benign']} benign), run {meta['date_utc']} on {meta['host']}.", "",
           "| tool | version | detected (TPR) | false positives (FPR) | errors mal/benign | per-file total s | median s | whole-folder run s |",
           "|---|---|---|---|---|---|---|---|"]
    for peer in PEERS:
        s = summary["peers"].get(peer)
        if not s:
            continue
        version = meta["versions"].get(peer.removesuffix("-api"), "")
        folder = (s.get("dir_run") or {}).get("seconds") or "—"
        out.append(f"| {peer} | {version} | {pct(s['tp'], meta['n_malicious'])} | {pct(s['fp'], meta['n_benign'])} | "
                   f"{s['err_malicious']}/{s['err_benign']} | {s['per_file_total_s']:.2f} | {s['per_file_median_s']:.3f} | {folder} |")
    out.append("")
    by_file = collections.defaultdict(dict)
    for row in rows:
        by_file[row["file"]][row["peer"]] = row["verdict"]
    if meta["n_malicious"]:
        families = collections.defaultdict(lambda: collections.Counter())
        totals = collections.Counter()
        for path, verdicts in by_file.items():
            info = manifest.get(path, {})
            if info.get("label") != "malicious":
                continue
            family = technique(info)
            totals[family] += 1
            for peer in PEERS:
                if verdicts.get(peer) != "flagged":
                    families[family][peer] += 1
        out += ["Malicious files missed (not flagged or errored), by technique family:", "",
                "| technique | files | " + " | ".join(PEERS) + " |",
                "|---|---|" + "---|" * len(PEERS)]
        for family in sorted(totals):
            out.append(f"| {family} | {totals[family]} | " + " | ".join(str(families[family][p]) for p in PEERS) + " |")
        out.append("")
    misses = [(p, v.get("picklegate")) for p, v in sorted(by_file.items())
              if manifest.get(p, {}).get("label") == "malicious" and v.get("picklegate") != "flagged"]
    false_pos = [(p, manifest.get(p, {}).get("expect", "")) for p, v in sorted(by_file.items())
                 if manifest.get(p, {}).get("label") == "benign" and v.get("picklegate") == "flagged"]
    if misses:
        out += ["picklegate misses: " + ", ".join(f"`{p}` ({v})" for p, v in misses), ""]
    if false_pos:
        out += ["picklegate flags on benign files: " + ", ".join(f"`{p}`" + (f" (expected: {e})" if e else "") for p, e in false_pos), ""]
    out += severity_section(summary, manifest)
    return out


SEVERITIES = ["critical", "high", "medium", "low", "info", "none"]


def severity_section(summary, manifest):
    """picklegate's highest active severity per labelled file, from the whole-corpus JSON scan
    that scripts/evaluate.sh saves beside the harness results (`picklegate-scan.json`)."""
    scan_path = os.path.join(summary["meta"].get("result_dir", ""), "picklegate-scan.json")
    if not os.path.exists(scan_path):
        return []
    report = json.load(open(scan_path))
    root = os.path.dirname(summary["meta"]["manifest"])
    worst = {}
    for f in report["files"]:
        rel = os.path.relpath(f["path"], root)
        severities = [x["severity"] for x in f["findings"] if not x.get("suppression")]
        worst[rel] = min(severities, key=SEVERITIES.index) if severities else "none"
    counts = collections.defaultdict(collections.Counter)
    for path, info in manifest.items():
        label = info.get("label")
        if label in ("malicious", "benign") and path in worst:
            counts[label][worst[path]] += 1
    out = ["picklegate's highest severity per file (one whole-corpus scan, `--fail-on none`):", "",
           "| label | files | " + " | ".join(SEVERITIES) + " |", "|---|---|" + "---|" * len(SEVERITIES)]
    for label in ("malicious", "benign"):
        if counts[label]:
            total = sum(counts[label].values())
            out.append(f"| {label} | {total} | " + " | ".join(str(counts[label][s]) for s in SEVERITIES) + " |")
    return out + [""]


def main():
    out_path, pairs = sys.argv[1], sys.argv[2:]
    sections = []
    versions = {}
    date = ""
    for pair in pairs:
        name, result_dir = pair.split("=", 1)
        summary, rows, manifest = load(result_dir)
        summary["meta"]["result_dir"] = result_dir
        versions.update(summary["meta"]["versions"])
        date = summary["meta"]["date_utc"]
        sections += corpus_section(name, summary, rows, manifest)
    lines = ["# Evaluation: picklegate beside the peers", "",
             "Generated by `scripts/evaluate.sh` with the harness in `../shared/eval` (each tool run once per file, "
             "as a CI gate would run it; a file counts as flagged when the tool would fail the gate: picklegate's JSON "
             "verdict `malicious` or `suspicious`). Do not edit by hand; run the script again.", "",
             f"Last run: {date}. Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".", ""]
    lines += sections
    with open(out_path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


if __name__ == "__main__":
    main()
