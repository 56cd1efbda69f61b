// The admin console: the pending queue kept live by adminEnrollmentEvents, decisions, and the job list.
import { SessionExpired, chrome, connectLive, graphql, indicator, messageOf, money, session, sessionButtons } from "./live.js";
import { APPROVE, BULK, EVENTS, JOBS, PENDING, REJECT, RETRY_JOB } from "./documents.js";

const MAX_REMEMBERED = 1000;
const JOBS_IN_FLIGHT_MS = 2000;
const JOBS_RETRY_MS = 5000;
const JOB_KINDS = {
  PROVISION_ACCESS: "Provision access",
  NOTIFY_STUDENT: "Notify student",
  RECONCILE_PAYMENT: "Reconcile payment",
  NOTIFY_ADMINS: "Alert admins",
};

const auth = session("admin");
const signedIn = auth.current();
const token = signedIn?.token;
const show = indicator(document.getElementById("connection"));
const { say, showSession, expired } = chrome(auth, show);
const pendingBody = document.querySelector("#pending tbody");
const bulkButton = document.getElementById("bulk-approve");
const selectAll = document.getElementById("select-all");
const jobStatus = document.getElementById("job-status");

const known = new Map(); // enrollment id -> the newest version seen
const rows = new Map(); // enrollment id -> <tr>, only those awaiting approval
let touchedDuringResync = null;
let jobsTimer;

function failed(error) {
  if (error instanceof SessionExpired) expired();
  else say(messageOf(error));
}

function apply(enrollment) {
  const seen = known.get(enrollment.id);
  if (seen && enrollment.version < seen.version) return; // an older state than shown
  remember(enrollment);
  touchedDuringResync?.set(enrollment.id, enrollment);
  if (enrollment.status === "AWAITING_APPROVAL") showRow(enrollment);
  else removeRow(enrollment.id);
}

// Versions are kept for the rows shown and a bounded number of recently seen others.
function remember(enrollment) {
  known.delete(enrollment.id);
  known.set(enrollment.id, enrollment);
  if (known.size <= MAX_REMEMBERED) return;
  for (const id of known.keys()) {
    if (!rows.has(id)) {
      known.delete(id);
      return;
    }
  }
}

function showRow(enrollment) {
  let row = rows.get(enrollment.id);
  if (!row) {
    row = newRow(enrollment.id);
    rows.set(enrollment.id, row);
    // Oldest first, like pendingEnrollments.
    const later = [...rows.entries()].find(([id]) => id !== enrollment.id && known.get(id).createdAt > enrollment.createdAt);
    pendingBody.insertBefore(row, later ? later[1] : null);
  }
  const cell = (name) => row.querySelector(`.${name}`);
  const student = enrollment.userEmail ? `${enrollment.userEmail} · ${enrollment.userId}` : enrollment.userId;
  cell("student").textContent = student;
  cell("course").textContent = enrollment.course.title;
  cell("due").textContent = money(enrollment.amountDue);
  cell("paid").textContent = money(enrollment.amountPaid);
  cell("reference").textContent = enrollment.paymentReference ?? "";
  cell("since").textContent = new Date(enrollment.createdAt).toLocaleString();
  row.querySelector(".select").setAttribute("aria-label", `Select ${student}, ${enrollment.course.title}`);
  updateToolbar();
}

function removeRow(id) {
  rows.get(id)?.remove();
  rows.delete(id);
  updateToolbar();
}

function selectedIds() {
  return [...rows.entries()].filter(([, row]) => row.querySelector(".select").checked).map(([id]) => id);
}

function updateToolbar() {
  const selected = selectedIds().length;
  bulkButton.disabled = selected === 0;
  bulkButton.textContent = selected ? `Approve selected (${selected})` : "Approve selected";
  selectAll.checked = rows.size > 0 && selected === rows.size;
  pendingBody.closest(".table-wrap").hidden = rows.size === 0;
  document.getElementById("pending-count").textContent =
    rows.size === 0 ? "Nothing is waiting for approval." : `${rows.size} waiting`;
}

function newRow(id) {
  const row = document.getElementById("pending-row").content.firstElementChild.cloneNode(true);
  row.dataset.enrollmentId = id;
  const message = row.querySelector(".message");
  const approve = row.querySelector(".approve");
  const reject = row.querySelector(".reject");
  const reason = reject.elements.reason;
  const rejectButton = reject.querySelector("button");
  row.querySelector(".select").addEventListener("change", updateToolbar);
  reason.addEventListener("input", () => (rejectButton.disabled = !reason.value.trim()));
  const decide = async (button, query, variables, field) => {
    button.disabled = true;
    message.textContent = "";
    try {
      const result = (await graphql(query, variables, token))[field];
      message.textContent = result.errors.map((e) => e.message).join(" ");
      if (result.enrollment) apply(result.enrollment);
    } catch (error) {
      if (error instanceof SessionExpired) expired();
      else message.textContent = messageOf(error);
    } finally {
      button.disabled = button === rejectButton && !reason.value.trim();
    }
  };
  approve.addEventListener("click", () => decide(approve, APPROVE, { id }, "approveEnrollment"));
  reject.addEventListener("submit", (event) => {
    event.preventDefault();
    if (reason.value.trim()) decide(rejectButton, REJECT, { id, reason: reason.value.trim() }, "rejectEnrollment");
  });
  return row;
}

// Re-read the queue; events that arrive meanwhile win over the (older) snapshot.
async function resync() {
  touchedDuringResync = new Map();
  try {
    const { pendingEnrollments } = await graphql(PENDING, {}, token);
    const fresh = new Map(pendingEnrollments.edges.map(({ node }) => [node.id, node]));
    for (const [id, enrollment] of touchedDuringResync) {
      if (!fresh.has(id) || fresh.get(id).version < enrollment.version) fresh.set(id, enrollment);
    }
    for (const id of [...rows.keys()]) if (!fresh.has(id)) removeRow(id); // decided while we were away
    for (const enrollment of fresh.values()) apply(enrollment);
    say("");
  } catch (error) {
    failed(error);
  } finally {
    touchedDuringResync = null;
  }
  await loadJobs();
}

async function loadJobs() {
  try {
    const { jobs, jobStats } = await graphql(JOBS, { status: jobStatus.value || null }, token);
    const { pending, running, succeeded, dead } = jobStats;
    document.getElementById("job-stats").textContent =
      `${pending} pending · ${running} running · ${succeeded} succeeded · ${dead} dead`;
    const body = document.querySelector("#jobs tbody");
    body.replaceChildren(...jobs.edges.map(({ node }) => jobRow(node)));
    if (!jobs.edges.length) {
      const cell = body.insertRow().insertCell();
      cell.colSpan = 7;
      cell.textContent = "No jobs.";
    }
    // Job progress is not pushed (only access changes are): look again while any is in flight.
    if (pending + running > 0) jobsSoon(JOBS_IN_FLIGHT_MS);
  } catch (error) {
    failed(error);
    // A server restarting or a network blip: look again later, not only at the next event.
    if (!(error instanceof SessionExpired)) jobsSoon(JOBS_RETRY_MS);
  }
}

function jobRow(job) {
  const row = document.createElement("tr");
  const cells = [
    JOB_KINDS[job.kind],
    job.enrollmentId,
    job.status.toLowerCase(),
    String(job.attempts),
    job.lastError ?? "",
    job.nextRunAt ? new Date(job.nextRunAt).toLocaleTimeString() : "",
  ];
  for (const text of cells) row.insertCell().textContent = text;
  const action = row.insertCell();
  if (job.status === "DEAD") {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Retry";
    button.setAttribute("aria-label", `Retry ${JOB_KINDS[job.kind]} for ${job.enrollmentId}`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const { retryJob } = await graphql(RETRY_JOB, { id: job.id }, token);
        say(retryJob.errors.map((e) => e.message).join(" "));
      } catch (error) {
        failed(error);
      }
      await loadJobs();
    });
    action.append(button);
  }
  return row;
}

function listen(client) {
  client.subscribe(
    { query: EVENTS },
    {
      next: ({ data }) => {
        if (!data) return;
        apply(data.adminEnrollmentEvents.enrollment);
        jobsSoon();
      },
      // RESYNC_REQUIRED (this tab fell behind and missed events): listen again, re-read.
      error: (error) => {
        if (!Array.isArray(error)) return;
        listen(client);
        resync();
      },
      complete: () => {},
    },
  );
}

// Jobs are not pushed; an enrollment event is the hint that they moved.
function jobsSoon(ms = 300) {
  clearTimeout(jobsTimer);
  jobsTimer = setTimeout(loadJobs, ms);
}

async function bulkApprove() {
  const ids = selectedIds();
  bulkButton.disabled = true;
  try {
    const { bulkApproveEnrollments } = await graphql(BULK, { ids }, token);
    bulkApproveEnrollments.approved.forEach(apply);
    say(bulkApproveEnrollments.errors.map((e) => e.message).join(" "));
  } catch (error) {
    failed(error);
  } finally {
    updateToolbar();
  }
}

sessionButtons(auth, say);
bulkButton.addEventListener("click", bulkApprove);
selectAll.addEventListener("change", () => {
  for (const row of rows.values()) row.querySelector(".select").checked = selectAll.checked;
  updateToolbar();
});
document.getElementById("refresh").addEventListener("click", resync);
jobStatus.addEventListener("change", loadJobs);
showSession(signedIn);
updateToolbar();

if (!token) {
  show("off");
  say("Sign in as the demo admin to see the queue.");
} else {
  listen(connectLive({ token, show, onConnected: resync, onExpired: expired }));
}
