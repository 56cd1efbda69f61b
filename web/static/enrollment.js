// One enrollment for an admin: its details, its timeline (history with actors), and Revoke.
// Kept live by adminEnrollmentEvents: an event for this enrollment makes the page re-read it.
import { SessionExpired, chrome, connectLive, graphql, indicator, messageOf, money, session, sessionButtons } from "./live.js";
import { ENROLLMENT, ENROLLMENT_EVENTS, REVOKE } from "./documents.js";
import { actorText, when } from "./records.js";

const id = new URLSearchParams(location.search).get("id");
const auth = session("admin");
const signedIn = auth.current();
const token = signedIn?.token;
const show = indicator(document.getElementById("connection"));
const { say, showSession, expired } = chrome(auth, show);
const revokeForm = document.getElementById("revoke");
const reason = revokeForm.elements.reason;
const revokeButton = revokeForm.querySelector("button");
const revokeMessage = document.getElementById("revoke-message");

let shownVersion = -1;
let reading = null; // the read in flight
let readAgain = false; // an event arrived while reading: its change may be newer than that read

function failed(error) {
  if (error instanceof SessionExpired) expired();
  else say(messageOf(error));
}

function render(enrollment) {
  // Access changes keep the version, so an equal version is shown (it may carry them).
  if (enrollment.version < shownVersion) return;
  shownVersion = enrollment.version;
  const text = {
    id: enrollment.id,
    status: enrollment.status,
    student: enrollment.userId,
    userEmail: enrollment.userEmail ?? "",
    course: `${enrollment.course.title} (${enrollment.courseId})`,
    paymentMethod: enrollment.paymentMethod,
    amountDue: money(enrollment.amountDue),
    amountPaid: money(enrollment.amountPaid),
    couponCode: enrollment.couponCode ?? "",
    paymentReference: enrollment.paymentReference ?? "",
    gatewayTransactionId: enrollment.gatewayTransactionId ?? "",
    createdAt: when(enrollment.createdAt),
    approvedAt: when(enrollment.approvedAt),
    rejectedAt: when(enrollment.rejectedAt),
    revokedAt: when(enrollment.revokedAt),
    decidedBy: enrollment.decidedBy ?? "",
    rejectionReason: enrollment.rejectionReason ?? "",
    access: accessText(enrollment.access),
    version: String(enrollment.version),
  };
  for (const [field, value] of Object.entries(text)) {
    document.querySelector(`[data-field="${field}"]`).textContent = value;
  }
  const status = document.querySelector('[data-field="status"]');
  status.classList.add("status");
  status.dataset.status = enrollment.status;
  document.getElementById("audit-link").href = `/app/admin/audit?enrollmentId=${encodeURIComponent(enrollment.id)}`;
  document.querySelector("#timeline tbody").replaceChildren(...enrollment.history.map(changeRow));
  document.getElementById("revoke-section").hidden = enrollment.status !== "APPROVED";
  for (const section of ["details", "timeline-section"]) document.getElementById(section).hidden = false;
}

function accessText({ status, attempts, lastError }) {
  const tries = attempts ? ` after ${attempts} attempt${attempts === 1 ? "" : "s"}` : "";
  return `${status.toLowerCase().replaceAll("_", " ")}${tries}${lastError ? `: ${lastError}` : ""}`;
}

function changeRow(change) {
  const row = document.createElement("tr");
  const from = change.previousStatus ? `${change.previousStatus} → ` : "";
  const cells = [when(change.at), `${from}${change.status}`, actorText(change.actor), change.action, change.reason ?? ""];
  cells.forEach((text, i) => {
    const cell = row.insertCell();
    cell.textContent = text;
    if (i === 0) cell.className = "time";
  });
  return row;
}

// One read at a time; events during a read ask for one more, so the last change is never missed.
async function read() {
  if (reading) {
    readAgain = true;
    return reading;
  }
  reading = (async () => {
    do {
      readAgain = false;
      try {
        const { enrollment } = await graphql(ENROLLMENT, { id }, token);
        if (!enrollment) {
          say(`There is no enrollment ${id}.`);
          return;
        }
        render(enrollment);
        say("");
      } catch (error) {
        failed(error);
        return;
      }
    } while (readAgain);
  })();
  try {
    await reading;
  } finally {
    reading = null;
  }
}

function listen(client) {
  client.subscribe(
    { query: ENROLLMENT_EVENTS },
    {
      next: ({ data }) => {
        if (data?.adminEnrollmentEvents.enrollment.id === id) read();
      },
      // RESYNC_REQUIRED (this tab fell behind and missed events): listen again, re-read.
      error: (error) => {
        if (!Array.isArray(error)) return;
        listen(client);
        read();
      },
      complete: () => {},
    },
  );
}

async function revoke(event) {
  event.preventDefault();
  const why = reason.value.trim();
  if (!why) return;
  revokeButton.disabled = true;
  revokeMessage.textContent = "";
  try {
    const { revokeEnrollment } = await graphql(REVOKE, { id, reason: why }, token);
    revokeMessage.textContent = revokeEnrollment.errors.map((e) => e.message).join(" ");
    if (revokeEnrollment.enrollment) {
      render(revokeEnrollment.enrollment);
      reason.value = "";
    }
  } catch (error) {
    if (error instanceof SessionExpired) expired();
    else revokeMessage.textContent = messageOf(error);
  } finally {
    revokeButton.disabled = !reason.value.trim();
  }
}

sessionButtons(auth, say);
reason.addEventListener("input", () => (revokeButton.disabled = !reason.value.trim()));
revokeForm.addEventListener("submit", revoke);
showSession(signedIn);

if (!id) {
  show("off");
  say("No enrollment given: open one from the audit log.");
} else if (!token) {
  show("off");
  say("Sign in as the demo admin to see this enrollment.");
} else {
  document.title = `Enrollment ${id} · enrollwire`;
  listen(connectLive({ token, show, onConnected: read, onExpired: expired }));
}
