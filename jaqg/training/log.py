"""The training log: ``logs/metrics.csv`` (one row per logged event, flushed at once), its reader, its picture.

Columns: ``step`` (the 0-based index of the optimizer step the logged batch belongs to), ``epoch``, and the
logged values (train_loss, tokens_per_s, val_loss, and whatever an objective logs); a row holds only its own
values. A new column rewrites the file with the wider header. Pictures: ``loss_curve.png`` (train/val loss) and,
for a run that logs rewards (``--loss scst``, ``train-grpo``), ``reward_curves.png``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..core.io import atomic_write


class MetricsLog:
    """Appends rows to a CSV file (rank 0 only); ``keep_rows`` (a resumed run) keeps that many earlier rows."""

    def __init__(self, path: Path, keep_rows: int = 0):
        self.path = Path(path)
        self.rows: list[dict] = read_rows(self.path)[:keep_rows] if keep_rows else []
        self.fields: list[str] = ["epoch", "step"]
        for row in self.rows:
            self.fields += [k for k in row if k not in self.fields]
        self._rewrite()

    def log(self, step: int, epoch: int, **values: float) -> None:
        row = {"epoch": epoch, "step": step, **values}
        self.rows.append(row)
        new = [k for k in row if k not in self.fields]
        if new:
            self.fields = ["epoch", "step"] + sorted(f for f in self.fields + new if f not in ("epoch", "step"))
            self._rewrite()
            return
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(row)

    def _rewrite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path) as f:
            writer = csv.DictWriter(f, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(self.rows)


def read_rows(path: Path) -> list[dict]:
    """The complete rows of a log (a kill can cut the last one); [] when there is none."""
    if not Path(path).is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [r for r in csv.DictReader(f)
                if (r.get("step") or "").isdigit() and None not in r and None not in r.values()]


def read_log(metrics_csv: Path) -> dict[str, list[tuple[int, float]]]:
    """{column: [(step, value), ...]} for every numeric column of the CSV log."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in read_rows(metrics_csv):
        for key, value in row.items():
            if key not in ("step", "epoch") and value not in ("", None):
                series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def plot_loss_curve(metrics_csv: Path, png: Path) -> Path | None:
    if not Path(metrics_csv).is_file():
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    series = read_log(metrics_csv)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in ("train_loss", "val_loss"):
        if series.get(name):
            steps, values = zip(*series[name])
            ax.plot(steps, values, label=name, marker="o" if name == "val_loss" else None)
    if series.get("val_loss"):
        step, best = min(series["val_loss"], key=lambda sv: sv[1])
        ax.plot([step], [best], "k*", markersize=14, label="best (exported)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_write(png, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return png


REWARD_SHARES = ("degenerate", "val_degenerate", "kl")  # drawn on the lower panel: not rewards


def plot_reward_curves(metrics_csv: Path, png: Path) -> Path | None:
    """``reward_curves.png`` of a reinforcement run: the upper panel draws the total reward of the samples
    (``reward``), of the greedy baseline (``reward_greedy``), each weighted component's raw value (``reward_NAME``)
    and the validation values (``val_reward``, ``val_reward_NAME``: dashed, marked, in their training value's
    colour); the lower, the degenerate share and KL. None (and nothing
    written) when the log has no ``reward`` column."""
    series = read_log(metrics_csv) if Path(metrics_csv).is_file() else {}
    if not series.get("reward"):
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    bases = sorted({n.removeprefix("val_") for n in series})
    colour = {b: plt.get_cmap("tab10")(i % 10) for i, b in enumerate(bases)}  # a value and its val_ share one
    for name in sorted(series, key=lambda n: (n.removeprefix("val_") != "reward", n)):
        base, val = name.removeprefix("val_"), name.startswith("val_")
        style = dict(label=name, color=colour[base], marker="o" if val else None, linestyle="--" if val else "-")
        if base.startswith("reward") and series[name]:
            steps, values = zip(*series[name])
            top.plot(steps, values, linewidth=2.5 if base == "reward" else 1.2, **style)
        elif name in REWARD_SHARES and series[name]:
            steps, values = zip(*series[name])
            bottom.plot(steps, values, **style)
    top.set_ylabel("reward (total: weighted sum; components: raw, 0-1)")
    bottom.set_ylabel("share / KL")
    bottom.set_xlabel("step")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_write(png, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return png
