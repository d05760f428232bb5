// A typical front end's use of closeguard.js, compiled by tests/js/test_types.py with
// `tsc --strict` against the declarations `asgi-closeguard export-js --types` prints. Every
// `@ts-expect-error` line must fail to compile: the types refuse what the module refuses.
import {
  type CloseDescription,
  type Connection,
  type ConnectOptions,
  type Language,
  type Reconnect,
  DEFAULT_LANGUAGE,
  LANGUAGES,
  connect,
  describeClose,
  reconnectText,
  shouldReconnect,
} from "./closeguard.js";

const status = document.createElement("p");

function show(description: CloseDescription): void {
  status.textContent = `${description.code} ${description.name}: ${description.summary}`;
}

// connect(): the client that comes back by itself.
const options: ConnectOptions = {
  protocols: ["chat.v1"],
  lang: "ko",
  maxDelay: 10_000,
  onOpen: (event: Event) => console.info("open", event.type),
  onMessage: (event: MessageEvent) => console.info(String(event.data)),
  onClose: (event: CloseEvent, description: CloseDescription) => {
    show(description);
    if (event.code === 4001) chat.close();
  },
  onReconnect: (delay: number, description: CloseDescription) =>
    console.info(`again in ${delay} ms after ${description.code}`),
  WebSocket,
  window,
  random: Math.random,
  setTimeout: (callback, delay) => window.setTimeout(callback, delay),
  clearTimeout: (handle) => window.clearTimeout(handle as number),
};
const chat: Connection = connect(() => `wss://example.com/chat?token=${Date.now()}`, options);
const sent: boolean = chat.send(JSON.stringify({ text: "hello" }));
const socket: WebSocket = chat.socket;
console.info(sent, socket.readyState);
chat.close(1000, "bye");
connect(new URL("wss://example.com/feed"));
// The global timers fit the options as they are.
connect("wss://example.com/feed", { setTimeout, clearTimeout, window: globalThis });

// The rules beside a library the page already has.
const raw = new WebSocket("wss://example.com/raw");
raw.addEventListener("close", (event: CloseEvent) => {
  const advice: Reconnect = describeClose(event).reconnect;
  switch (advice) {
    case "no":
      status.textContent = reconnectText(event, DEFAULT_LANGUAGE);
      break;
    case "yes":
    case "backoff":
      if (shouldReconnect(event)) console.info("coming back", advice);
      break;
    default: {
      // Exhaustive: the union has exactly three members.
      const impossible: never = advice;
      throw new Error(impossible);
    }
  }
});
const languages: readonly Language[] = LANGUAGES;
const codeOnly: CloseDescription = describeClose(1012, languages[0]);
console.info(codeOnly.reconnect === "yes", describeClose({ code: 4001 }).whatToDo);

// What the types refuse.
// @ts-expect-error: "maybe" is not a Reconnect
const wrongAdvice: Reconnect = "maybe";
// @ts-expect-error: a code is a number, not text
describeClose("1006");
// @ts-expect-error: "fr" is not a language of this module
describeClose(1006, "fr");
// @ts-expect-error: onClose gets a CloseEvent, whose code is a number
connect("wss://example.com", { onClose: (event: { code: string }) => event });
// @ts-expect-error: maxDelay is a number of milliseconds
connect("wss://example.com", { maxDelay: "30s" });
// @ts-expect-error: the description is read-only
codeOnly.reconnect = "no";
console.info(wrongAdvice);
