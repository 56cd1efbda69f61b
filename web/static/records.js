// What the admin's record pages (one enrollment, the audit log) share: how an actor and a time
// read, and the link to an enrollment.

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
