// Briefing Room heat map: the grid counts from #heat-data drawn on a canvas.
(function () {
  "use strict";
  var canvas = document.getElementById("heatmap");
  var source = document.getElementById("heat-data");
  if (!canvas || !source) { return; }
  var heat = JSON.parse(source.textContent);
  var ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!heat.rows || !heat.cols) {
    ctx.fillStyle = "#666";
    ctx.font = "16px sans-serif";
    ctx.fillText("No incidents in this period.", 20, 40);
    return;
  }
  var size = Math.max(2, Math.floor(Math.min(canvas.width / heat.cols, canvas.height / heat.rows)));
  canvas.width = Math.max(size * heat.cols, 200);
  canvas.height = Math.max(size * heat.rows, 100);
  ctx.fillStyle = "#f8f8f8";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  heat.cells.forEach(function (cell) {
    var row = cell[0], col = cell[1], count = cell[2];
    var share = count / heat.max;
    // Yellow (few) to dark red (most); rows count from the south, the canvas from the top.
    var red = 255 - Math.round(95 * share);
    var green = Math.round(220 * (1 - share));
    ctx.fillStyle = "rgba(" + red + "," + green + ",0," + (0.35 + 0.65 * share) + ")";
    ctx.fillRect(col * size, (heat.rows - 1 - row) * size, size, size);
  });
})();
