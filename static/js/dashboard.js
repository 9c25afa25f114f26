// Draws the dashboard's charts from the numbers the server put in #dashboard-data.
// Every chart shows its values and legend on the canvas: nothing needs hovering.
(function () {
  const COLORS = ["#2f6fde", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#1098ad", "#5c940d", "#c2255c"];
  const BASE = "#868e96";

  // Writes each point's value beside it, for datasets that ask for it.
  const valueLabels = {
    id: "valueLabels",
    afterDatasetsDraw(chart) {
      const { ctx } = chart;
      ctx.save();
      ctx.font = "11px system-ui, sans-serif";
      ctx.textAlign = "center";
      chart.data.datasets.forEach((dataset, index) => {
        if (!dataset.showValues || !chart.isDatasetVisible(index)) return;
        ctx.fillStyle = dataset.borderColor;
        chart.getDatasetMeta(index).data.forEach((point, at) => {
          const raw = dataset.data[at];
          const value = raw !== null && typeof raw === "object" ? raw.y : raw;
          if (value === null || value === undefined) return;
          ctx.fillText(Number(value).toFixed(dataset.digits ?? 2), point.x, point.y - 8);
        });
      });
      ctx.restore();
    },
  };

  const axis = (title, extra) => ({ title: { display: true, text: title }, ...extra });
  const common = (xTitle, yTitle, x, y) => ({
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    // Room for the value written above the highest and the last points.
    layout: { padding: { top: 14, right: 18 } },
    plugins: { legend: { display: true, position: "bottom" } },
    scales: { x: axis(xTitle, x), y: axis(yTitle, y) },
  });
  const line = (label, data, color, extra) => ({
    type: "line", label, data, borderColor: color, backgroundColor: color, showValues: true,
    spanGaps: true, pointRadius: 4, ...extra,
  });
  // Only ticks at 1, 2 and 5 times a power of ten are labelled, as Chart.js does
  // by default: every tick of a log axis labelled would overlap.
  const sizeTicks = {
    type: "logarithmic",
    ticks: {
      callback: (value) => {
        const leading = Math.round(value / 10 ** Math.floor(Math.log10(value) + 1e-9));
        return [1, 2, 5].includes(leading) ? formatSize(value) : "";
      },
    },
  };
  // Rungs as categories, with half a step at each end so end points keep their labels.
  const rungAxis = { offset: true };

  function formatSize(value) {
    for (const [unit, scale] of [["T", 1e12], ["B", 1e9], ["M", 1e6], ["K", 1e3]]) {
      if (value >= scale) return `${Number((value / scale).toPrecision(3))}${unit}`;
    }
    return String(Number(value.toPrecision(3)));
  }

  const builders = {
    by_size(data) {
      const labels = data.names.map((name, at) => `${name} (${data.size_labels[at]})`);
      const interval = (series) => series.ci_low.map((low, at) => (low === null ? null : [low, series.ci_high[at]]));
      return {
        type: "bar",
        data: {
          labels,
          datasets: [
            { type: "bar", label: "Base interval", data: interval(data.base), backgroundColor: "#adb5bd66", barPercentage: 0.35 },
            { type: "bar", label: "Tuned interval", data: interval(data.tuned), backgroundColor: "#2f6fde44", barPercentage: 0.35 },
            line(`Base ${data.metric}`, data.base.f1, BASE),
            line(`Tuned ${data.metric}`, data.tuned.f1, COLORS[0]),
          ],
        },
        options: common("Rung (parameters)", data.metric, {}, { min: 0, max: 1 }),
      };
    },
    across_batches(data) {
      return {
        type: "line",
        data: {
          labels: data.names,
          datasets: data.series.map((series, at) => line(`Batch ${series.batch}`, series.f1, COLORS[at % COLORS.length])),
        },
        options: common("Rung", `Tuned ${data.metric}`, rungAxis, { min: 0, max: 1 }),
      };
    },
    power(data) {
      return {
        type: "scatter",
        data: {
          datasets: [
            line(`Observed tuned ${data.metric}`, data.observed, COLORS[0], { type: "scatter", pointRadius: 5 }),
            line("Fitted power law", data.curve, COLORS[1], { showValues: false, pointRadius: 0, borderDash: [6, 4] }),
            line(`Next size ${data.next.label} (extrapolated)`, [data.next], COLORS[2], { type: "scatter", pointStyle: "triangle", pointRadius: 8 }),
          ],
        },
        options: common("Parameters", data.metric, sizeTicks, { min: 0, max: 1 }),
      };
    },
    categories(data) {
      return {
        type: "line",
        data: {
          labels: data.names,
          datasets: data.categories.map((entry, at) => line(
            `${entry.category || "(none)"} (${entry.metric}${entry.scales ? "" : ", does not scale"})`,
            entry.values, COLORS[at % COLORS.length], entry.scales ? {} : { borderDash: [4, 3] },
          )),
        },
        options: common("Rung", "Score", rungAxis, { min: 0, max: 1 }),
      };
    },
    curves(data) {
      const measured = data.rungs.map((rung, at) => line(rung.name, rung.points, COLORS[at % COLORS.length], { digits: 3 }));
      // Each rung's fitted rectified law, dashed, out to 8x today's labels (when planning fitted it).
      const fitted = data.rungs
        .map((rung, at) => [rung, COLORS[at % COLORS.length]])
        .filter(([rung]) => rung.fitted && rung.fitted.length)
        .map(([rung, color]) => line(`${rung.name} fitted`, rung.fitted, color, { showValues: false, pointRadius: 0, borderDash: [6, 4] }));
      return {
        type: "line",
        data: { datasets: [...measured, ...fitted] },
        options: common("Training examples", "Eval loss (NLL of the label)", sizeTicks, {}),
      };
    },
    options_chart(data) {
      const point = (row) => ({ x: row.x, y: row.y });
      const within = data.rows.filter((row) => row.x <= data.budget_seconds && !row.best);
      const over = data.rows.filter((row) => row.x > data.budget_seconds);
      return {
        type: "scatter",
        data: {
          datasets: [
            line("Within the budget", within.map(point), COLORS[0], { type: "scatter", showValues: false }),
            line("Over the budget", over.map(point), BASE, { type: "scatter", showValues: false }),
            line("Best within the budget", data.rows.filter((row) => row.best).map(point), COLORS[1],
              { type: "scatter", pointStyle: "triangle", pointRadius: 8, digits: 3 }),
          ],
        },
        options: common("Training seconds", "Predicted eval loss", { type: "logarithmic" }, {}),
      };
    },
    track_record_chart(data) {
      const measured = data.laws.map((law, at) => line(law.label, law.points, COLORS[at % COLORS.length],
        { type: "scatter", showValues: false, pointRadius: 5 }));
      // Points on the diagonal were predicted exactly; above it the law was too hopeful.
      const exact = line("Predicted = measured", [{ x: data.low, y: data.low }, { x: data.high, y: data.high }], BASE,
        { showValues: false, pointRadius: 0, borderDash: [6, 4] });
      return {
        type: "scatter",
        data: { datasets: [...measured, exact] },
        options: common("Predicted eval loss", "Measured eval loss", {}, {}),
      };
    },
  };

  function draw() {
    const source = document.getElementById("dashboard-data");
    if (!source || !window.Chart) return;
    const charts = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const data = charts[canvas.dataset.chart];
      if (!data) return;
      const config = builders[canvas.dataset.chart](data);
      config.plugins = [valueLabels];
      new window.Chart(canvas, config);
      canvas.dataset.drawn = "1";
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
