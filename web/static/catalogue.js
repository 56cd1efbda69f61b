// The catalogue: one card per published course, each bound to its courseCard subscription.
import { SessionExpired, chrome, connectLive, graphql, indicator, messageOf, money, session } from "./live.js";
import { CARDS, ENROLL, LIVE_CARD, RETRY, RETRY_ACCESS } from "./documents.js";

const STATUS = {
  PENDING_PAYMENT: "Waiting for your payment.",
  AWAITING_APPROVAL: "Waiting for an admin to confirm your bank transfer.",
  APPROVED: "You are enrolled.",
  REJECTED: "Your enrollment was rejected.",
  PAYMENT_FAILED: "Your payment failed.",
  CANCELLED: "Your enrollment was cancelled.",
  REVOKED: "Your access was withdrawn (a refund or a chargeback); you may enroll again.",
};
const ACTIVE = new Set(["PENDING_PAYMENT", "AWAITING_APPROVAL", "APPROVED", "PAYMENT_FAILED"]);
const ACCESS = {
  NOT_STARTED: "Access: queued.",
  PENDING: "Access: being set up…",
  PROVISIONED: "Access: ready.",
  FAILED: "Access: setup failed; Continue Course tries again.",
  REVOKED: "Access: withdrawn.",
};

const auth = session("student");
const signedIn = auth.current();
const token = signedIn?.token;
const show = indicator(document.getElementById("connection"));
const { say, showSession, expired } = chrome(auth, show);
const list = document.getElementById("cards");
const cards = new Map(); // courseId -> { el, card, busy }

// The checkout link belongs to the enrollment, and every tab of this browser may show it.
const checkoutKey = (enrollmentId) => `enrollwire.checkout.${enrollmentId}`;

function stateText(enrollment) {
  const parts = [STATUS[enrollment.status]];
  if (enrollment.status === "REJECTED" && enrollment.rejectionReason) parts.push(`Reason: ${enrollment.rejectionReason}.`);
  if (enrollment.status === "AWAITING_APPROVAL" && enrollment.paymentReference) {
    parts.push(`Quote ${enrollment.paymentReference} on the transfer.`);
  }
  if (enrollment.couponCode && ACTIVE.has(enrollment.status)) parts.push(`Coupon ${enrollment.couponCode}: ${money(enrollment.amountDue)} due.`);
  return parts.join(" ");
}

function render(courseId, card) {
  const entry = cards.get(courseId);
  if (entry.card && card.version < entry.card.version) return; // older than what is shown
  entry.card = card;
  const { el } = entry;
  const part = (selector) => el.querySelector(selector);
  const enrollment = card.enrollment;
  el.dataset.action = card.action;
  part(".title").textContent = card.course.title;
  part(".price").textContent = money(card.course.price);
  part(".state").textContent = enrollment ? stateText(enrollment) : "";
  part(".access").textContent = enrollment && card.hasAccess ? ACCESS[enrollment.access.status] : "";
  part(".enroll-options").hidden = card.action !== "INITIATE_ENROLLMENT";
  const button = part(".action");
  button.textContent = card.buttonText;
  button.disabled = card.disabled || entry.busy;
  let checkout = null;
  if (enrollment) {
    if (enrollment.status === "PENDING_PAYMENT") checkout = localStorage.getItem(checkoutKey(enrollment.id));
    else localStorage.removeItem(checkoutKey(enrollment.id));
  }
  part(".checkout").hidden = !checkout;
  if (checkout) part(".checkout a").href = checkout;
}

async function act(courseId, query, variables, field) {
  const entry = cards.get(courseId);
  const message = entry.el.querySelector(".message");
  entry.busy = true;
  render(courseId, entry.card);
  message.textContent = "";
  try {
    const result = (await graphql(query, variables, token))[field];
    message.textContent = result.errors.map((e) => e.message).join(" ");
    const enrollment = result.card?.enrollment;
    if (enrollment && result.payment?.redirectUrl) {
      localStorage.setItem(checkoutKey(enrollment.id), result.payment.redirectUrl);
    }
    if (result.card) render(courseId, result.card);
  } catch (error) {
    if (error instanceof SessionExpired) expired();
    else message.textContent = messageOf(error);
  } finally {
    entry.busy = false;
    render(courseId, entry.card);
  }
}

function onSubmit(courseId, form) {
  const { card } = cards.get(courseId);
  const message = cards.get(courseId).el.querySelector(".message");
  switch (card.action) {
    case "REDIRECT_TO_AUTH":
      return signIn();
    case "INITIATE_ENROLLMENT": {
      const couponCode = form.elements.coupon.value.trim() || null;
      const input = { courseId, paymentMethod: form.elements.payment.value, couponCode };
      return act(courseId, ENROLL, { input }, "enroll");
    }
    case "RETRY_PAYMENT":
      return act(courseId, RETRY, { id: card.enrollment.id }, "retryPayment");
    case "CONTINUE_COURSE":
      // The server only hands out http(s) launch URLs the learning platform answered.
      if (card.continueUrl) return window.location.assign(card.continueUrl);
      if (card.enrollment.access.status === "FAILED") {
        return act(courseId, RETRY_ACCESS, { id: card.enrollment.id }, "retryAccess");
      }
      message.textContent = "Your access is still being set up; the course opens once it is ready.";
  }
}

function addCard(card) {
  const courseId = card.course.id;
  const el = document.getElementById("card").content.firstElementChild.cloneNode(true);
  el.dataset.courseId = courseId;
  const form = el.querySelector("form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onSubmit(courseId, form);
  });
  list.append(el);
  cards.set(courseId, { el, card: null, busy: false });
  render(courseId, card);
  // The first message is the current state, also after every reconnect: that is the resync.
  client.subscribe(
    { query: LIVE_CARD, variables: { courseId } },
    {
      next: ({ data }) => data?.courseCard && render(courseId, data.courseCard),
      // A close event (expired session) is the connection's business; GraphQL errors are this card's.
      error: (error) => {
        if (Array.isArray(error)) {
          el.querySelector(".message").textContent = `Live updates stopped: ${messageOf(error)}. Reload to retry.`;
        }
      },
      complete: () => {},
    },
  );
}

async function loadCards() {
  const { courseCards } = await graphql(CARDS, {}, token);
  for (const card of courseCards) {
    if (cards.has(card.course.id)) render(card.course.id, card);
    else addCard(card);
  }
  if (!cards.size) {
    say("No courses are published yet.");
    show("off");
  }
}

// Back from the card gateway (/app/checkout/<outcome>?course=<id>): say what happened and
// bring that course's live card into view; it turns to Continue Course when the payment lands.
const RETURNS = {
  success: "Thank you. Your payment is being confirmed: this card turns to Continue Course as soon as it is.",
  failure: "Your payment did not go through. You can retry it from the card.",
  cancel: "You left the checkout. You can pay from the card whenever you are ready.",
};

function focusReturn() {
  const outcome = location.pathname.match(/^\/app\/checkout\/(success|failure|cancel)$/)?.[1];
  if (!outcome) return;
  say(RETURNS[outcome]);
  const entry = cards.get(new URLSearchParams(location.search).get("course"));
  if (!entry) return;
  entry.el.classList.add("returned");
  entry.el.scrollIntoView({ block: "center" });
}

async function start() {
  try {
    await loadCards();
    say("");
    focusReturn();
  } catch (error) {
    if (error instanceof SessionExpired) return expired();
    say(`Could not load the courses (${messageOf(error)}); trying again…`);
    setTimeout(start, 2000);
  }
}

async function signIn() {
  try {
    await auth.signIn();
    location.reload();
  } catch (error) {
    say(messageOf(error));
  }
}

document.getElementById("sign-in").addEventListener("click", signIn);
document.getElementById("sign-out").addEventListener("click", () => {
  auth.signOut();
  location.reload();
});
auth.onChange(() => location.reload());
showSession(signedIn);

const client = connectLive({
  token,
  show,
  onConnected: (reconnected) => (reconnected ? loadCards().catch(() => {}) : undefined),
  onExpired: expired,
});
start();
