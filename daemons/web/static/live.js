// Live block list: asks the Explorer for the rows of blocks newer than the newest shown.
// Progressive enhancement only; without JavaScript the page is as fresh as its last load.
(function () {
  "use strict";
  var table = document.getElementById("blocks");
  if (!table || !table.dataset.live) { return; }
  var body = table.tBodies[0];
  var txBody = document.getElementById("txs") && document.getElementById("txs").tBodies[0];
  var state = document.getElementById("live-state");
  var height = Number(table.dataset.live);
  var keep = body.rows.length || 25;
  var failures = 0;

  function insert(target, html, limit) {
    var holder = document.createElement("tbody");
    holder.innerHTML = html;
    var rows = Array.prototype.slice.call(holder.rows).reverse();
    rows.forEach(function (row) { row.classList.add("new"); target.insertBefore(row, target.firstChild); });
    while (target.rows.length > limit) { target.deleteRow(target.rows.length - 1); }
  }

  function tick() {
    fetch("/fragment/blocks?after=" + height, { headers: { "Accept": "text/html" } }).then(function (res) {
      if (res.status === 204) { return null; }
      if (!res.ok) { throw new Error("HTTP " + res.status); }
      return res.text();
    }).then(function (html) {
      failures = 0;
      if (state) { state.textContent = "Updates live while this page is open."; }
      if (!html) { return; }
      var tpl = document.createElement("template");
      tpl.innerHTML = html;
      var blocks = tpl.content.querySelector("tbody[data-blocks]");
      var txs = tpl.content.querySelector("tbody[data-txs]");
      if (!blocks || !blocks.rows.length) { return; }
      height = Math.max(height, Number(blocks.dataset.blocks));
      insert(body, blocks.innerHTML, keep);
      if (txBody && txs && txs.rows.length) { insert(txBody, txs.innerHTML, keep); }
      var shown = document.getElementById("height");
      if (shown) { shown.textContent = String(height); }
    }).catch(function () {
      failures += 1;
      if (state) { state.textContent = "Live updates paused: the Explorer or its node does not answer; retrying."; }
    }).then(function () {
      setTimeout(tick, Math.min(30000, 2000 * (failures + 1)));
    });
  }
  setTimeout(tick, 2000);
})();
