// The playground: run each scenario raw and guarded, and show what the browser's CloseEvent
// reported on each side, with the knowledge API's explanation of the code received.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const words = data.words;
  const TIMEOUT_MS = 5000;
  const descriptions = new Map(); // code -> Promise of /api/codes/{code}

  function describe(code) {
    if (!descriptions.has(code)) {
      const url = `${data.root}/api/codes/${code}?lang=${encodeURIComponent(data.lang)}`;
      descriptions.set(
        code,
        fetch(url).then((response) => (response.ok ? response.json() : null)).catch(() => null),
      );
    }
    return descriptions.get(code);
  }

  function socketUrl(side, scenario, query) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const search = query ? `?${new URLSearchParams(query)}` : "";
    return `${scheme}//${location.host}${data.root}/${side}/ws/${scenario}${search}`;
  }

  // Opens one WebSocket and resolves with what its CloseEvent said; never rejects.
  function runSocket(url, scenario) {
    return new Promise((resolve) => {
      const outcome = { opened: false, echoed: null, timedOut: false };
      let socket;
      try {
        socket = new WebSocket(url);
      } catch (error) {
        resolve({ ...outcome, error: String(error) });
        return;
      }
      const timer = setTimeout(() => {
        outcome.timedOut = true;
        socket.close(1000, "timeout");
      }, TIMEOUT_MS);
      socket.addEventListener("open", () => {
        outcome.opened = true;
        if (scenario === "echo") socket.send("hello");
      });
      socket.addEventListener("message", (event) => {
        outcome.echoed = String(event.data);
        if (scenario === "echo") socket.close(1000, "done");
      });
      socket.addEventListener("close", (event) => {
        clearTimeout(timer);
        resolve({ ...outcome, code: event.code, reason: event.reason, wasClean: event.wasClean });
      });
    });
  }

  // The one-line explanation: the first sentence of the knowledge API's summary.
  function firstSentence(text) {
    const match = /^(.+?[.!?])(\s|$)/s.exec(text);
    return match ? match[1] : text;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function show(cell, outcome) {
    const body = cell.querySelector(".result__body");
    const description = await describe(outcome.code);
    body.replaceChildren();
    cell.dataset.state = outcome.wasClean ? "clean" : "unclean";
    cell.dataset.code = String(outcome.code);
    cell.dataset.wasClean = String(outcome.wasClean);

    const headline = element("p", "result__headline");
    headline.append(element("span", "result__code", String(outcome.code)));
    headline.append(" ");
    headline.append(element("span", "result__name", description ? description.name : ""));
    body.append(headline);

    const badges = element("p", "result__badges");
    const clean = element(
      "span",
      `badge ${outcome.wasClean ? "badge--good" : "badge--bad"}`,
      `wasClean: ${outcome.wasClean}`,
    );
    badges.append(clean, " ", element("span", "muted", outcome.wasClean ? words.clean : words.not_clean));
    body.append(badges);

    const reason = element("p", "result__reason");
    reason.append(`${words.reason}: `);
    reason.append(
      outcome.reason ? element("q", "", outcome.reason) : element("span", "muted", words.empty_reason),
    );
    body.append(reason);

    if (outcome.echoed !== null) body.append(element("p", "result__note", `${words.echoed}: “${outcome.echoed}”`));
    if (!outcome.opened) body.append(element("p", "result__note", words.not_opened));
    if (outcome.timedOut) body.append(element("p", "result__note", words.timeout));
    if (description) {
      const explain = element("p", "result__explain", firstSentence(description.summary));
      explain.title = description.summary;
      body.append(explain);
    }

    const more = element("a", "result__more", words.more_about.replace("{code}", outcome.code));
    more.href = `${data.root}/codes/${outcome.code}?lang=${encodeURIComponent(data.lang)}`;
    body.append(more);
  }

  function scenarioQuery(card) {
    const code = card.querySelector("input[name=code]");
    if (!code) return null;
    return { code: code.value.trim() || "1000", reason: card.querySelector("input[name=reason]").value };
  }

  async function run(card) {
    const scenario = card.dataset.scenario;
    const button = card.querySelector("button.run");
    const query = scenarioQuery(card);
    button.disabled = true;
    card.setAttribute("aria-busy", "true");
    const cells = [...card.querySelectorAll(".result")];
    for (const cell of cells) {
      cell.dataset.state = "running";
      cell.querySelector(".result__body").replaceChildren(element("p", "result__idle", words.running));
    }
    try {
      await Promise.all(
        cells.map(async (cell) => show(cell, await runSocket(socketUrl(cell.dataset.side, scenario, query), scenario))),
      );
    } finally {
      button.disabled = false;
      card.removeAttribute("aria-busy");
      document.dispatchEvent(new CustomEvent("closeguard:ran"));
    }
  }

  const cards = [...document.querySelectorAll(".scenario")];
  for (const card of cards) {
    card.querySelector("button.run").addEventListener("click", () => run(card));
  }
  const runAll = document.getElementById("run-all");
  runAll.addEventListener("click", async () => {
    runAll.disabled = true;
    try {
      for (const card of cards) await run(card);
    } finally {
      runAll.disabled = false;
    }
  });
})();
