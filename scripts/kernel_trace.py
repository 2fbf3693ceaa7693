#!/usr/bin/env python3
"""Where a replayed decode step's GPU time goes, from a CUPTI kernel trace (src/tools/cuda_trace).

    SPOOL_KERNEL_TRACE=t.csv CUDA_INJECTION64_PATH=build/libspool_kernel_trace.so spool bench -m M --backend cuda ...
    python3 scripts/kernel_trace.py t.csv [--layer-kernels N] [--timeline]

A decode step is one graph launch: its kernels share a CUPTI correlation id. Steps with the most common kernel count
are the decode steps; the median of each quantity over them is printed. Kernels of a step run as a chain (programmatic
dependent launch lets a kernel start before its producer ends), so each kernel is charged with how far it moved the
chain's end: advance = end - (latest end of the kernels before it). Lead = start - previous kernel's end (negative:
its blocks were resident, and could issue loads, that long before the producer finished).
"""
import argparse
import csv
import re
import shutil
import statistics
import subprocess
import sys
from collections import Counter, defaultdict


def demangle(names):
    if not shutil.which("c++filt"):
        return {n: n for n in names}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}


def short_name(full):
    s = full.replace("(anonymous namespace)::", "")
    s = re.sub(r"spool::cuda::(\w+::)*", "", s)
    s = re.sub(r"spool::", "", s)
    s = re.sub(r"^void ", "", s)
    s = re.sub(r"\((?!.*<).*\)$", "", s)  # the parameter list
    s = s.replace("(GgmlType)", "").replace("GgmlType::", "")
    return s[:80]


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = demangle(sorted({r["name"] for r in rows}))
    kernels = []
    for r in rows:
        kernels.append({
            "start": int(r["start_ns"]), "end": int(r["end_ns"]), "corr": int(r["correlation"]),
            "graph": int(r["graph_id"]), "name": short_name(names[r["name"]]),
            "grid": f'{r["grid_x"]}x{r["grid_y"]}x{r["grid_z"]}', "block": int(r["block_x"]) * int(r["block_y"]),
            "regs": int(r["registers"]),
        })
    return kernels


def decode_steps(kernels):
    by_corr = defaultdict(list)
    for k in kernels:
        if k["graph"] != 0:
            by_corr[k["corr"]].append(k)
    if not by_corr:
        sys.exit("no graph launches in the trace: run a decode with the CUDA backend (spool bench -n 16 or more)")
    count = Counter(len(v) for v in by_corr.values()).most_common(1)[0][0]
    steps = [sorted(v, key=lambda k: k["start"]) for v in by_corr.values() if len(v) == count]
    steps.sort(key=lambda s: s[0]["start"])
    return steps[2:] if len(steps) > 4 else steps  # the first replays run on cold caches


def per_kernel(step):
    rows, latest = [], step[0]["start"]
    prev_end = None
    for k in step:
        rows.append({
            "advance": max(0, k["end"] - latest) / 1000.0,
            "lead": (k["start"] - prev_end) / 1000.0 if prev_end is not None else 0.0,
            "dur": (k["end"] - k["start"]) / 1000.0,
        })
        latest = max(latest, k["end"])
        prev_end = k["end"]
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--timeline", action="store_true", help="print every kernel of the median step")
    ap.add_argument("--layer-kernels", type=int, default=0,
                    help="kernels per layer: also print one layer from the middle of the step")
    args = ap.parse_args()
    steps = decode_steps(load(args.trace))
    n = len(steps[0])
    spans = [max(k["end"] for k in s) / 1000.0 - s[0]["start"] / 1000.0 for s in steps]
    table = [per_kernel(s) for s in steps]
    med = lambda key, i: statistics.median(t[i][key] for t in table)
    print(f"{len(steps)} decode steps of {n} kernels: median {statistics.median(spans):.1f} us per step "
          f"(first kernel's start to last end; min {min(spans):.1f}, max {max(spans):.1f})")

    kinds = defaultdict(lambda: [0, 0.0, 0.0, 0.0, ""])
    ref = steps[len(steps) // 2]
    for i, k in enumerate(ref):
        key = (k["name"], k["grid"], k["block"])
        e = kinds[key]
        e[0] += 1
        e[1] += med("advance", i)
        e[2] += med("dur", i)
        e[3] += med("lead", i)
        e[4] = k["regs"]
    total = sum(e[1] for e in kinds.values())
    print(f"\nby kernel (median step): count, advance us per step (share), mean advance, mean duration, "
          f"mean lead, grid x block, registers")
    for (name, grid, block), (count, adv, dur, lead, regs) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"{count:4d} {adv:8.1f} ({100 * adv / total:4.1f}%) {adv / count:6.2f} {dur / count:6.2f} "
              f"{lead / count:6.2f}  {grid} x {block} r{regs}  {name}")

    def show(lo, hi):
        print(f"{'#':>4} {'advance':>8} {'dur':>7} {'lead':>7}  grid x block  kernel")
        for i in range(lo, hi):
            k = ref[i]
            print(f"{i:4d} {med('advance', i):8.2f} {med('dur', i):7.2f} {med('lead', i):7.2f}  "
                  f"{k['grid']} x {k['block']}  {k['name']}")

    if args.layer_kernels:
        mid = n // 2 - (n // 2) % args.layer_kernels + 1
        print(f"\none layer (kernels {mid} .. {mid + args.layer_kernels - 1}, medians over steps, us):")
        show(mid, min(n, mid + args.layer_kernels))
    if args.timeline:
        print("\nthe whole step (medians over steps, us):")
        show(0, n)


if __name__ == "__main__":
    main()
