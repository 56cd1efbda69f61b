// What the admin's record pages (one enrollment, the audit log) share: how an actor and a time read,
// and the sign-in buttons.
import { messageOf } from "./live.js";

// "admin demo-admin", "gateway sandbox", "system": the kind, then its id when there is one.
export function actorText({ kind, id }) {
  return id ? `${kind.toLowerCase()} ${id}` : kind.toLowerCase();
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function enrollmentLink(id) {
  const link = document.createElement("a");
  link.href = `/app/admin/enrollment?id=${encodeURIComponent(id)}`;
  link.textContent = id;
  return link;
}

export function signInButtons(auth, say) {
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
