// The weekly review's charts (Chart.js, vendored under vendor/chartjs). The figures come
// from the page's json_script block; every chart is also a table on the page, so the
// page reads the same without this script.
(function () {
  "use strict";

  function line(canvasId, labels, series, yTitle) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) return;
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: labels,
        datasets: series.map(function (s) {
          return { label: s.label, data: s.data, borderColor: s.color, backgroundColor: s.color, spanGaps: true, tension: 0 };
        }),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } } },
      },
    });
  }

  function pareto(canvasId, d) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) return;
    new window.Chart(canvas, {
      data: {
        labels: d.pareto_labels,
        datasets: [
          { type: "bar", label: "Breaches", data: d.pareto_counts, backgroundColor: "#4a6fa5", yAxisID: "y" },
          { type: "line", label: "Cumulative %", data: d.pareto_cumulative, borderColor: "#c0392b", backgroundColor: "#c0392b", yAxisID: "pct", tension: 0 },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          y: { beginAtZero: true, title: { display: true, text: "Breaches" }, ticks: { precision: 0 } },
          pct: { position: "right", min: 0, max: 100, title: { display: true, text: "Cumulative %" }, grid: { drawOnChartArea: false } },
        },
      },
    });
  }

  function draw() {
    var source = document.getElementById("review-data");
    if (!source || !window.Chart) return;
    var d = JSON.parse(source.textContent);
    line("chart-tta", d.labels, [
      { label: "Median", data: d.tta_p50, color: "#4a6fa5" },
      { label: "90th percentile", data: d.tta_p90, color: "#c0392b" },
    ], "minutes");
    line("chart-ttr", d.labels, [
      { label: "Median", data: d.ttr_p50, color: "#4a6fa5" },
      { label: "90th percentile", data: d.ttr_p90, color: "#c0392b" },
    ], "minutes");
    line("chart-adherence", d.labels, [
      { label: "Acknowledge", data: d.adherence_ack, color: "#4a6fa5" },
      { label: "Resolve", data: d.adherence_resolve, color: "#27ae60" },
      { label: "Update cadence", data: d.adherence_update, color: "#c0392b" },
    ], "%");
    pareto("chart-pareto", d);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
