// The SDK's own MCP client calling the whoami tool, as an MCP host would: it
// shows the sign-in link (a host asks the person first, then opens it in the
// browser) and the SDK retries the call, with the server's requestState,
// until the tool answers. The e2e test runs this file and reads its output.
//
//   MCP_TOKEN=<token> node dist/client.js http://localhost:3000/mcp
//
// Prints "open: <url>" for the link, then "result: <text>" (exit 0), or
// "error: <text>" (exit 1).

import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const url = process.argv[2] ?? "http://localhost:3000/mcp";
const token = process.env.MCP_TOKEN ?? "";

const client = new Client(
  { name: "mcp-server-typescript-example-client", version: "0.0.0" },
  {
    capabilities: { elicitation: { url: {} } },
    // 2026-07-28: URL elicitation rides the multi round-trip flow.
    versionNegotiation: { mode: { pin: "2026-07-28" } },
    // Each round holds up to RELAY_WAIT_SECONDS; 20 rounds give the person
    // several minutes to sign in.
    inputRequired: { maxRounds: 20 },
  },
);

client.setRequestHandler("elicitation/create", async (request) => {
  const params = request.params as { mode?: string; url?: string; message: string };
  if (params.mode !== "url" || !params.url) return { action: "decline" };
  console.log(`${params.message}\nopen: ${params.url}`);
  return { action: "accept" };
});

try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  const result = await client.callTool({ name: "whoami" });
  const text = (result.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join("\n");
  console.log(`${result.isError ? "error" : "result"}: ${text}`);
  process.exitCode = result.isError ? 1 : 0;
} catch (err) {
  console.log(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await client.close();
}
