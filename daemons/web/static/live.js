// Live block list: the Explorer's /ws relays the node's new_block events; on each one this
// fetches the rendered rows of the blocks newer than the newest shown (/fragment/blocks).
// Progressive enhancement only; without JavaScript the page is as fresh as its last load.
(function () {
  "use strict";
  var table = document.getElementById("blocks");
  if (!table || !table.dataset.live || !window.WebSocket) { return; }
  var body = table.tBodies[0];
  var txBody = document.getElementById("txs") && document.getElementById("txs").tBodies[0];
  var state = document.getElementById("live-state");
  var height = Number(table.dataset.live);
  var keep = body.rows.length || 25;
  var failures = 0;
  var fetching = false;
  var announced = false;  // a block was announced that no fetch has covered yet

  function say(text) { if (state) { state.textContent = text; } }

  function insert(target, html, limit) {
    var holder = document.createElement("tbody");
    holder.innerHTML = html;
    var rows = Array.prototype.slice.call(holder.rows).reverse();
    rows.forEach(function (row) { row.classList.add("new"); target.insertBefore(row, target.firstChild); });
    while (target.rows.length > limit) { target.deleteRow(target.rows.length - 1); }
  }

  // One fetch at a time; a block announced meanwhile is fetched right after (never a loop:
  // each fetch answers every announcement made before it started, and a failed one waits for
  // the next announcement).
  function catchUp() {
    if (fetching || !announced) { return; }
    fetching = true;
    announced = false;
    fetch("/fragment/blocks?after=" + height, { headers: { "Accept": "text/html" } }).then(function (res) {
      if (res.status === 204) { return null; }
      if (!res.ok) { throw new Error("HTTP " + res.status); }
      return res.text();
    }).then(function (html) {
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
      say("Live updates paused: the Explorer's node does not answer; waiting for the next block.");
    }).then(function () {
      fetching = false;
      catchUp();
    });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws");
    ws.onopen = function () { ws.send(JSON.stringify({ subscribe: ["new_block"] })); };
    ws.onmessage = function (msg) {
      var frame = JSON.parse(msg.data);
      if (frame.subscribed) {
        failures = 0;
        say("Updates live while this page is open.");
        announced = true;  // blocks made while we were not listening
        catchUp();
      } else if (frame.topic === "new_block" && frame.data && Number(frame.data.height) > height) {
        announced = true;
        catchUp();
      }
    };
    ws.onclose = function () {
      failures += 1;
      say("Live updates paused: the Explorer does not answer; retrying.");
      setTimeout(connect, Math.min(30000, 2000 * failures));
    };
  }
  connect();
})();
