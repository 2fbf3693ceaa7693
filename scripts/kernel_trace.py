#!/usr/bin/env python3
"""Where a replayed decode step's GPU time goes, from a CUPTI kernel trace (src/tools/cuda_trace).

    SPOOL_KERNEL_TRACE=t.csv CUDA_INJECTION64_PATH=build/libspool_kernel_trace.so spool bench -m M --backend cuda ...
    python3 scripts/kernel_trace.py t.csv[.gz] [--layer-kernels N] [--timeline]
    python3 scripts/kernel_trace.py new.csv --compare base.csv      (an A/B: where the time moved)

A decode step is one graph launch: its kernels share a CUPTI correlation id. Steps with the most common kernel count
are the decode steps; the median of each quantity over them is printed. Kernels of a step run as a chain (programmatic
dependent launch lets a kernel start before its producer ends), so each kernel is charged with how far it moved the
chain's end: advance = end - (latest end of the kernels before it). Lead = start - previous kernel's end (negative:
its blocks were resident, and could issue loads, that long before the producer finished).
"""
import argparse
import csv
import gzip
import re
import shutil
import signal
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
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
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


class StepSummary:
    """Medians over the decode steps of one trace: the step's span and each kernel's advance, duration and lead."""

    def __init__(self, path):
        self.steps = decode_steps(load(path))
        self.n = len(self.steps[0])
        self.spans = [max(k["end"] for k in s) / 1000.0 - s[0]["start"] / 1000.0 for s in self.steps]
        tables = [per_kernel(s) for s in self.steps]
        self.ref = self.steps[len(self.steps) // 2]
        self.median = [{key: statistics.median(t[i][key] for t in tables) for key in ("advance", "dur", "lead")}
                       for i in range(self.n)]

    def headline(self):
        return (f"{len(self.steps)} decode steps of {self.n} kernels: median {statistics.median(self.spans):.1f} us "
                f"per step (first kernel's start to last end; min {min(self.spans):.1f}, max {max(self.spans):.1f})")

    def kinds(self):
        """(name, grid, block) -> [count, advance, duration, lead, registers], summed over one median step."""
        kinds = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0])
        for i, k in enumerate(self.ref):
            e = kinds[(k["name"], k["grid"], k["block"])]
            e[0] += 1
            e[1] += self.median[i]["advance"]
            e[2] += self.median[i]["dur"]
            e[3] += self.median[i]["lead"]
            e[4] = k["regs"]
        return kinds

    def show(self, lo, hi):
        print(f"{'#':>4} {'advance':>8} {'dur':>7} {'lead':>7}  grid x block  kernel")
        for i in range(lo, hi):
            k, m = self.ref[i], self.median[i]
            print(f"{i:4d} {m['advance']:8.2f} {m['dur']:7.2f} {m['lead']:7.2f}  {k['grid']} x {k['block']}  {k['name']}")


def print_kinds(summary):
    kinds = summary.kinds()
    total = sum(e[1] for e in kinds.values())
    print("\nby kernel (median step): count, advance us per step (share), mean advance, mean duration, "
          "mean lead, grid x block, registers")
    for (name, grid, block), (count, adv, dur, lead, regs) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"{count:4d} {adv:8.1f} ({100 * adv / total:4.1f}%) {adv / count:6.2f} {dur / count:6.2f} "
              f"{lead / count:6.2f}  {grid} x {block} r{regs}  {name}")


def print_comparison(base, new):
    """Advance per step of each kind of kernel in two traces (an A/B), largest change first."""
    a, b = base.kinds(), new.kinds()
    print(f"\nbase: {base.headline()}\nnew:  {new.headline()}")
    print("\nadvance us per step: base, new, change; count base / new; grid x block; kernel")
    rows = []
    for key in set(a) | set(b):
        ea, eb = a.get(key, [0, 0.0]), b.get(key, [0, 0.0])
        rows.append((eb[1] - ea[1], ea[1], eb[1], ea[0], eb[0], key))
    for delta, adv_a, adv_b, n_a, n_b, (name, grid, block) in sorted(rows, key=lambda r: -abs(r[0])):
        print(f"{adv_a:8.1f} {adv_b:8.1f} {delta:+8.1f}  {n_a:3d} / {n_b:3d}  {grid} x {block}  {name}")
    total_a = sum(e[1] for e in a.values())
    total_b = sum(e[1] for e in b.values())
    print(f"{total_a:8.1f} {total_b:8.1f} {total_b - total_a:+8.1f}  all kernels")


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--timeline", action="store_true", help="print every kernel of the median step")
    ap.add_argument("--layer-kernels", type=int, default=0,
                    help="kernels per layer: also print one layer from the middle of the step")
    ap.add_argument("--compare", metavar="BASE", help="a trace of the base binary: print where the time moved")
    args = ap.parse_args()
    summary = StepSummary(args.trace)
    if args.compare:
        print_comparison(StepSummary(args.compare), summary)
        return
    print(summary.headline())
    print_kinds(summary)
    n = summary.n
    if args.layer_kernels:
        mid = n // 2 - (n // 2) % args.layer_kernels + 1
        print(f"\none layer (kernels {mid} .. {mid + args.layer_kernels - 1}, medians over steps, us):")
        summary.show(mid, min(n, mid + args.layer_kernels))
    if args.timeline:
        print("\nthe whole step (medians over steps, us):")
        summary.show(0, n)


if __name__ == "__main__":
    main()
