// Subscribes with the `graphql-ws` client (graphql-transport-ws protocol) and prints each
// message as a JSON line; exits after COUNT results. Usage: node subscribe.mjs URL TOKEN COUNT
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, count] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  on: { connected: () => console.log(JSON.stringify({ connected: true })) },
});
let seen = 0;
client.subscribe(
  { query: "subscription { eventRecorded { id kind } }" },
  {
    next: (value) => {
      console.log(JSON.stringify(value));
      seen += 1;
      if (seen >= Number(count)) { client.dispose(); process.exit(0); }
    },
    error: (error) => { console.error(JSON.stringify(error)); process.exit(1); },
    complete: () => process.exit(0),
  },
);
setTimeout(() => { console.error("timed out"); process.exit(2); }, 20000);
