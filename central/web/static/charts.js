// Charts: an element with data-chart="<id>" is drawn by ECharts from the option in the
// JSON script element <id> (built by the server; no inline script, per the CSP).
(function () {
  var lang = document.documentElement.lang === "zh-CN" ? "ZH" : "EN";
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var source = document.getElementById(el.dataset.chart);
    if (!source || typeof echarts === "undefined") { return; }
    var chart = echarts.init(el, null, { renderer: "canvas", locale: lang });
    chart.setOption(JSON.parse(source.textContent));
    window.addEventListener("resize", function () { chart.resize(); });
    window.addEventListener("beforeprint", function () { chart.resize(); });
  });
})();
