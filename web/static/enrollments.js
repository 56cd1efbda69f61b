// Enrollment search: every filter of enrollments(filter:), keyset pages, bulk reject, CSV export;
// re-read live as events arrive.
import { SessionExpired, chrome, connectLive, graphql, indicator, messageOf, money, session, sessionButtons } from "./live.js";
import { BULK_REJECT, ENROLLMENT_EVENTS, SEARCH } from "./documents.js";

const PAGE_SIZE = 25; // as SEARCH asks for

const auth = session("admin");
const signedIn = auth.current();
const token = signedIn?.token;
const show = indicator(document.getElementById("connection"));
const { say, showSession, expired } = chrome(auth, show);
const form = document.getElementById("filters");
const body = document.querySelector("#results tbody");
const reject = document.getElementById("bulk-reject");
const selectAll = document.getElementById("select-all");
let cursors = [null]; // the cursor each shown page started after
let next = null;
let timer;

function failed(error) {
  if (error instanceof SessionExpired) expired();
  else say(messageOf(error));
}

// The form as the filter: empty fields are left out; dates are whole UTC days.
function filter() {
  const values = Object.fromEntries([...new FormData(form)].filter(([, v]) => String(v).trim()));
  for (const name of ["createdFrom", "createdTo"]) {
    if (values[name]) values[name] = `${values[name]}T00:00:00Z`;
  }
  return values;
}

function selected() {
  return [...body.querySelectorAll(".select:checked")].map((box) => box.closest("tr").dataset.enrollmentId);
}

function updateToolbar() {
  const count = selected().length;
  const button = reject.querySelector("button");
  button.disabled = count === 0 || !reject.elements.reason.value.trim();
  button.textContent = count ? `Reject selected (${count})` : "Reject selected";
}

function row(node) {
  const tr = document.createElement("tr");
  tr.dataset.enrollmentId = node.id;
  const box = document.createElement("input");
  box.type = "checkbox";
  box.className = "select";
  box.setAttribute("aria-label", `Select ${node.userEmail ?? node.userId}, ${node.course.title}`);
  box.addEventListener("change", updateToolbar);
  tr.insertCell().append(box);
  const cells = [
    new Date(node.createdAt).toLocaleString(),
    node.userEmail ?? "",
    node.userId,
    node.course.title,
    node.status,
    node.paymentMethod,
    money(node.amountDue),
    node.paymentReference ?? "",
  ];
  for (const text of cells) tr.insertCell().textContent = text;
  return tr;
}

async function load() {
  try {
    const { enrollments } = await graphql(SEARCH, { filter: filter(), after: cursors.at(-1) }, token);
    body.replaceChildren(...enrollments.edges.map(({ node }) => row(node)));
    next = enrollments.pageInfo.hasNextPage ? enrollments.pageInfo.endCursor : null;
    const first = (cursors.length - 1) * PAGE_SIZE;
    document.getElementById("total").textContent = enrollments.totalCount
      ? `${first + 1} to ${first + enrollments.edges.length} of ${enrollments.totalCount}`
      : "No enrollments match.";
    document.getElementById("next-page").disabled = !next;
    document.getElementById("first-page").disabled = cursors.length === 1;
    selectAll.checked = false;
  } catch (error) {
    failed(error);
  }
  updateToolbar();
}

async function exportCsv() {
  const params = new URLSearchParams(filter());
  try {
    const response = await fetch(`/admin/enrollments.csv?${params}`, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) {
      const problem = await response.json().catch(() => null);
      throw new Error(problem?.error?.message ?? `Export failed (${response.status}).`);
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = (response.headers.get("content-disposition") ?? "").match(/filename="(.+)"/)?.[1] ?? "enrollments.csv";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    failed(error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  say(""); // a new search: the last action's message no longer applies
  cursors = [null];
  load();
});
document.getElementById("next-page").addEventListener("click", () => {
  cursors.push(next);
  load();
});
document.getElementById("first-page").addEventListener("click", () => {
  cursors = [null];
  load();
});
document.getElementById("export").addEventListener("click", exportCsv);
reject.elements.reason.addEventListener("input", updateToolbar);
reject.addEventListener("submit", async (event) => {
  event.preventDefault();
  const ids = selected();
  try {
    const variables = { ids, reason: reject.elements.reason.value.trim() };
    const { bulkRejectEnrollments } = await graphql(BULK_REJECT, variables, token);
    const done = bulkRejectEnrollments.rejected.length;
    say([`${done} rejected.`, ...bulkRejectEnrollments.errors.map((e) => e.message)].join(" "));
    reject.reset();
  } catch (error) {
    failed(error);
  }
  await load();
});
selectAll.addEventListener("change", () => {
  for (const box of body.querySelectorAll(".select")) box.checked = selectAll.checked;
  updateToolbar();
});
sessionButtons(auth, say);
showSession(signedIn);

// A change anywhere may move a row of this page: read the page again, at most a few times a second.
function soon() {
  clearTimeout(timer);
  timer = setTimeout(load, 300);
}

if (!token) {
  show("off");
  say("Sign in as the demo admin to search.");
} else {
  const client = connectLive({ token, show, onConnected: load, onExpired: expired });
  client.subscribe({ query: ENROLLMENT_EVENTS }, { next: soon, error: soon, complete: () => {} });
}
