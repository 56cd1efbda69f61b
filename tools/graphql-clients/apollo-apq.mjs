// Apollo Client with its persisted-queries link against a running server, as an app would use it.
// Usage: node apollo-apq.mjs http://127.0.0.1:PORT/graphql
// Runs the same query twice, then once more from a second client that sends hashed queries with
// GET (useGETForHashedQueries, what a CDN can cache), and prints, as one JSON line, every request
// the links sent (method, whether it carried the hash, the document) with the answer's status,
// error code and Cache-Control, and the data.
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const url = process.argv[2];
const sent = [];

// The real fetch, watched: what went over the wire and what came back.
async function watchedFetch(input, init) {
  const response = await fetch(input, init);
  const params = new URL(input, url).searchParams;
  const body =
    init.method === "GET"
      ? { extensions: JSON.parse(params.get("extensions") ?? "{}"), query: params.get("query") ?? undefined }
      : JSON.parse(init.body);
  const answer = await response.clone().json();
  sent.push({
    method: init.method,
    hash: body.extensions?.persistedQuery?.sha256Hash ?? null,
    document: typeof body.query === "string",
    status: response.status,
    code: answer.errors?.[0]?.extensions?.code ?? null,
    cacheControl: response.headers.get("cache-control"),
  });
  return response;
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const apollo = (useGETForHashedQueries) =>
  new ApolloClient({
    link: new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
      new HttpLink({ uri: url, fetch: watchedFetch }),
    ),
    cache: new InMemoryCache(),
  });
const CATALOGUE = gql`
  query Catalogue {
    courseCards {
      course { id title }
      buttonText
    }
  }
`;
const results = [];
const overPost = apollo(false);
for (const client of [overPost, overPost, apollo(true)]) {
  const { data, error } = await client.query({ query: CATALOGUE, fetchPolicy: "network-only" });
  if (error) throw error;
  results.push(data.courseCards.map((card) => card.course.id));
}
console.log(JSON.stringify({ sent, results }));
