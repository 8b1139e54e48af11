"""Matplotlib figures for the lab, one function per plot kind, each writing one small PNG.

The Agg backend (no display, works on any server); every function takes plain lists, writes
`path` and closes its figure. Sizes are for a report column about 700 pixels wide. Left out:
interactive plots and styles beyond Matplotlib's defaults with a light grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

SIZE = (6.4, 3.8)  # inches; at DPI about 700 x 420 pixels
DPI = 110
Number = float | int | None  # None: not measured (a gap in a line, an empty cell)


def _values(values: Sequence[Number]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def line_plot(
    path: Path,
    x: Sequence[float],
    series: dict[str, Sequence[Number]],
    xlabel: str,
    ylabel: str,
    title: str,
    x_ticklabels: Sequence[str] | None = None,
    shade_from: float | None = None,
    shade_label: str = "",
    styles: dict[str, str] | None = None,
    log_y: bool = False,
    marks: dict[str, float] | None = None,
    bands: dict[str, tuple[Sequence[Number], Sequence[Number]]] | None = None,
) -> Path:
    """One line per series over the shared `x` (None values are gaps). `shade_from` greys the
    region x >= shade_from (e.g. lengths never seen in training); `styles` maps a series to a
    Matplotlib format string such as "o--"; `marks` draws a labelled dotted vertical line at
    each x given (e.g. the longest training source); `bands` maps a series to the (low, high)
    ends of an interval at each x, drawn as error bars in the line's colour."""
    crowded = len(series) > 4  # the legend goes beside the axes, where it hides no line
    fig, ax = plt.subplots(figsize=(SIZE[0] + 1.8, SIZE[1]) if crowded else SIZE)
    for label, ys in series.items():
        y = _values(ys)
        [line] = ax.plot(x, y, (styles or {}).get(label, "o-"), label=label, markersize=4)
        if bands and label in bands:
            low, high = (_values(v) for v in bands[label])
            ax.errorbar(
                x,
                y,
                yerr=[y - low, high - y],
                fmt="none",
                ecolor=line.get_color(),
                elinewidth=1,
                capsize=2,
                alpha=0.7,
            )
    if shade_from is not None:
        ax.axvspan(
            shade_from,
            max(x) + 0.5 * (x[-1] - x[-2] if len(x) > 1 else 1),
            alpha=0.12,
            color="grey",
            label=shade_label or None,
        )
    for label, at in (marks or {}).items():
        ax.axvline(at, color="grey", linestyle=":", linewidth=1.2, label=label)
    if x_ticklabels is not None:
        ax.set_xticks(list(x), list(x_ticklabels), fontsize=8)
    if log_y:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3)
    if crowded:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    else:
        ax.legend(fontsize=7)
    return _save(fig, path)


def bar_chart(
    path: Path,
    labels: Sequence[str],
    means: Sequence[Number],
    spreads: Sequence[Number],
    ylabel: str,
    title: str,
    points: Sequence[Sequence[float]] | None = None,
) -> Path:
    """Bars of `means` with error bars `spreads` (e.g. the standard deviation over seeds); when
    given, `points` draws each bar's individual measurements (one list per bar) on top."""
    fig, ax = plt.subplots(figsize=(max(3.2, 1.3 * len(labels) + 1.5), SIZE[1]))
    positions = np.arange(len(labels))
    ax.bar(
        positions,
        _values(means),
        yerr=_values(spreads),
        capsize=6,
        color="#8fb3d9",
        edgecolor="#34557a",
    )
    for k, values in enumerate(points or []):
        ax.plot([positions[k]] * len(values), values, "k.", markersize=6)
    ax.set_xticks(positions, list(labels), fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.title.set_fontsize(10)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def heatmap(
    path: Path,
    matrix: Sequence[Sequence[float]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    xlabel: str = "source",
    ylabel: str = "target",
) -> Path:
    """A matrix as a grey-scale image (rows: e.g. target words; columns: source words), the
    layout of Bahdanau et al. (2015, Fig. 3)."""
    values = np.asarray(matrix, dtype=float)
    n_rows, n_cols = values.shape
    size = (min(9.0, 1.6 + 0.28 * n_cols), min(9.0, 1.2 + 0.28 * n_rows))
    fig, ax = plt.subplots(figsize=size)
    ax.imshow(values, cmap="gray_r", vmin=0.0, vmax=max(1e-9, float(np.nanmax(values))))
    ax.set_xticks(range(n_cols), list(col_labels), rotation=90, fontsize=7)
    ax.set_yticks(range(n_rows), list(row_labels), fontsize=7)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.title.set_fontsize(9)
    return _save(fig, path)
