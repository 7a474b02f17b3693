// Briefing Room heat map: the grid counts from #heat-data drawn on a canvas, with a scale
// bar. The counts are smoothed with a Gaussian kernel of one cell, so a cluster reads
// darker than lone incidents; too few incidents for a density map (heat.points) are
// drawn as a dot each.
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
  if (heat.points && heat.points.length) {
    // bounds: [south, west, north, east]; the canvas counts from the top (north).
    var b = heat.bounds;
    heat.points.forEach(function (point) {
      var x = (point[1] - b[1]) / (b[3] - b[1]) * size * heat.cols;
      var y = (b[2] - point[0]) / (b[2] - b[0]) * size * heat.rows;
      ctx.beginPath();
      ctx.arc(x, y, 7, 0, 2 * Math.PI);
      ctx.fillStyle = "rgb(160,0,0)";
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    });
  } else {
    drawDensity();
  }
  drawScale();

  // One pixel per cell on a small canvas, scaled up smoothly; yellow (low) to dark red.
  function drawDensity() {
    var rows = heat.rows, cols = heat.cols, reach = 3;
    var density = new Float32Array(rows * cols);
    heat.cells.forEach(function (cell) {
      for (var dr = -reach; dr <= reach; dr++) {
        for (var dc = -reach; dc <= reach; dc++) {
          var r = cell[0] + dr, c = cell[1] + dc;
          if (r < 0 || c < 0 || r >= rows || c >= cols) { continue; }
          density[r * cols + c] += cell[2] * Math.exp(-(dr * dr + dc * dc) / 2);
        }
      }
    });
    var peak = 0;
    density.forEach(function (value) { peak = Math.max(peak, value); });
    var small = document.createElement("canvas");
    small.width = cols;
    small.height = rows;
    var smallCtx = small.getContext("2d");
    var image = smallCtx.createImageData(cols, rows);
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var share = density[r * cols + c] / peak;
        // Rows count from the south, the canvas from the top.
        var at = ((rows - 1 - r) * cols + c) * 4;
        image.data[at] = 255 - Math.round(95 * share);
        image.data[at + 1] = Math.round(220 * (1 - share));
        image.data[at + 2] = 0;
        image.data[at + 3] = share < 0.02 ? 0 : Math.round(255 * Math.min(1, 0.15 + 0.85 * share));
      }
    }
    smallCtx.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(small, 0, 0, cols * size, rows * size);
  }

  // A bar of a round length, 60 to 200 px long, at the bottom left.
  function drawScale() {
    var metresPerPixel = heat.cell_m / size;
    var lengths = [50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
    var metres = lengths[0];
    lengths.forEach(function (candidate) {
      if (candidate / metresPerPixel <= 200) { metres = candidate; }
    });
    var pixels = metres / metresPerPixel;
    var label = metres >= 1000 ? metres / 1000 + " km" : metres + " m";
    var x = 12, y = canvas.height - 12;
    ctx.strokeStyle = "#333";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, y - 6); ctx.lineTo(x, y); ctx.lineTo(x + pixels, y); ctx.lineTo(x + pixels, y - 6);
    ctx.stroke();
    ctx.fillStyle = "#333";
    ctx.font = "12px sans-serif";
    ctx.fillText(label, x + 4, y - 6);
    canvas.dataset.scale = label;
  }
})();
