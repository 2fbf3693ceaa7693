#!/usr/bin/env python3
"""Tests of scripts/kernel_trace.py on a synthetic CUPTI trace (run by ctest; no GPU needed)."""
import csv
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "kernel_trace.py")
spec = importlib.util.spec_from_file_location("kernel_trace", SCRIPT)
kernel_trace = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernel_trace)

FIELDS = ["start_ns", "end_ns", "correlation", "graph_id", "stream", "grid_x", "grid_y", "grid_z", "block_x",
          "block_y", "block_z", "registers", "shared_bytes", "name"]

# One decode step as (start, end) in ns from the step's start: a chain where the second kernel starts 0.5 us before
# the first ends (lead -0.5), the third 0.5 us after the second (lead +0.5), and the fourth inside the third (its end
# moves nothing: advance 0).
STEP = [("_Z6k_normv", 0, 2000), ("_Z8k_matvecv", 1500, 3000), ("_Z9k_combinev", 3500, 4000),
        ("_Z7k_innerv", 3600, 3900)]


def write_trace(path, n_steps, extra_graph_kernels=0, step=STEP):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELDS)
        t = 1_000_000
        # Prefill kernels outside any graph, and a graph launch of another size (a capture's first run, say).
        w.writerow([t, t + 9000, 1, 0, 7, 64, 1, 1, 256, 1, 1, 40, 0, "_Z7prefillv"])
        t += 20_000
        for i in range(extra_graph_kernels):
            w.writerow([t + 100 * i, t + 100 * i + 50, 2, 3, 7, 1, 1, 1, 32, 1, 1, 16, 0, "_Z5otherv"])
        t += 20_000
        for s in range(n_steps):
            # Slower first steps (cold caches): the script leaves out the first two when it has more than four.
            stretch = 3 if s < 2 else 1
            for name, a, b in step:
                w.writerow([t + stretch * a, t + stretch * b, 100 + s, 5, 7, 132, 1, 1, 128, 1, 1, 32, 0, name])
            t += 50_000


class KernelTraceTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "trace.csv")

    def tearDown(self):
        self.dir.cleanup()

    def test_steps_are_the_graph_launches_of_the_common_size(self):
        write_trace(self.path, n_steps=6, extra_graph_kernels=3)
        steps = kernel_trace.decode_steps(kernel_trace.load(self.path))
        self.assertEqual(len(steps), 4)  # six steps of four kernels, the first two left out
        self.assertTrue(all(len(s) == 4 for s in steps))

    def test_advance_and_lead_follow_the_chain(self):
        write_trace(self.path, n_steps=6)
        step = kernel_trace.decode_steps(kernel_trace.load(self.path))[0]
        rows = kernel_trace.per_kernel(step)
        self.assertEqual([r["advance"] for r in rows], [2.0, 1.0, 1.0, 0.0])
        self.assertEqual([r["lead"] for r in rows], [0.0, -0.5, 0.5, -0.4])
        self.assertEqual([r["dur"] for r in rows], [2.0, 1.5, 0.5, 0.3])

    def test_report_prints_the_median_step(self):
        write_trace(self.path, n_steps=6)
        out = subprocess.run([sys.executable, SCRIPT, self.path, "--layer-kernels", "2"], capture_output=True,
                             text=True, check=True).stdout
        self.assertIn("4 decode steps of 4 kernels: median 4.0 us per step", out)
        self.assertIn("one layer", out)

    def test_compare_shows_where_the_time_moved(self):
        base = os.path.join(self.dir.name, "base.csv")
        write_trace(base, n_steps=6)
        # The matvec ends 0.5 us later and everything after it moves with it.
        slower = [("_Z6k_normv", 0, 2000), ("_Z8k_matvecv", 1500, 3500), ("_Z9k_combinev", 4000, 4500),
                  ("_Z7k_innerv", 4100, 4400)]
        write_trace(self.path, n_steps=6, step=slower)
        out = subprocess.run([sys.executable, SCRIPT, self.path, "--compare", base], capture_output=True, text=True,
                             check=True).stdout
        lines = out.splitlines()
        self.assertIn("median 4.0 us per step", lines[1])  # base
        self.assertIn("median 4.5 us per step", lines[2])  # new
        first = next(l for l in lines if "k_" in l)  # the largest change comes first
        self.assertIn("k_matvec", first)
        self.assertEqual(first.split()[:3], ["1.0", "1.5", "+0.5"])
        self.assertTrue(lines[-1].endswith("all kernels"))
        self.assertEqual(lines[-1].split()[:3], ["4.0", "4.5", "+0.5"])

    def test_a_trace_without_graphs_is_an_error(self):
        with open(self.path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(FIELDS)
            w.writerow([0, 10, 1, 0, 7, 1, 1, 1, 32, 1, 1, 16, 0, "_Z7prefillv"])
        result = subprocess.run([sys.executable, SCRIPT, self.path], capture_output=True, text=True)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("no graph launches", result.stderr)


if __name__ == "__main__":
    unittest.main()
