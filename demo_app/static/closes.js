// The live-close panel: polls /api/closes and draws counts by close code as an SVG bar chart,
// with the latest records in a table. No library: a few SVG elements redrawn on change.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const chart = document.getElementById("closes-chart");
  const empty = document.getElementById("closes-empty");
  const total = document.getElementById("closes-total");
  const tbody = document.querySelector("#closes-table tbody");
  let lastSignature = "";

  // Colour by what the code says about the close: a normal end, an error, a "come back later".
  function tone(label) {
    if (label === "1000" || label === "1001") return "good";
    if (label === "1012" || label === "1013") return "warn";
    if (label.startsWith("http-") || label === "1011" || label === "1002" || label === "1014") return "bad";
    return "info";
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawChart(counts) {
    const entries = Object.entries(counts);
    chart.replaceChildren();
    empty.hidden = entries.length > 0;
    chart.style.display = entries.length ? "" : "none";
    if (!entries.length) return;
    const width = 480, height = 220, top = 22, bottom = 44, left = 8;
    const max = Math.max(...entries.map(([, count]) => count));
    const slot = (width - left * 2) / Math.max(entries.length, 4);
    const barWidth = Math.min(56, slot * 0.64);
    chart.append(svg("line", { x1: left, x2: width - left, y1: height - bottom, y2: height - bottom, class: "chart__axis" }));
    entries.forEach(([label, count], index) => {
      const barHeight = Math.max(2, ((height - top - bottom) * count) / max);
      const x = left + slot * index + (slot - barWidth) / 2;
      const y = height - bottom - barHeight;
      const name = data.names[label] || (label.startsWith("http-") ? `HTTP ${label.slice(5)}` : "");
      const group = svg("g", { class: `chart__bar chart__bar--${tone(label)}` });
      group.append(svg("title", {}, `${label} ${name}: ${count}`));
      group.append(svg("rect", { x, y, width: barWidth, height: barHeight, rx: 4 }));
      group.append(svg("text", { x: x + barWidth / 2, y: y - 6, class: "chart__count" }, count));
      group.append(svg("text", { x: x + barWidth / 2, y: height - bottom + 18, class: "chart__label" }, label));
      group.append(svg("text", { x: x + barWidth / 2, y: height - bottom + 34, class: "chart__name" }, shorten(name, slot)));
      chart.append(group);
    });
  }

  function shorten(text, room) {
    const fits = Math.max(4, Math.floor(room / 6.5));
    return text.length > fits ? `${text.slice(0, fits - 1)}…` : text;
  }

  // "1011 ← 1006" when the guard replaced the code the app asked for.
  function codeText(record) {
    if (record.code === null) return `HTTP ${record.http_status}`;
    if (record.requested_code === null) return String(record.code);
    return `${record.code} ← ${record.requested_code}`;
  }

  function drawRecords(records) {
    const rows = records.slice(0, 8).map((record) => {
      const row = document.createElement("tr");
      const time = new Date(record.time);
      const cells = [
        time.toLocaleTimeString(data.lang, { hour12: false }),
        record.path,
        codeText(record),
        record.closed_by,
        record.exception ? record.exception.split(".").pop() : "—",
      ];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    });
    tbody.replaceChildren(...rows);
  }

  async function refresh() {
    try {
      const response = await fetch(`${data.root}/api/closes`, { cache: "no-store" });
      if (!response.ok) return;
      const snapshot = await response.json();
      const signature = `${snapshot.total}`;
      if (signature === lastSignature) return;
      lastSignature = signature;
      total.textContent = String(snapshot.total);
      drawChart(snapshot.counts);
      drawRecords(snapshot.records);
    } catch (error) {
      // The server went away (stopped demo): keep the last picture and try again later.
    }
  }

  function tick() {
    if (!document.hidden) refresh();
  }

  drawChart({});
  refresh();
  setInterval(tick, POLL_MS);
  document.addEventListener("visibilitychange", tick);
  // The playground tells us when it ran something: no need to wait for the next poll.
  document.addEventListener("closeguard:ran", () => setTimeout(refresh, 150));
})();
