// The playground: run each scenario raw and guarded, and show what the browser's CloseEvent
// reported on each side, explained by closeguard.js (the module `asgi-closeguard export-js`
// prints, served by the app from the installed package) with what a reconnecting client does.
// A scenario marked data-reconnects runs such a client, closeguard.js's connect(): it comes back
// by itself whenever the close code says so, and stays away when it says no.
import { connect, describeClose, reconnectText } from "../js/closeguard.js";

{
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const words = data.words;
  const TIMEOUT_MS = 5000;
  // A bound on the demo's reconnecting client, so a scenario can never loop for ever.
  const MAX_CONNECTIONS = 5;

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
        resolve({
          ...outcome,
          code: event.code,
          reason: event.reason,
          wasClean: event.wasClean,
          // The CloseEvent itself goes to closeguard.js: what a front end would pass it.
          description: describeClose(event, data.lang),
          reconnectText: reconnectText(event, data.lang),
        });
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

  function reconnectPill(reconnect) {
    const pill = element("span", `pill pill--reconnect-${reconnect}`, data.ui[`reconnect_${reconnect}`]);
    pill.dataset.reconnect = reconnect;
    return pill;
  }

  // One connection of a reconnecting client: its close, and what the client did next.
  function historyItem(outcome, number, next) {
    const item = element("li", "result__attempt");
    item.dataset.code = String(outcome.code);
    item.dataset.reconnect = outcome.description.reconnect;
    item.append(
      `${words.connection.replace("{number}", number)}: `,
      element("strong", "", `${outcome.code} ${outcome.description.name}`),
      " ",
      reconnectPill(outcome.description.reconnect),
      ` ${next}`,
    );
    return item;
  }

  function show(cell, outcome, history = []) {
    const body = cell.querySelector(".result__body");
    const description = outcome.description;
    body.replaceChildren();
    cell.dataset.state = outcome.wasClean ? "clean" : "unclean";
    cell.dataset.code = String(outcome.code);
    cell.dataset.wasClean = String(outcome.wasClean);
    cell.dataset.reconnect = description.reconnect;
    cell.dataset.connections = String(Math.max(history.length, 1));

    const headline = element("p", "result__headline");
    headline.append(element("span", "result__code", String(outcome.code)));
    headline.append(" ");
    headline.append(element("span", "result__name", description.name));
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
    const explain = element("p", "result__explain", firstSentence(description.summary));
    explain.title = description.summary;
    body.append(explain);

    const reconnect = element("p", "result__reconnect");
    reconnect.append(`${data.ui.reconnect}: `, reconnectPill(description.reconnect), ` ${outcome.reconnectText}`);
    body.append(reconnect);
    if (history.length > 1) {
      const list = element("ol", "result__history");
      list.append(...history.map(({ outcome: past, next }, index) => historyItem(past, index + 1, next)));
      body.append(list);
    }

    const more = element("a", "result__more", words.more_about.replace("{code}", outcome.code));
    more.href = `${data.root}/codes/${outcome.code}?lang=${encodeURIComponent(data.lang)}`;
    body.append(more);
  }

  // A reconnecting client made with connect(): it decides after each close, from the code,
  // whether and when to come back; the cell lists every connection as it ends. The page only
  // bounds it (MAX_CONNECTIONS, and TIMEOUT_MS for a connection that never closes).
  function runReconnecting(cell, scenario, query) {
    return new Promise((resolve) => {
      const history = [];
      let attempt = 0;
      let opened = false;
      let timedOut = false;
      let watchdog = null;
      const finish = () => {
        show(cell, history[history.length - 1].outcome, history);
        resolve();
      };
      const connection = connect(
        () => socketUrl(cell.dataset.side, scenario, { ...query, attempt: String(++attempt) }),
        {
          lang: data.lang,
          onOpen: () => {
            opened = true;
            watchdog = setTimeout(() => {
              timedOut = true;
              connection.close(1000, "timeout");
            }, TIMEOUT_MS);
          },
          onClose: (event, description) => {
            clearTimeout(watchdog);
            const outcome = {
              opened,
              echoed: null,
              timedOut,
              code: event.code,
              reason: event.reason,
              wasClean: event.wasClean,
              description,
              reconnectText: reconnectText(event, data.lang),
            };
            opened = false;
            history.push({ outcome, next: words.stays_closed });
            // "no", or the page's own close: connect() stays away by itself.
            if (description.reconnect === "no" || timedOut) {
              finish();
            } else if (history.length === MAX_CONNECTIONS) {
              history[history.length - 1].next = words.gave_up.replace("{number}", history.length);
              connection.close();
              finish();
            }
          },
          onReconnect: (delay) => {
            const entry = history[history.length - 1];
            entry.next = words.reconnecting_in.replace("{ms}", delay);
            show(cell, entry.outcome, history);
            cell.dataset.state = "running";
            delete cell.dataset.code;
          },
        },
      );
    });
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
    const reconnects = card.dataset.reconnects === "true";
    try {
      await Promise.all(
        cells.map(async (cell) =>
          reconnects
            ? runReconnecting(cell, scenario, query)
            : show(cell, await runSocket(socketUrl(cell.dataset.side, scenario, query), scenario)),
        ),
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
}
