"""A run's report for sharing: report.json and its charts as SVG and PNG, in one zip.

The charts are drawn server-side with matplotlib's Agg canvas (through
`Figure`, never pyplot, so no global state is shared between requests). The
numbers are the same ones the dashboard draws, from `scaling.selectors`.
"""

import io
import json
import zipfile

from scaling import selectors
from training.models import Run

CHART_FORMATS = ("svg", "png")


def _figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.2), layout="constrained")
    return figure, figure.add_subplot()


def _label_points(axes, xs, ys, color) -> None:
    for x, y in zip(xs, ys):
        if y is not None:
            axes.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=(0, 7), ha="center",
                          fontsize=8, color=color)


def _f1_by_size_chart(data: dict):
    figure, axes = _figure()
    positions = list(range(len(data["names"])))
    for stage, color, shift in (("base", "#868e96", -0.08), ("tuned", "#2f6fde", 0.08)):
        series = data[stage]
        points = [(x + shift, f1, low, high) for x, f1, low, high in
                  zip(positions, series["f1"], series["ci_low"], series["ci_high"]) if f1 is not None]
        xs = [point[0] for point in points]
        ys = [point[1] for point in points]
        errors = [[f1 - low for _, f1, low, _ in points], [high - f1 for _, f1, _, high in points]]
        axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=4, color=color, label=f"{stage.capitalize()} {data['metric']}")
        _label_points(axes, xs, ys, color)
    axes.set_xticks(positions, [f"{name}\n{size}" for name, size in zip(data["names"], data["size_labels"])])
    axes.set(ylim=(0, 1.05), ylabel=data["metric"], xlabel="Rung",
             title=f"{data['metric']} by model size ({data['confidence']:.0%} bootstrap intervals)")
    axes.legend(loc="lower right")
    return figure


def _power_chart(data: dict):
    figure, axes = _figure()
    axes.plot([p["x"] for p in data["curve"]], [p["y"] for p in data["curve"]], "--", color="#d9480f",
              label="Fitted power law")
    xs, ys = [p["x"] for p in data["observed"]], [p["y"] for p in data["observed"]]
    axes.plot(xs, ys, "o", color="#2f6fde", label=f"Observed tuned {data['metric']}")
    _label_points(axes, xs, ys, "#2f6fde")
    axes.plot([data["next"]["x"]], [data["next"]["y"]], "^", markersize=9, color="#2b8a3e",
              label=f"Next size {data['next']['label']} (extrapolated)")
    _label_points(axes, [data["next"]["x"]], [data["next"]["y"]], "#2b8a3e")
    axes.set_xscale("log")
    axes.set(ylim=(0, 1.05), xlabel="Parameters", ylabel=data["metric"],
             title=f"Power law of 1 − {data['metric']} by model size")
    axes.legend(loc="lower right")
    return figure


def _categories_chart(data: dict):
    figure, axes = _figure()
    positions = list(range(len(data["names"])))
    for entry in data["categories"]:
        style = "-o" if entry["scales"] else "--o"
        suffix = "" if entry["scales"] else ", does not scale"
        axes.plot(positions, entry["values"], style, label=f"{entry['category'] or '(none)'} ({entry['metric']}{suffix})")
    axes.set_xticks(positions, data["names"])
    axes.set(ylim=(0, 1.05), xlabel="Rung", ylabel="Score", title="Growth per category")
    axes.legend(loc="lower right", fontsize=8)
    return figure


def _curves_chart(data: dict):
    figure, axes = _figure()
    for rung in data["rungs"]:
        xs, ys = [p["x"] for p in rung["points"]], [p["y"] for p in rung["points"]]
        line, = axes.plot(xs, ys, "-o", label=rung["name"])
        _label_points(axes, xs, ys, line.get_color())
    axes.set_xscale("log")
    axes.set(xlabel="Training examples", ylabel="Eval loss (NLL of the label)", title="Learning curves")
    axes.legend()
    return figure


def report_charts(*, run: Run) -> dict[str, bytes]:
    """{file name: bytes} for each chart the run's verdict supports, in every format."""
    verdict = selectors.run_verdict(run=run)
    if verdict is None or not verdict.tuned:
        return {}
    drawers = {
        "f1-by-size": (_f1_by_size_chart, selectors.f1_by_size(verdict=verdict)),
        "power-law": (_power_chart, selectors.power_law_overlay(verdict=verdict)),
        "category-growth": (_categories_chart, selectors.category_growth(verdict=verdict)),
        "learning-curves": (_curves_chart, selectors.learning_curves(verdict=verdict)),
    }
    files = {}
    for name, (draw, data) in drawers.items():
        if not data:
            continue
        figure = draw(data)
        for fmt in CHART_FORMATS:
            buffer = io.BytesIO()
            # No creation date in the SVG: the same run gives the same file.
            figure.savefig(buffer, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
            files[f"{name}.{fmt}"] = buffer.getvalue()
    return files


def report_zip(*, run: Run) -> bytes:
    """report.json and the charts of `run`, zipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("report.json", json.dumps(selectors.run_report(run=run), indent=2, sort_keys=True))
        for name, content in report_charts(run=run).items():
            archive.writestr(f"charts/{name}", content)
    return buffer.getvalue()


def report_file_name(*, run: Run) -> str:
    return f"ladderlab-run-{run.pk}-{run.batch.short_hash or 'batch'}.zip"
