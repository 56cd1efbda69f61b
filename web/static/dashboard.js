// The dashboard: dashboard(days) drawn with the vendored uPlot, read again as events arrive.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { SessionExpired, chrome, connectLive, graphql, indicator, messageOf, session, sessionButtons } from "./live.js";
import { DASHBOARD, DASHBOARD_EVENTS } from "./documents.js";

const STATUSES = {
  PENDING_PAYMENT: "#8a4b00",
  AWAITING_APPROVAL: "#1f5fbf",
  APPROVED: "#17663a",
  REJECTED: "#a3192c",
  PAYMENT_FAILED: "#6b3fa0",
  CANCELLED: "#4a5360",
  REVOKED: "#5c2a2a",
};
const METHODS = ["CARD", "EFT"];
const DAY = 86_400;

const auth = session("admin");
const signedIn = auth.current();
const token = signedIn?.token;
const show = indicator(document.getElementById("connection"));
const { say, showSession, expired } = chrome(auth, show);
const daysSelect = document.getElementById("days");
let perDayChart;
let conversionChart;
let timer;

const width = () => Math.max(320, Math.min(1100, document.querySelector("main").clientWidth - 40));

function duration(seconds) {
  if (seconds == null) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function figure(id, text) {
  document.querySelector(`#${id} strong`).textContent = text;
}

// One x value per day of the window (UTC midnights), a series per status; days without rows are 0.
function perDayData(dashboard, days) {
  const end = Math.floor(Date.now() / 1000 / DAY) * DAY;
  const xs = Array.from({ length: days + 1 }, (_, i) => end - (days - i) * DAY);
  const index = new Map(xs.map((x, i) => [new Date(x * 1000).toISOString().slice(0, 10), i]));
  const series = Object.keys(STATUSES).map(() => xs.map(() => 0));
  for (const { day, status, count } of dashboard.perDay) {
    const i = index.get(day);
    if (i !== undefined) series[Object.keys(STATUSES).indexOf(status)][i] = count;
  }
  return [xs, ...series];
}

function conversionData(dashboard) {
  const byMethod = new Map(dashboard.conversion.map((c) => [c.paymentMethod, c]));
  return [METHODS.map((_, i) => i), METHODS.map((m) => Math.round((byMethod.get(m)?.rate ?? 0) * 100))];
}

function draw(dashboard, days) {
  const data = perDayData(dashboard, days);
  if (!perDayChart || perDayChart.data[0].length !== data[0].length) {
    perDayChart?.destroy();
    perDayChart = new uPlot(
      {
        width: width(),
        height: 260,
        series: [{}, ...Object.entries(STATUSES).map(([label, stroke]) => ({ label, stroke, width: 2 }))],
        axes: [{}, { label: "enrollments" }],
      },
      data,
      document.getElementById("per-day"),
    );
  } else {
    perDayChart.setData(data);
  }
  const bars = conversionData(dashboard);
  if (!conversionChart) {
    conversionChart = new uPlot(
      {
        width: Math.min(width(), 480),
        height: 220,
        scales: { x: { time: false, range: [-0.5, METHODS.length - 0.5] }, y: { range: [0, 100] } },
        series: [{}, { label: "approved %", fill: "#1f5fbf", stroke: "#1f5fbf", paths: uPlot.paths.bars({ size: [0.5] }), points: { show: false } }],
        axes: [{ values: (_, ticks) => ticks.map((t) => METHODS[t] ?? "") , splits: () => METHODS.map((_, i) => i) }, { label: "%" }],
        legend: { show: false },
      },
      bars,
      document.getElementById("conversion"),
    );
  } else {
    conversionChart.setData(bars);
  }
  document.getElementById("conversion-text").textContent = dashboard.conversion
    .map((c) => `${c.paymentMethod}: ${c.approved} of ${c.enrolled} approved (${Math.round(c.rate * 100)}%)`)
    .join(" · ");
}

async function load() {
  const days = Number(daysSelect.value);
  try {
    const { dashboard } = await graphql(DASHBOARD, { days }, token);
    figure("pending", String(dashboard.pendingApprovals));
    figure("jobs", `${dashboard.jobs.pending} / ${dashboard.jobs.dead}`);
    const { paymentConfirmation: paid, approvalWait: waited } = dashboard;
    figure("paid", `${duration(paid.p50Seconds)} / ${duration(paid.p90Seconds)}`);
    figure("waited", `${duration(waited.p50Seconds)} / ${duration(waited.p90Seconds)}`);
    draw(dashboard, days);
    document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    say("");
  } catch (error) {
    if (error instanceof SessionExpired) expired();
    else say(messageOf(error));
  }
}

// Events come in bursts (a bulk approval): read the dashboard once per burst.
function soon() {
  clearTimeout(timer);
  timer = setTimeout(load, 500);
}

daysSelect.addEventListener("change", load);
sessionButtons(auth, say);
showSession(signedIn);

if (!token) {
  show("off");
  say("Sign in as the demo admin to see the dashboard.");
} else {
  const client = connectLive({ token, show, onConnected: load, onExpired: expired });
  client.subscribe({ query: DASHBOARD_EVENTS }, { next: soon, error: soon, complete: () => {} });
}
