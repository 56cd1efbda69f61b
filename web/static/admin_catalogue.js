// Courses (change title, price, currency, publication) and coupons (list, withdraw).
import { SessionExpired, chrome, graphql, indicator, messageOf, money, session, sessionButtons } from "./live.js";
import { COUPONS, COURSES, DISABLE, UPDATE } from "./documents.js";


const auth = session("admin");
const signedIn = auth.current();
const token = signedIn?.token;
const show = indicator(document.getElementById("connection"));
const { say, showSession, expired } = chrome(auth, show);
const editor = document.getElementById("course-editor");
const couponBody = document.querySelector("#coupons tbody");
const more = document.getElementById("more-coupons");
let couponsAfter = null;

function failed(error) {
  if (error instanceof SessionExpired) expired();
  else say(messageOf(error));
}

async function loadCourses() {
  const { courseCards } = await graphql(COURSES, {}, token);
  const body = document.querySelector("#courses tbody");
  body.replaceChildren(
    ...courseCards.map(({ course }) => {
      const tr = document.createElement("tr");
      for (const text of [course.id, course.title, money(course.price), course.published ? "yes" : "no"]) {
        tr.insertCell().textContent = text;
      }
      return tr;
    }),
  );
}

function couponRow(coupon) {
  const tr = document.createElement("tr");
  const discount = coupon.percentOff != null ? `${coupon.percentOff}%` : money(coupon.amountOff);
  const cells = [
    coupon.code,
    discount,
    `${coupon.redeemed} of ${coupon.maxRedemptions}`,
    String(coupon.reserved),
    coupon.expiresAt ? new Date(coupon.expiresAt).toLocaleString() : "never",
    coupon.disabledAt ? "withdrawn" : "active",
  ];
  for (const text of cells) tr.insertCell().textContent = text;
  const action = tr.insertCell();
  if (!coupon.disabledAt) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Withdraw";
    button.setAttribute("aria-label", `Withdraw ${coupon.code}`);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const { disableCoupon } = await graphql(DISABLE, { code: coupon.code }, token);
        say(disableCoupon.errors.map((e) => e.message).join(" "));
        if (disableCoupon.coupon) tr.replaceWith(couponRow({ ...coupon, ...disableCoupon.coupon }));
      } catch (error) {
        failed(error);
        button.disabled = false;
      }
    });
    action.append(button);
  }
  return tr;
}

async function loadCoupons(after) {
  const { coupons } = await graphql(COUPONS, { after }, token);
  const rows = coupons.edges.map(({ node }) => couponRow(node));
  if (after) couponBody.append(...rows);
  else couponBody.replaceChildren(...rows);
  couponsAfter = coupons.pageInfo.hasNextPage ? coupons.pageInfo.endCursor : null;
  more.hidden = !couponsAfter;
}

editor.addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = Object.fromEntries([...new FormData(editor)].filter(([, v]) => String(v).trim()));
  const input = {};
  if (values.title) input.title = values.title;
  if (values.price) input.price = Number(values.price);
  if (values.currency) input.currency = values.currency.toUpperCase();
  if (values.published) input.published = values.published === "true";
  try {
    const { updateCourse } = await graphql(UPDATE, { id: values.id, input }, token);
    const { course, errors } = updateCourse;
    say(errors.length ? errors.map((e) => e.message).join(" ") : `Saved ${course.title}: ${money(course.price)}.`);
    await loadCourses();
  } catch (error) {
    failed(error);
  }
});
more.addEventListener("click", () => loadCoupons(couponsAfter).catch(failed));
sessionButtons(auth, say);
showSession(signedIn);

if (!token) {
  say("Sign in as the demo admin to change courses and coupons.");
} else {
  Promise.all([loadCourses(), loadCoupons(null)]).catch(failed);
}
