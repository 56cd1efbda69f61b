// The GraphQL-over-HTTP audit of graphql-http's reference implementation against a running server.
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
// Prints one line per audit that is not ok and a summary line; exits 1 on any error or warning,
// so a notice (a MAY of the spec) is reported without failing.
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs <graphql url>");
  process.exit(2);
}
const results = await auditServer({ url });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== "ok") {
    const detail = result.response ? ` (HTTP ${result.response.status})` : "";
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}${detail}`);
  }
}
console.log(
  `graphql-http audit of ${url}: ${results.length} audits, ` +
    `${counts.ok} ok, ${counts.notice} notices, ${counts.warn} warnings, ${counts.error} errors`,
);
process.exit(counts.warn + counts.error > 0 ? 1 : 0);
