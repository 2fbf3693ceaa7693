#!/usr/bin/env python3
"""Figures for a `spool sweep` output directory: reads DIR/runs.csv and writes five PNGs into DIR.

    python3 scripts/plot_sweep.py DIR

fig_latency_by_model.png      latency distribution per model/backend, one box per output length
fig_throughput_by_model.png   tok/s distribution per model/backend, one box per output length
fig_latency_vs_length.png     latency against max tokens: every run, and mean +- sd per model/backend
fig_temperature_effect.png    latency and tok/s per temperature, one box per output length
fig_latency_hist.png          histogram of latencies per model/backend, stacked by output length

Needs matplotlib and numpy (Debian: apt-get install python3-matplotlib).
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIGURES = [
    "fig_latency_by_model.png",
    "fig_throughput_by_model.png",
    "fig_latency_vs_length.png",
    "fig_temperature_effect.png",
    "fig_latency_hist.png",
]


MARKERS = ["o", "^", "s", "D", "v", "P", "X", "*", "<", ">"]  # one per prompt (cycled past ten)


def read_runs(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"plot_sweep: {path} has no runs")
    for r in rows:
        for k in ("latency_s", "ttft_s", "tok_s", "decode_tok_s", "temperature"):
            r[k] = float(r[k])
        for k in ("max_tokens", "tokens_out", "run", "prompt_tokens"):
            r[k] = int(r[k])
        r["label"] = f'{r["model"]} / {r["backend"]}'
    return rows


def ordered(values):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def colors(n):
    cmap = plt.get_cmap("viridis")
    return [cmap(0.15 + 0.7 * i / max(n - 1, 1)) for i in range(n)]


def grouped_boxes(ax, rows, group_key, groups, value_key, lengths):
    """One cluster per group, one box per output length inside it, every run drawn as a dot (marker: prompt)."""
    prompts = ordered(r["prompt_id"] for r in rows)
    width = 0.8 / len(lengths)
    cols = colors(len(lengths))
    rng = np.random.default_rng(0)  # jitter only; fixed so reruns give the same picture
    for j, length in enumerate(lengths):
        data, pos = [], []
        for i, g in enumerate(groups):
            vals = [r[value_key] for r in rows if r[group_key] == g and r["max_tokens"] == length]
            if vals:
                data.append(vals)
                pos.append(i + (j - (len(lengths) - 1) / 2) * width)
        if not data:
            continue
        bp = ax.boxplot(data, positions=pos, widths=width * 0.85, patch_artist=True, showfliers=False,
                        medianprops=dict(color="black", linewidth=1.2))
        for patch in bp["boxes"]:
            patch.set_facecolor(cols[j])
            patch.set_alpha(0.55)
        for p, g in zip(pos, [g for g in groups if any(r[group_key] == g and r["max_tokens"] == length for r in rows)]):
            sel = [r for r in rows if r[group_key] == g and r["max_tokens"] == length]
            for i, prompt in enumerate(prompts):
                marker = MARKERS[i % len(MARKERS)]
                vals = [r[value_key] for r in sel if r["prompt_id"] == prompt]
                x = p + rng.uniform(-width * 0.25, width * 0.25, len(vals))
                ax.scatter(x, vals, s=12, marker=marker, color=cols[j], edgecolor="black", linewidth=0.3, zorder=3)
        ax.plot([], [], "s", color=cols[j], alpha=0.7, label=f"max {length} tokens")
    if len(prompts) <= len(MARKERS):  # a legend entry per prompt only while markers are unique
        for prompt, marker in zip(prompts, MARKERS):
            ax.scatter([], [], marker=marker, color="white", edgecolor="black", label=f"prompt {prompt}")
    ax.set_xticks(range(len(groups)))
    ax.grid(axis="y", alpha=0.3)


def value_axis(ax, values, label):
    """A linear axis from 0, or a log axis when the values span more than 20x (a linear one hides the small)."""
    if min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")
        ax.set_ylabel(f"{label}, log scale")
    else:
        ax.set_ylim(bottom=0)
        ax.set_ylabel(label)


def finish(fig, out_dir, name, suptitle_lines=0):
    # Keep room at the top for a figure title of `suptitle_lines` lines (about 0.25 inch each).
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 * suptitle_lines / fig.get_figheight()))
    fig.savefig(os.path.join(out_dir, name), dpi=120)
    plt.close(fig)
    print(f"plot_sweep: wrote {os.path.join(out_dir, name)}", file=sys.stderr)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    rows = read_runs(os.path.join(out_dir, "runs.csv"))
    labels = ordered(r["label"] for r in rows)
    lengths = sorted(set(r["max_tokens"] for r in rows))
    temps = sorted(set(r["temperature"] for r in rows))
    n = len(rows)
    subtitle = f"{n} runs; box: quartiles and median; whiskers: 1.5 IQR; markers: each run, by prompt"

    # 1, 2: distributions by model/backend.
    for name, key, ylabel, title in [
        (FIGURES[0], "latency_s", "latency (s): prefill + all generated tokens", "Latency by model"),
        (FIGURES[1], "tok_s", "throughput (tok/s): generated tokens / latency", "Throughput by model"),
    ]:
        fig, ax = plt.subplots(figsize=(max(8.5, 2.2 * len(labels) + 5), 4.8))
        grouped_boxes(ax, rows, "label", labels, key, lengths)
        ax.set_xticklabels(labels)
        ax.set_xlabel("model / backend")
        value_axis(ax, [r[key] for r in rows], ylabel)
        ax.set_title(f"{title}\n{subtitle}", fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        finish(fig, out_dir, name)

    # 3: latency against output length: one colour per model/backend, one line style per temperature.
    fig, ax = plt.subplots(figsize=(9.5, 4.8))
    palette = plt.get_cmap("tab10")
    styles = ["-", "--", ":", "-."]
    rng = np.random.default_rng(1)
    span = max(lengths) - min(lengths) if len(lengths) > 1 else max(lengths)
    for li, label in enumerate(labels):
        for ti, t in enumerate(temps):
            sel = [r for r in rows if r["label"] == label and r["temperature"] == t]
            if not sel:
                continue
            color = palette(li % 10)
            xs = np.array([r["max_tokens"] for r in sel], dtype=float)
            ys = np.array([r["latency_s"] for r in sel])
            ax.scatter(xs + rng.uniform(-0.015, 0.015, len(xs)) * span, ys, s=10, color=color, alpha=0.5)
            at = [[r["latency_s"] for r in sel if r["max_tokens"] == m] for m in lengths]
            means = [np.mean(v) if v else np.nan for v in at]
            sds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in at]
            ax.errorbar(lengths, means, yerr=sds, color=color, linestyle=styles[ti % len(styles)], marker="o",
                        capsize=3, label=f"{label}, T={t:g}")
    value_axis(ax, [r["latency_s"] for r in rows], "latency (s)")
    ax.set_xticks(lengths)
    ax.set_xlabel("max tokens (output length asked for)")
    ax.set_title(f"Latency against output length\n{n} runs; dots: every run; lines: mean ± sd", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    finish(fig, out_dir, FIGURES[2])

    # 4: temperature effect: one row of panels per model/backend (pooling them would mix unlike speeds).
    fig, axes = plt.subplots(len(labels), 2, figsize=(max(12, 3 * len(temps) + 8), 1.0 + 3.9 * len(labels)),
                             squeeze=False)
    for r in rows:
        r["temp_label"] = f'{r["temperature"]:g}'
    temp_labels = [f"{t:g}" for t in temps]
    for row_axes, label in zip(axes, labels):
        sel = [r for r in rows if r["label"] == label]
        for ax, key, ylabel in [(row_axes[0], "latency_s", "latency (s)"), (row_axes[1], "tok_s", "throughput (tok/s)")]:
            grouped_boxes(ax, sel, "temp_label", temp_labels, key, lengths)
            ax.set_xticklabels([f"T = {t}" + (" (greedy)" if float(t) == 0 else "") for t in temp_labels])
            ax.set_xlabel("sampling temperature")
            value_axis(ax, [r[key] for r in sel], ylabel)
            ax.set_title(label, fontsize=9)
        row_axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"Temperature effect\n{subtitle}", fontsize=10)
    finish(fig, out_dir, FIGURES[3], suptitle_lines=2)

    # 5: histogram of latencies: one panel per model/backend, stacked by output length.
    lat = np.array([r["latency_s"] for r in rows])
    log_x = lat.min() > 0 and lat.max() / lat.min() > 20
    n_bins = 40 if log_x else min(40, max(10, n // (3 * len(labels))))  # log: spread over decades, need more
    bins = (np.geomspace(lat.min(), lat.max(), n_bins + 1) if log_x
            else np.histogram_bin_edges(lat, bins=n_bins))
    fig, axes = plt.subplots(len(labels), 1, figsize=(8.5, 2.2 + 2.3 * len(labels)), sharex=True, squeeze=False)
    cols = colors(len(lengths))
    for ax, label in zip(axes[:, 0], labels):
        groups = [[r["latency_s"] for r in rows if r["max_tokens"] == m and r["label"] == label] for m in lengths]
        ax.hist(groups, bins=bins, stacked=True, color=cols, alpha=0.8, edgecolor="black", linewidth=0.4,
                label=[f"max {m} tokens (n={len(g)})" for m, g in zip(lengths, groups)])
        ax.set_ylabel("runs")
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if log_x:
            ax.set_xscale("log")
    axes[-1, 0].set_xlabel("latency (s" + (", log scale)" if log_x else ")"))
    fig.suptitle(f"Latency histogram, stacked by output length ({n} runs)", fontsize=10)
    finish(fig, out_dir, FIGURES[4], suptitle_lines=1)


if __name__ == "__main__":
    main()
