// The playground: run each scenario raw and guarded, and show what the browser's CloseEvent
// reported on each side, explained by closeguard.js (the module `asgi-closeguard export-js`
// prints, served by the app from the installed package) with what a reconnecting client does.
// A scenario marked data-reconnects runs such a client, closeguard.js's connect(): it comes back
// by itself whenever the close code says so, and stays away when it says no. The scenario marked
// data-deploy runs several such clients a side and deploys under them (POST /api/deploy), then
// draws when each was closed and when it came back.
import { connect, describeClose, reconnectText } from "../js/closeguard.js";

{
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const words = data.words;
  const TIMEOUT_MS = 5000;
  // A bound on every wait of the deploy card: the clients opening, the clients coming back.
  const DEPLOY_TIMEOUT_MS = 15000;

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
  // bounds it (maxConnections, the card's data-max-connections, so that a scenario can never
  // loop for ever, and TIMEOUT_MS for a connection that never closes).
  function runReconnecting(cell, scenario, query, maxConnections) {
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
            } else if (history.length === maxConnections) {
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

  // --- The deploy card ---------------------------------------------------------------------

  function waitUntil(condition, timeoutMs) {
    return new Promise((resolve) => {
      const started = performance.now();
      const check = () => {
        if (condition()) resolve(true);
        else if (performance.now() - started > timeoutMs) resolve(false);
        else setTimeout(check, 50);
      };
      check();
    });
  }

  // One client of the deploy card, made with connect(), in a chat-like session: it says hello
  // on every connection, and the server's echo shows the session is served. Every open and
  // close is noted with its time, until the page has seen enough (client.done).
  function deployClient(side, number, changed) {
    const client = { number, events: [], open: false, echoed: false, done: false, connection: null };
    const note = (kind, extra = {}) => {
      if (client.done) return;
      client.events.push({ kind, at: performance.now(), ...extra });
      changed();
    };
    client.connection = connect(socketUrl(side, "deploy"), {
      lang: data.lang,
      onOpen: () => {
        client.open = true;
        client.echoed = false;
        note("open");
        client.connection.send(`hello from client ${number}`);
      },
      onMessage: () => {
        client.echoed = true;
      },
      onClose: (event, description) => {
        client.open = false;
        client.echoed = false;
        note("close", { code: event.code, wasClean: event.wasClean, name: description.name });
      },
    });
    return client;
  }

  function closesSince(client, start) {
    return client.events.filter((event) => event.kind === "close" && event.at >= start);
  }

  // Closed by the deploy, then connected again, with the session answering.
  function cameBack(client, start) {
    return closesSince(client, start).length > 0 && client.open && client.echoed;
  }

  function seconds(ms) {
    return (ms / 1000).toFixed(2);
  }

  // A row per client, seconds since the deploy across: green while it is connected, a tick at
  // each close. Both sides share the scale (view), so their spreads compare at a glance.
  function timeline(clients, view, now) {
    const from = -0.25;
    const to = Math.max(view.end, (now - view.start) / 1000 + 0.25);
    const x = (at) => Math.min(100, Math.max(0, (((at - view.start) / 1000 - from) / (to - from)) * 100));
    const box = element("div", "timeline");
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", words.timeline_label);
    box.title = words.timeline_label;
    const track = (className) => box.appendChild(element("div", `timeline__row ${className}`));
    for (const client of clients) {
      const row = track("timeline__client");
      const closes = closesSince(client, view.start);
      row.dataset.client = String(client.number);
      row.dataset.closes = closes.map((event) => event.code).join(" ");
      row.dataset.closeMs = closes.map((event) => Math.round(event.at - view.start)).join(" ");
      row.dataset.cameBack = String(cameBack(client, view.start));
      const bar = element("span", "timeline__track");
      const deployed = element("span", "timeline__deploy");
      deployed.style.left = `${x(view.start)}%`;
      bar.append(deployed);
      // Every client was connected when the deploy began: its first bar starts at the left edge.
      let openSince = view.start + from * 1000;
      for (const event of client.events.filter((each) => each.at >= view.start)) {
        if (event.kind === "open") {
          openSince = event.at;
          continue;
        }
        if (openSince !== null) bar.append(segment(x(openSince), x(event.at)));
        openSince = null;
        const tick = element("span", `timeline__close${event.code === 1012 ? "" : " timeline__close--bad"}`);
        tick.style.left = `${x(event.at)}%`;
        tick.title = `${event.code} ${event.name} · ${words.timeline_seconds.replace("{seconds}", seconds(event.at - view.start))}`;
        bar.append(tick);
      }
      if (openSince !== null) bar.append(segment(x(openSince), x(now)));
      row.append(element("span", "timeline__name", words.timeline_client.replace("{number}", client.number)), bar);
    }
    const axis = element("span", "timeline__ticks");
    for (let second = 0; second <= to; second += 1) {
      const label = element("span", "", words.timeline_seconds.replace("{seconds}", second));
      label.style.left = `${x(view.start + second * 1000)}%`;
      axis.append(label);
    }
    track("timeline__axis").append(element("span"), axis);
    const legend = element("p", "timeline__legend");
    for (const [swatch, label] of [
      ["open", words.timeline_connected],
      ["close", words.timeline_closed],
      ["deploy", words.timeline_deploy],
    ]) {
      legend.append(element("span", `timeline__swatch timeline__swatch--${swatch}`), ` ${label} `);
    }
    box.append(legend);
    return box;
  }

  function segment(left, right) {
    const bar = element("span", "timeline__open");
    bar.style.left = `${left}%`;
    bar.style.width = `${Math.max(0.5, right - left)}%`;
    return bar;
  }

  function drawRunning(side, view, status) {
    const body = side.cell.querySelector(".result__body");
    const children = [element("p", "result__idle", status)];
    if (view.start !== null) children.push(timeline(side.clients, view, performance.now()));
    body.replaceChildren(...children);
  }

  // "6 × 1012", or "5 × 1012, 1 × 1006" when the closes differ.
  function countCodes(closes) {
    const counts = new Map();
    for (const close of closes) counts.set(close.code, (counts.get(close.code) || 0) + 1);
    return [...counts].map(([code, count]) => `${count} × ${code}`).join(", ");
  }

  function showDeploy(side, view, report, failure) {
    const { cell, clients } = side;
    const body = cell.querySelector(".result__body");
    const firsts = clients.map((client) => closesSince(client, view.start)[0]).filter(Boolean);
    const back = clients.filter((client) => cameBack(client, view.start)).length;
    body.replaceChildren();
    cell.dataset.clients = String(clients.length);
    cell.dataset.cameBack = String(back);
    if (failure !== null || firsts.length === 0) {
      cell.dataset.state = "unclean";
      cell.dataset.failed = "true";
      body.append(element("p", "result__note", failure ?? words.deploy_failed.replace("{detail}", "—")));
      return;
    }
    const code = firsts[0].code;
    const allClean = clients.every((client) => closesSince(client, view.start).every((close) => close.wasClean));
    const description = describeClose(code, data.lang);
    cell.dataset.code = String(code);
    cell.dataset.state = allClean && back === clients.length ? "clean" : "unclean";
    cell.dataset.reconnect = description.reconnect;
    const times = firsts.map((close) => close.at);
    const span = Math.max(...times) - Math.min(...times);
    cell.dataset.spanMs = String(Math.round(span));

    const headline = element("p", "result__headline");
    headline.append(element("span", "result__code", String(code)), " ", element("span", "result__name", description.name));
    body.append(headline);
    const closes = countCodes(firsts);
    body.append(
      element(
        "p",
        "deploy__summary",
        span < 1000
          ? words.deploy_at_once.replace("{closes}", closes).replace("{ms}", Math.round(span))
          : words.deploy_spread.replace("{closes}", closes).replace("{seconds}", seconds(span)),
      ),
    );
    body.append(timeline(clients, view, view.done));
    body.append(
      element(
        "p",
        `deploy__back ${back === clients.length ? "" : "deploy__back--missing"}`,
        words.deploy_came_back.replace("{back}", back).replace("{count}", clients.length),
      ),
    );
    const again = clients.reduce((sum, client) => sum + Math.max(0, closesSince(client, view.start).length - 1), 0);
    if (again > 0) body.append(element("p", "deploy__note", words.deploy_turned_away.replace("{count}", again)));
    const note =
      cell.dataset.side === "raw"
        ? words.deploy_raw_done
        : words.deploy_guarded_done
            .replace("{count}", report.drained)
            .replace("{spread}", report.spread)
            .replace("{seconds}", report.drain_seconds.toFixed(2));
    body.append(element("p", "deploy__note", note));

    const reconnect = element("p", "result__reconnect");
    reconnect.append(`${data.ui.reconnect}: `, reconnectPill(description.reconnect), ` ${reconnectText(code, data.lang)}`);
    body.append(reconnect);
    const more = element("a", "result__more", words.more_about.replace("{code}", code));
    more.href = `${data.root}/codes/${code}?lang=${encodeURIComponent(data.lang)}`;
    body.append(more);
  }

  // The deploy card: data.deploy.clients clients a side; once every one is connected and its
  // session answers, POST /api/deploy; then wait until every client has come back by itself.
  async function runDeploy(cells) {
    const { clients: count, spread } = data.deploy;
    // The time scale both sides share: the spread, and the longest wait of connect() after 1012.
    const view = { start: null, end: spread + 2, done: null };
    const sides = cells.map((cell) => ({ cell, clients: [], status: words.deploy_opening.replace("{count}", count) }));
    const redraw = () => {
      for (const side of sides) drawRunning(side, view, side.status);
    };
    for (const side of sides) {
      for (let number = 1; number <= count; number += 1) {
        side.clients.push(deployClient(side.cell.dataset.side, number, redraw));
      }
    }
    redraw();
    const everyone = sides.flatMap((side) => side.clients);
    const finish = (report, failure) => {
      view.done = performance.now();
      for (const client of everyone) {
        client.done = true;
        client.connection.close(1000, "done");
      }
      for (const side of sides) showDeploy(side, view, report, failure);
    };
    const ready = await waitUntil(() => everyone.every((client) => client.open && client.echoed), DEPLOY_TIMEOUT_MS);
    if (!ready) {
      const open = everyone.filter((client) => client.open).length;
      finish(null, words.deploy_not_opened.replace("{open}", open).replace("{count}", everyone.length));
      return;
    }
    for (const side of sides) side.status = words.deploy_deploying.replace("{spread}", spread);
    view.start = performance.now();
    // The bars grow while the page waits: a picture of the drain as it happens.
    const ticking = setInterval(redraw, 200);
    try {
      let report = null;
      let failure = null;
      try {
        const response = await fetch(`${data.root}/api/deploy?spread=${spread}`, { method: "POST" });
        const answer = await response.json();
        if (response.ok) report = answer;
        else failure = words.deploy_failed.replace("{detail}", typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail));
      } catch (error) {
        failure = words.deploy_failed.replace("{detail}", String(error));
      }
      if (report !== null) {
        for (const side of sides) side.status = words.deploy_waiting;
        await waitUntil(() => everyone.every((client) => cameBack(client, view.start)), DEPLOY_TIMEOUT_MS);
      }
      finish(report, failure);
    } finally {
      clearInterval(ticking);
    }
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
    const maxConnections = Number(card.dataset.maxConnections);
    try {
      if (card.dataset.deploy === "true") {
        await runDeploy(cells);
      } else {
        await Promise.all(
          cells.map(async (cell) =>
            reconnects
              ? runReconnecting(cell, scenario, query, maxConnections)
              : show(cell, await runSocket(socketUrl(cell.dataset.side, scenario, query), scenario)),
          ),
        );
      }
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
