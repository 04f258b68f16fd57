// Line detail charts with uPlot (vendored, see NOTICE): OEE/A/P/Q trend and SPC control charts.
(function () {
  "use strict";
  function width(el) { return Math.max(320, Math.min(1180, el.clientWidth || 900)); }
  var trend = window.LINESIDE_TREND || [];
  var tEl = document.getElementById("trend-chart");
  if (tEl && trend.length && window.uPlot) {
    var pct = function (k) { return trend.map(function (r) { return r[k] == null ? null : 100 * r[k]; }); };
    var period = window.LINESIDE_PERIOD || [];
    new uPlot({
      width: width(tEl), height: 240,
      scales: { x: { time: true, range: period.length ? function () { return period; } : undefined }, y: { range: [0, 110] } },
      series: [{}, { label: "OEE %", stroke: "#111", width: 2 }, { label: "A %", stroke: "#1e9e4a" },
               { label: "P %", stroke: "#3b6fd1" }, { label: "Q %", stroke: "#d98200" }],
      axes: [{}, { label: "%" }],
    }, [trend.map(function (r) { return r.start; }), pct("oee"), pct("availability"), pct("performance"), pct("quality")], tEl);
  }
  (window.LINESIDE_SPC || []).forEach(function (c, i) {
    var el = document.getElementById("spc-" + i);
    if (!el || !c.ts.length || !window.uPlot) return;
    var n = c.ts.length, flat = function (v) { return c.ts.map(function () { return v; }); };
    var viol = c.values.map(function (v, j) { return c.violations.indexOf(j) >= 0 ? v : null; });
    var series = [{}, { label: c.characteristic, stroke: "#3b6fd1", points: { show: n < 200 } },
                  { label: "CL", stroke: "#1e9e4a", dash: [6, 4] }, { label: "UCL", stroke: "#d0312d" }, { label: "LCL", stroke: "#d0312d" },
                  { label: "violation", stroke: "transparent", points: { show: true, size: 10, fill: "#d0312d", stroke: "#d0312d" } }];
    var data = [c.ts, c.values, flat(c.center), flat(c.ucl), flat(c.lcl), viol];
    if (c.spec) {
      series.push({ label: "LSL", stroke: "#888", dash: [2, 3] }, { label: "USL", stroke: "#888", dash: [2, 3] });
      data.push(flat(c.spec.lsl), flat(c.spec.usl));
    }
    new uPlot({ width: width(el), height: 260, series: series }, data, el);
    el.dataset.drawn = "1";
  });
})();
