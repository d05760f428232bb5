// TypeScript declarations of closeguard.js, printed by `asgi-closeguard export-js --types`
// (asgi-closeguard 0.3.0) for the module with the languages en, ko. Save it beside
// the module as closeguard.d.ts. The WebSocket types come from TypeScript's "dom" library.

/**
 * What a reconnecting client should do after a close: stay away ("no"), come back at once
 * after a short random delay ("yes"), or come back with exponential backoff ("backoff").
 */
export type Reconnect = "no" | "yes" | "backoff";

/** A language the module has texts for. */
export type Language = "en" | "ko";

/** One close code explained in one language. */
export interface CloseDescription {
  /** The close code. */
  readonly code: number;
  /** Its name, e.g. "Abnormal Closure". */
  readonly name: string;
  /** What it means. */
  readonly summary: string;
  /** Where and why you meet it. */
  readonly whenSeen: string;
  /** What to change when you see it. */
  readonly whatToDo: string;
  /** What a reconnecting client should do after it. */
  readonly reconnect: Reconnect;
  /** Whether an endpoint may put it in a close frame. */
  readonly sendable: boolean;
}

/** Anything with a numeric `code`, such as the browser's CloseEvent. */
export interface HasCloseCode {
  readonly code: number;
}

/** The languages the module has texts for. */
export declare const LANGUAGES: readonly Language[];

/** The language used when none is given. */
export declare const DEFAULT_LANGUAGE: Language;

/**
 * Explain a close code, or the code of a CloseEvent. Any whole number works.
 * @throws {TypeError} For something that is neither a whole number nor has one as `code`.
 */
export declare function describeClose(
  codeOrCloseEvent: number | HasCloseCode,
  lang?: Language,
): CloseDescription;

/** Whether a reconnecting client should come back after this close: `reconnect !== "no"`. */
export declare function shouldReconnect(codeOrCloseEvent: number | HasCloseCode): boolean;

/** What a reconnecting client should do after this close, in words. */
export declare function reconnectText(
  codeOrCloseEvent: number | HasCloseCode,
  lang?: Language,
): string;

/** A constructor connect() can open connections with: the global WebSocket, or a double. */
export type WebSocketConstructor = new (
  url: string | URL,
  protocols?: string | string[],
) => WebSocket;

/** Where connect() reads whether the page is online: the page's window. */
export interface OnlineStatus {
  readonly navigator?: { readonly onLine?: boolean };
  addEventListener?(type: "online", listener: () => void): void;
  removeEventListener?(type: "online", listener: () => void): void;
}

/** The options of connect(). Every one may be left out. */
export interface ConnectOptions {
  /** Subprotocols to offer, as for `new WebSocket()`. */
  protocols?: string | string[];
  /** The language of the description onClose gets; DEFAULT_LANGUAGE when left out. */
  lang?: Language;
  /** The longest wait before a new connection, in ms; 30000 when left out. */
  maxDelay?: number;
  /** Each time a connection opens. */
  onOpen?: (event: Event) => void;
  /** Each message, on every connection. */
  onMessage?: (event: MessageEvent) => void;
  /** Each close, explained; calling close() in it stops the client. */
  onClose?: (event: CloseEvent, description: CloseDescription) => void;
  /** When the next connection is scheduled: in `delay` ms, after the close `description`. */
  onReconnect?: (delay: number, description: CloseDescription) => void;
  /** The constructor to open connections with; the global WebSocket when left out. */
  WebSocket?: WebSocketConstructor;
  /** The source of jitter, as Math.random (for tests). */
  random?: () => number;
  /** The timer to wait with, as the global setTimeout (for tests). */
  setTimeout?: (callback: () => void, delay: number) => unknown;
  /** The counterpart of `setTimeout`, as the global clearTimeout (for tests). */
  clearTimeout?(handle: unknown): void;
  /** Where to read `navigator.onLine` and listen for `online`; the page's window. */
  window?: OnlineStatus;
}

/** A connection that comes back by itself: what connect() returns. */
export interface Connection {
  /** Send on the open connection; false, and nothing sent, while none is open. */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): boolean;
  /** Close for good: no reconnect after it. */
  close(code?: number, reason?: string): void;
  /** The WebSocket of the current connection, or of the last one. */
  readonly socket: WebSocket;
}

/**
 * Open a WebSocket that comes back by itself, as each close code says: never after "no",
 * soon after "yes", with capped, jittered exponential backoff after "backoff".
 * @param url The address, or a function that gives it for each new connection.
 * @throws {TypeError} Without a WebSocket constructor (Node.js before 22: pass one).
 * @throws {RangeError} For a `maxDelay` that is not a finite number of ms, or an unknown `lang`.
 */
export declare function connect(
  url: string | URL | (() => string | URL),
  options?: ConnectOptions,
): Connection;
