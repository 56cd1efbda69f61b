// What the pages share: the session (a token in localStorage), GraphQL over HTTP, and the
// live connection (graphql-transport-ws through the vendored graphql-ws client).
import { createClient } from "./vendor/graphql-ws/client.js";

const CLOSE_FORBIDDEN = 4403; // bad or expired token: retrying with the same token cannot help
const PING_EVERY_MS = 10_000;
const PONG_WITHIN_MS = 5_000;
const RETRY_CAP_MS = 8_000;

export class SessionExpired extends Error {}

// One session per page kind, so a developer can be the demo student in one tab and the
// demo admin in another; tabs of the same kind share it (localStorage), like a cookie.
export function session(role) {
  const key = `enrollwire.session.${role}`;
  const read = () => {
    try {
      const saved = JSON.parse(localStorage.getItem(key) ?? "null");
      return saved && saved.expiresAt > Date.now() ? saved : null;
    } catch {
      return null;
    }
  };
  return {
    current: read,
    async signIn() {
      const response = await fetch("/app/dev/sign-in", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ role }),
      });
      if (!response.ok) {
        throw new Error(response.status === 404 ? "Demo sign-in is only available in development." : `Sign-in failed (${response.status}).`);
      }
      const { token, userId, expiresIn } = await response.json();
      localStorage.setItem(key, JSON.stringify({ token, userId, expiresAt: Date.now() + expiresIn * 1000 }));
    },
    signOut() {
      localStorage.removeItem(key);
    },
    // Another tab signed in or out: follow it.
    onChange(callback) {
      window.addEventListener("storage", (event) => event.key === key && callback());
    },
  };
}

export async function graphql(query, variables, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  const error = body.errors?.[0];
  if (error) {
    if (error.extensions?.code === "UNAUTHENTICATED") throw new SessionExpired(error.message);
    throw new Error(error.message);
  }
  return body.data;
}

const STATES = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  expired: "Session expired: sign in again",
  off: "Not connected",
};

export function indicator(element) {
  return (state) => {
    element.dataset.state = state;
    element.textContent = STATES[state];
  };
}

// Full jitter, capped: after a server restart every tab comes back within seconds, spread out.
// Coming back online skips the rest of the wait.
function retryWait(retries) {
  const ms = Math.min(RETRY_CAP_MS, 250 * 2 ** retries) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => {
    const done = new AbortController();
    const finish = () => {
      done.abort();
      resolve();
    };
    setTimeout(finish, ms);
    window.addEventListener("online", finish, { signal: done.signal });
  });
}

// `onConnected(reconnected)` runs each time the socket is (re)acknowledged; the indicator
// says Live only after it settled, so what the page shows is current by then.
export function connectLive({ token, show, onConnected, onExpired }) {
  let connectedBefore = false;
  let pongTimer;
  const client = createClient({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`,
    connectionParams: token ? { Authorization: `Bearer ${token}` } : undefined,
    retryAttempts: Infinity,
    retryWait,
    shouldRetry: (event) => event?.code !== CLOSE_FORBIDDEN,
    keepAlive: PING_EVERY_MS,
    on: {
      connecting: (retrying) => show(retrying ? "reconnecting" : "connecting"),
      connected: async () => {
        const reconnected = connectedBefore;
        connectedBefore = true;
        try {
          await onConnected(reconnected);
        } finally {
          show("live");
        }
      },
      closed: (event) => {
        clearTimeout(pongTimer);
        if (event?.code === CLOSE_FORBIDDEN) {
          show("expired");
          onExpired();
        } else {
          show("reconnecting");
        }
      },
      // A dropped network often closes nothing: a ping left unanswered ends the socket.
      ping: (received) => {
        if (!received) pongTimer = setTimeout(() => client.terminate(), PONG_WITHIN_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
    },
  });
  window.addEventListener("offline", () => client.terminate());
  return client;
}

// What both pages show around their content: the notice line and who is signed in.
export function chrome(auth, show) {
  const notice = document.getElementById("notice");
  const say = (text) => {
    notice.textContent = text;
    notice.hidden = !text;
  };
  const showSession = (current) => {
    document.getElementById("who").textContent = current ? `Signed in as ${current.userId}` : "Not signed in";
    document.getElementById("sign-in").hidden = Boolean(current);
    document.getElementById("sign-out").hidden = !current;
  };
  const expired = () => {
    auth.signOut();
    show("expired");
    say("Your session expired. Sign in again.");
    showSession(null);
  };
  return { say, showSession, expired };
}

// The admin pages' Sign in / Sign out buttons: each reloads the page into the new session, as
// does a sign-in or sign-out in another tab.
export function sessionButtons(auth, say) {
  document.getElementById("sign-in").addEventListener("click", async () => {
    try {
      await auth.signIn();
      location.reload();
    } catch (error) {
      say(messageOf(error));
    }
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    auth.signOut();
    location.reload();
  });
  auth.onChange(() => location.reload());
}

const minorDigits = new Map();

// The currency's ISO 4217 exponent, as Intl knows it: 2 for ZAR, 0 for JPY, 3 for KWD.
function digitsOf(currency) {
  if (!minorDigits.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    } catch {
      // Not a well-formed code: shown with two digits rather than failing the page.
    }
    minorDigits.set(currency, digits);
  }
  return minorDigits.get(currency);
}

// Minor units to major, in integers (never a float): "129.00 ZAR", "1000 JPY", "1.234 KWD".
export function money({ amount, currency }) {
  const digits = digitsOf(currency);
  if (digits === 0) return `${amount} ${currency}`;
  const text = String(amount).padStart(digits + 1, "0");
  return `${text.slice(0, -digits)}.${text.slice(-digits)} ${currency}`;
}

export function messageOf(error) {
  return error instanceof Error ? error.message : Array.isArray(error) ? error.map((e) => e.message).join("; ") : String(error?.reason || error);
}
