// connect() of the module `asgi-closeguard export-js` prints, under Node.js, with a fake
// WebSocket, a fake clock and a chosen random source: every wait is an exact number, and no test
// waits for real time. tests/js/test_connect.py runs this file once and turns each test(...)
// below into one pytest test.
//
//   node tests/js/connect.test.mjs path/to/closeguard.js
//
// The module must be exported with the app codes of tests/js/test_connect.py (APP_CODES):
// 4001 "no", 4029 "backoff", 4100 "yes". Prints {"test name": null | "failure", ...} as JSON.
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";

const closeguard = await import(pathToFileURL(process.argv[2]).href);
const { connect, describeClose } = closeguard;

const tests = [];
function test(name, body) {
  tests.push({ name, body });
}

// --- doubles -------------------------------------------------------------------------------

/** Timers that run only when the test moves the clock: advance(ms) fires what falls due. */
class FakeClock {
  now = 0;
  #timers = new Map();
  #nextId = 1;

  setTimeout = (callback, delay) => {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.now + delay, delay, callback });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** The delays of the timers still waiting, in the order they were set. */
  pending() {
    return [...this.#timers.values()].map(({ delay }) => delay);
  }

  advance(ms) {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.#timers.entries()]
        .filter(([, timer]) => timer.at <= until)
        .sort(([, a], [, b]) => a.at - b.at)[0];
      if (due === undefined) break;
      const [id, timer] = due;
      this.#timers.delete(id);
      this.now = timer.at;
      timer.callback();
    }
    this.now = until;
  }
}

/** A WebSocket class whose instances the test opens, feeds and closes by hand. */
function fakeWebSocketClass() {
  const sockets = [];
  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    readyState = 0;
    sent = [];
    closeCalls = [];
    #listeners = { open: [], message: [], close: [] };

    constructor(url, protocols) {
      this.url = String(url);
      this.protocols = protocols;
      this.constructorArguments = arguments.length;
      sockets.push(this);
    }

    addEventListener(type, listener) {
      this.#listeners[type].push(listener);
    }

    send(data) {
      if (this.readyState !== 1) throw new Error("send on a socket that is not open");
      this.sent.push(data);
    }

    close(code, reason) {
      this.closeCalls.push([code, reason]);
      this.readyState = 2;
    }

    // What the network does:
    open() {
      this.readyState = 1;
      this.#dispatch("open", { type: "open" });
    }

    receive(data) {
      this.#dispatch("message", { type: "message", data });
    }

    closed(code, reason = "") {
      this.readyState = 3;
      this.#dispatch("close", { type: "close", code, reason, wasClean: code !== 1006 });
    }

    #dispatch(type, event) {
      for (const listener of this.#listeners[type]) listener(event);
    }
  }
  return { FakeWebSocket, sockets };
}

/** A window whose online state the test sets, with the listeners connect() adds. */
class FakeWindow {
  navigator = { onLine: true };
  listeners = [];

  addEventListener(type, listener) {
    this.listeners.push([type, listener]);
  }

  removeEventListener(type, listener) {
    this.listeners = this.listeners.filter(([t, l]) => t !== type || l !== listener);
  }

  goOnline() {
    this.navigator.onLine = true;
    for (const [type, listener] of [...this.listeners]) if (type === "online") listener();
  }
}

/** Returns the given numbers in turn, then the last one for ever. */
function sequence(...numbers) {
  let index = 0;
  return () => numbers[Math.min(index++, numbers.length - 1)];
}

/** A client on doubles, and what it reported: closes, scheduled delays, opens, messages. */
function client(options = {}, url = "ws://test/chat") {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const window = new FakeWindow();
  const seen = { opens: 0, messages: [], closes: [], delays: [], reconnects: [] };
  const connection = connect(url, {
    WebSocket: FakeWebSocket,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random: sequence(0.5),
    window,
    onOpen: () => {
      seen.opens += 1;
    },
    onMessage: (event) => seen.messages.push(event.data),
    onClose: (event, description) => seen.closes.push([event.code, description.reconnect]),
    onReconnect: (delay, description) => {
      seen.delays.push(delay);
      seen.reconnects.push(description.code);
    },
    ...options,
  });
  const last = () => sockets[sockets.length - 1];
  /** The current socket closes with `code`, then the clock runs out whatever was scheduled. */
  const closeAndWait = (code) => {
    last().closed(code);
    clock.advance(Math.max(0, ...clock.pending()));
  };
  return { clock, sockets, window, seen, connection, last, closeAndWait };
}

// --- what connect() opens ------------------------------------------------------------------

test("opens one socket at once, with the url and the protocols", () => {
  const { sockets, connection } = client({ protocols: ["chat.v1", "chat.v2"] });
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url, "ws://test/chat");
  assert.deepEqual(sockets[0].protocols, ["chat.v1", "chat.v2"]);
  assert.equal(connection.socket, sockets[0]);
});

test("without protocols the constructor gets the url alone", () => {
  const { sockets } = client();
  assert.equal(sockets[0].constructorArguments, 1);
});

test("takes a URL object, and a function that gives the url for each connection", () => {
  const asObject = client({}, new URL("ws://test/object"));
  assert.equal(asObject.sockets[0].url, "ws://test/object");
  let calls = 0;
  const { sockets, closeAndWait } = client({}, () => `ws://test/chat?attempt=${++calls}`);
  closeAndWait(1012);
  closeAndWait(1012);
  assert.deepEqual(
    sockets.map((socket) => socket.url),
    ["ws://test/chat?attempt=1", "ws://test/chat?attempt=2", "ws://test/chat?attempt=3"],
  );
});

test("hands open, message and close events to the callbacks", () => {
  const { last, seen } = client({ lang: "ko" });
  const described = [];
  const other = client({ lang: "ko", onClose: (event, d) => described.push([event.code, d]) });
  last().open();
  last().receive("hello");
  last().receive("world");
  other.last().closed(1011, "boom");
  assert.equal(seen.opens, 1);
  assert.deepEqual(seen.messages, ["hello", "world"]);
  assert.deepEqual(described, [[1011, describeClose(1011, "ko")]]);
});

test("the socket property follows the current connection", () => {
  const { connection, sockets, closeAndWait } = client();
  closeAndWait(1012);
  assert.equal(sockets.length, 2);
  assert.equal(connection.socket, sockets[1]);
});

test("send returns true on an open connection and false otherwise, sending nothing", () => {
  const { connection, last, clock } = client();
  assert.equal(connection.send("early"), false);
  last().open();
  assert.equal(connection.send("hello"), true);
  assert.deepEqual(last().sent, ["hello"]);
  last().closed(1012);
  assert.equal(connection.send("while away"), false);
  clock.advance(1500);
  assert.deepEqual(last().sent, []);
});

// --- the stop rules ------------------------------------------------------------------------

test('"no" stops: 1000, 1002, 1008, 3000, 3003, 4001 declared "no"', () => {
  for (const code of [1000, 1002, 1005, 1008, 3000, 3003, 4001]) {
    const { sockets, seen, clock, last } = client();
    last().open();
    last().closed(code);
    clock.advance(10 * 60 * 1000);
    assert.equal(sockets.length, 1, `a new connection after ${code}`);
    assert.deepEqual(seen.closes, [[code, "no"]]);
    assert.deepEqual(seen.delays, []);
    assert.deepEqual(clock.pending(), [], `a timer left after ${code}`);
  }
});

test("a declared app code follows its declaration; an undeclared one backs off", () => {
  const declared = {
    4001: "no",
    4029: "backoff",
    4100: "yes",
    4404: "backoff",
    3001: "backoff",
  };
  for (const [code, reconnect] of Object.entries(declared)) {
    const { seen, last } = client();
    last().closed(Number(code));
    assert.deepEqual(seen.closes, [[Number(code), reconnect]]);
    assert.equal(seen.delays.length, reconnect === "no" ? 0 : 1, code);
  }
  assert.equal(describeClose(4001).name, "Kicked");
  assert.equal(closeguard.shouldReconnect({ code: 4001 }), false);
});

test("the page's close() never reconnects, whatever code the close event has", () => {
  for (const code of [1000, 1006, 1012]) {
    const { connection, sockets, last, clock, seen } = client();
    last().open();
    connection.close(4000, "bye");
    assert.deepEqual(last().closeCalls, [[4000, "bye"]]);
    assert.deepEqual(clock.pending(), [], "a timer left after the page's close");
    last().closed(code);
    clock.advance(10 * 60 * 1000);
    assert.equal(sockets.length, 1, `reconnected after the page's close and ${code}`);
    assert.deepEqual(seen.closes, [[code, describeClose(code).reconnect]]);
    assert.deepEqual(seen.delays, []);
  }
});

test("close() defaults to 1000 and an empty reason, and closes a socket still connecting", () => {
  const { connection, last } = client();
  connection.close();
  assert.deepEqual(last().closeCalls, [[1000, ""]]);
});

test("close() while waiting to reconnect cancels the wait", () => {
  const { connection, sockets, clock, last } = client();
  last().closed(1012);
  assert.equal(clock.pending().length, 1);
  connection.close();
  assert.deepEqual(clock.pending(), []);
  clock.advance(60_000);
  assert.equal(sockets.length, 1);
  assert.deepEqual(sockets[0].closeCalls, [], "close() on a socket already closed");
});

test("close() inside onClose stops the client", () => {
  const handle = {};
  const { connection, sockets, clock, last, seen } = client({
    onClose: () => handle.connection.close(),
  });
  handle.connection = connection;
  last().closed(1012);
  clock.advance(60_000);
  assert.equal(sockets.length, 1);
  assert.deepEqual(seen.delays, []);
});

test("an onClose that throws does not stop the reconnecting", () => {
  const { sockets, clock, last } = client({
    onClose: () => {
      throw new Error("a bug in the page");
    },
  });
  assert.throws(() => last().closed(1012), /a bug in the page/);
  clock.advance(1500);
  assert.equal(sockets.length, 2);
});

// --- the delays ----------------------------------------------------------------------------

test('"yes" reconnects after a random delay under 1.5 s: 1001, 1012, 4100 declared "yes"', () => {
  for (const code of [1001, 1012, 4100]) {
    for (const [random, delay] of [
      [0, 0],
      [0.5, 750],
      [0.999999, 1499],
    ]) {
      const { seen, sockets, clock, last } = client({ random: () => random });
      last().closed(code);
      assert.deepEqual(seen.delays, [delay], `${code} with random ${random}`);
      clock.advance(delay - 1);
      assert.equal(sockets.length, 1, "connected before the delay was over");
      clock.advance(1);
      assert.equal(sockets.length, 2, "not connected when the delay was over");
    }
  }
});

test('"yes" does not grow: every 1012 in a row waits under 1.5 s', () => {
  const { seen, closeAndWait } = client({ random: () => 0.999999 });
  for (let i = 0; i < 6; i += 1) closeAndWait(1012);
  assert.deepEqual(seen.delays, [1499, 1499, 1499, 1499, 1499, 1499]);
});

test('"backoff" doubles the ceiling after each close, from 1 s, capped at 30 s', () => {
  const { seen, closeAndWait } = client({ random: () => 0.999999 });
  for (let i = 0; i < 8; i += 1) closeAndWait(1006);
  assert.deepEqual(seen.delays, [999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
});

test("the cap is maxDelay", () => {
  const { seen, closeAndWait } = client({ random: () => 0.999999, maxDelay: 5000 });
  for (let i = 0; i < 5; i += 1) closeAndWait(1013);
  assert.deepEqual(seen.delays, [999, 1999, 3999, 4999, 4999]);
  const small = client({ random: () => 0.999999, maxDelay: 200 });
  small.closeAndWait(1012);
  small.closeAndWait(1011);
  assert.deepEqual(small.seen.delays, [199, 199], "maxDelay caps the wait after 'yes' too");
  const zero = client({ maxDelay: 0 });
  zero.last().closed(1006);
  assert.deepEqual(zero.seen.delays, [0]);
});

test("full jitter: each delay is the random number times the ceiling", () => {
  const { seen, closeAndWait } = client({ random: sequence(0, 0.25, 0.5, 0.125, 0.75) });
  for (let i = 0; i < 5; i += 1) closeAndWait(1011);
  // Ceilings 1, 2, 4, 8 and 16 s.
  assert.deepEqual(seen.delays, [0, 500, 2000, 1000, 12000]);
});

test("jitter spreads a thousand clients closed together by 1012 over 1.5 s", () => {
  const delays = [];
  for (let i = 0; i < 1000; i += 1) {
    const { seen, last } = client({ random: Math.random });
    last().closed(1012);
    delays.push(seen.delays[0]);
  }
  assert.ok(delays.every((delay) => delay >= 0 && delay < 1500));
  // Each tenth of the window gets some: not all at the same instant.
  const buckets = new Set(delays.map((delay) => Math.floor(delay / 150)));
  assert.equal(buckets.size, 10);
});

test("a connection open for 5 s starts the backoff over", () => {
  const { seen, last, clock, closeAndWait } = client({ random: () => 0.999999 });
  closeAndWait(1006);
  closeAndWait(1006);
  closeAndWait(1006);
  last().open();
  clock.advance(5000);
  closeAndWait(1006);
  assert.deepEqual(seen.delays, [999, 1999, 3999, 999]);
});

test("a connection that closes before 5 s keeps the backoff growing", () => {
  const { seen, last, clock, closeAndWait } = client({ random: () => 0.999999 });
  closeAndWait(1011);
  closeAndWait(1011);
  last().open();
  clock.advance(4999);
  closeAndWait(1011);
  assert.deepEqual(seen.delays, [999, 1999, 3999]);
  assert.deepEqual(clock.pending(), [], "the 5 s timer of a closed connection is left running");
});

test('"yes" after backoffs keeps the backoff where it was: a failed comeback backs off', () => {
  const { seen, closeAndWait } = client({ random: () => 0.999999 });
  closeAndWait(1006);
  closeAndWait(1006);
  closeAndWait(1012);
  closeAndWait(1006);
  assert.deepEqual(seen.delays, [999, 1999, 1499, 3999]);
  assert.deepEqual(seen.reconnects, [1006, 1006, 1012, 1006]);
});

// --- offline -------------------------------------------------------------------------------

test("offline: waits for the online event before trying again", () => {
  const { window, sockets, clock, last } = client();
  last().closed(1006);
  window.navigator.onLine = false;
  clock.advance(60_000);
  assert.equal(sockets.length, 1, "connected while offline");
  assert.deepEqual(
    window.listeners.map(([type]) => type),
    ["online"],
  );
  window.goOnline();
  assert.equal(sockets.length, 2);
  assert.deepEqual(window.listeners, [], "the online listener stays after it ran");
});

test("close() while waiting for online removes the listener", () => {
  const { window, sockets, clock, last, connection } = client();
  last().closed(1012);
  window.navigator.onLine = false;
  clock.advance(1500);
  connection.close();
  assert.deepEqual(window.listeners, []);
  window.goOnline();
  assert.equal(sockets.length, 1);
});

test("online again but still reported offline: keeps waiting", () => {
  const { window, sockets, clock, last } = client();
  last().closed(1012);
  window.navigator.onLine = false;
  clock.advance(1500);
  for (const [, listener] of [...window.listeners]) listener();
  assert.equal(sockets.length, 1);
  window.goOnline();
  assert.equal(sockets.length, 2);
});

test("a window without online events, or without navigator, is taken as online", () => {
  for (const window of [{ navigator: { onLine: false } }, {}, null]) {
    const { sockets, closeAndWait } = client({ window });
    closeAndWait(1012);
    assert.equal(sockets.length, 2);
  }
});

// --- failures ------------------------------------------------------------------------------

test("a url function that throws on a reconnect is tried again with backoff", () => {
  let calls = 0;
  const { sockets, clock, last, seen } = client({ random: () => 0.999999 }, () => {
    calls += 1;
    if (calls === 2) throw new Error("no token");
    return "ws://test/chat";
  });
  last().closed(1012);
  assert.throws(() => clock.advance(1499), /no token/);
  assert.deepEqual(seen.delays, [1499, 999]);
  assert.deepEqual(seen.reconnects, [1012, 1006]);
  clock.advance(999);
  assert.equal(sockets.length, 2);
});

test("wrong options are refused at once", () => {
  const { FakeWebSocket } = fakeWebSocketClass();
  assert.throws(() => connect("ws://test", { WebSocket: undefined }), {
    name: "TypeError",
    message: /needs a WebSocket constructor/,
  });
  for (const maxDelay of [-1, Number.NaN, Number.POSITIVE_INFINITY, "30s", null]) {
    assert.throws(() => connect("ws://test", { WebSocket: FakeWebSocket, maxDelay }), {
      name: "RangeError",
      message: /maxDelay is the longest wait in milliseconds/,
    });
  }
  assert.throws(() => connect("ws://test", { WebSocket: FakeWebSocket, lang: "fr" }), {
    name: "RangeError",
    message: /unknown language "fr"/,
  });
});

test("the defaults are the globals: WebSocket, setTimeout, clearTimeout, Math.random", () => {
  const clock = new FakeClock();
  const { FakeWebSocket, sockets } = fakeWebSocketClass();
  const saved = {
    WebSocket: globalThis.WebSocket,
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    random: Math.random,
  };
  globalThis.WebSocket = FakeWebSocket;
  globalThis.setTimeout = clock.setTimeout;
  globalThis.clearTimeout = clock.clearTimeout;
  Math.random = () => 0.5;
  try {
    const connection = connect("ws://test/defaults");
    sockets[0].closed(1006);
    assert.deepEqual(clock.pending(), [500]);
    clock.advance(500);
    assert.equal(sockets.length, 2);
    connection.close();
  } finally {
    globalThis.WebSocket = saved.WebSocket;
    globalThis.setTimeout = saved.setTimeout;
    globalThis.clearTimeout = saved.clearTimeout;
    Math.random = saved.random;
  }
});

// --- run -----------------------------------------------------------------------------------

const results = {};
for (const { name, body } of tests) {
  try {
    await body();
    results[name] = null;
  } catch (error) {
    results[name] = error && error.stack ? error.stack : String(error);
  }
}
process.stdout.write(JSON.stringify(results));
