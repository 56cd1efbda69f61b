// Prints the trusted-documents manifest of the browser pages: {sha256 hex: document}, sorted.
// `make documents` writes it to web/trusted-documents.json. The documents are exactly the strings
// the pages send (web/static/documents.js evaluated by node, template literals and all), so their
// hashes are the ones the server computes.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

const source = new URL("../../web/static/documents.js", import.meta.url);
// A data: URL: the file is an ES module without a package.json saying so.
const text = await readFile(source, "utf8");
const documents = await import(`data:text/javascript,${encodeURIComponent(text)}`);
const manifest = Object.fromEntries(
  Object.values(documents)
    .map((document) => [createHash("sha256").update(document).digest("hex"), document])
    .sort(([a], [b]) => (a < b ? -1 : 1)),
);
process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
