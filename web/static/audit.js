// The audit log for admins: filters (actor, action, enrollment, time range), newest first,
// keyset-paged with Load more. The filters live in the address, so a filtered view can be linked.
import { SessionExpired, chrome, graphql, messageOf, session, sessionButtons } from "./live.js";
import { AUDIT } from "./documents.js";
import { actorText, enrollmentLink, when } from "./records.js";

const TEXT_FILTERS = ["actorId", "action", "enrollmentId"];
const TIME_FILTERS = ["from", "to"];
const DEFAULT_PAGE = 50;

const auth = session("admin");
const signedIn = auth.current();
const token = signedIn?.token;
// No live connection here: the page is a query; an expired session is said in the notice.
const { say, showSession, expired } = chrome(auth, () => {});
const form = document.getElementById("filters");
const body = document.querySelector("#entries tbody");
const more = document.getElementById("more");
const count = document.getElementById("count");

let query = null; // the filter and page size of what is shown
let endCursor = null;
let generation = 0; // a new search outdates the pages still arriving for the previous one

// The form's local times as the server's instants (datetime-local has no zone).
function filterFromForm() {
  const filter = {};
  for (const name of TEXT_FILTERS) {
    const value = form.elements[name].value.trim();
    if (value) filter[name] = value;
  }
  for (const name of TIME_FILTERS) {
    const value = form.elements[name].value;
    if (value) filter[name] = new Date(value).toISOString();
  }
  const first = Number.parseInt(form.elements.first.value, 10) || DEFAULT_PAGE;
  return { filter, first };
}

function formFromAddress() {
  const params = new URLSearchParams(location.search);
  for (const name of [...TEXT_FILTERS, ...TIME_FILTERS, "first"]) {
    if (params.has(name)) form.elements[name].value = params.get(name);
  }
}

function addressFromForm() {
  const params = new URLSearchParams();
  for (const name of [...TEXT_FILTERS, ...TIME_FILTERS]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  const first = form.elements.first.value;
  if (first && Number(first) !== DEFAULT_PAGE) params.set("first", first);
  const search = params.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function entryRow(entry) {
  const row = document.createElement("tr");
  row.dataset.entryId = entry.id;
  const time = row.insertCell();
  time.className = "time";
  time.textContent = when(entry.at);
  const actor = row.insertCell();
  actor.className = "actor";
  actor.textContent = actorText(entry.actor);
  row.insertCell().textContent = entry.action;
  const enrollment = row.insertCell();
  if (entry.enrollmentId) enrollment.append(enrollmentLink(entry.enrollmentId));
  row.insertCell().textContent = entry.targetId ?? "";
  const detail = row.insertCell();
  detail.className = "detail";
  if (entry.detail) {
    const code = document.createElement("code");
    code.textContent = entry.detail;
    detail.append(code);
  }
  return row;
}

function showCount(total) {
  const shown = body.rows.length;
  count.textContent = total === 0 ? "No entries match." : `Showing ${shown} of ${total} entries, newest first.`;
}

async function load(after) {
  const mine = generation;
  more.disabled = true;
  try {
    const { auditLog } = await graphql(AUDIT, { ...query, after }, token);
    if (mine !== generation) return;
    const rows = auditLog.edges.map(({ node }) => entryRow(node));
    if (after) body.append(...rows);
    else body.replaceChildren(...rows);
    endCursor = auditLog.pageInfo.endCursor;
    more.hidden = !auditLog.pageInfo.hasNextPage;
    showCount(auditLog.totalCount);
    say("");
  } catch (error) {
    if (error instanceof SessionExpired) expired();
    else say(messageOf(error));
  } finally {
    more.disabled = false;
  }
}

function search() {
  query = filterFromForm();
  endCursor = null;
  generation += 1;
  return load(null);
}

sessionButtons(auth, say);
showSession(signedIn);
form.addEventListener("submit", (event) => {
  event.preventDefault();
  addressFromForm();
  search();
});
// After the reset has cleared the fields: show everything again.
form.addEventListener("reset", () =>
  setTimeout(() => {
    addressFromForm();
    search();
  }),
);
more.addEventListener("click", () => load(endCursor));

formFromAddress();
if (!token) say("Sign in as the demo admin to read the audit log.");
else search();
