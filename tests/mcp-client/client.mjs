// Drives `kaptain mcp` over stdio with the official MCP TypeScript SDK
// (@modelcontextprotocol/sdk, installed by scripts/provision-mcp-client.sh), the way an MCP
// client such as Claude Desktop does, and prints what it saw as one JSON object on stdout.
// The SDK validates every tool result against the tool's outputSchema.
//
//   KAPTAIN_MCP_CLIENT_DIR=<node_modules> node client.mjs <namespace> <kaptain> [args...]
import path from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.env.KAPTAIN_MCP_CLIENT_DIR;
if (!modules) {
  console.error("KAPTAIN_MCP_CLIENT_DIR is not set (run scripts/provision-mcp-client.sh)");
  process.exit(2);
}
const sdk = (p) =>
  import(pathToFileURL(path.join(modules, "@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await sdk("client/index.js");
const { StdioClientTransport } = await sdk("client/stdio.js");

const [namespace, command, ...args] = process.argv.slice(2);
const transport = new StdioClientTransport({ command, args, stderr: "inherit" });
const client = new Client({ name: "kaptain-ts-test", version: "1.0.0" });
await client.connect(transport);

const out = { server: client.getServerVersion() };
const { tools } = await client.listTools();
out.tools = tools.map((t) => ({
  name: t.name,
  readOnlyHint: t.annotations?.readOnlyHint,
  destructiveHint: t.annotations?.destructiveHint,
  hasOutputSchema: !!t.outputSchema,
}));

// The cluster's controllers act on their own schedule: ask `why` until the chain is there.
const deadline = Date.now() + 150_000;
for (;;) {
  const r = await client.callTool({
    name: "why",
    arguments: { kind: "Deployment", namespace, name: "api" },
  });
  out.why = r.structuredContent;
  const causes = r.structuredContent?.causes ?? [];
  if (!r.isError && causes.some((c) => c.root.check === "config.missing-configmap")) break;
  if (Date.now() > deadline) break;
  await new Promise((ok) => setTimeout(ok, 1000));
}
const d = await client.callTool({ name: "diagnose", arguments: { namespace } });
out.diagnose = d.structuredContent;
out.diagnoseError = d.isError ?? false;
const l = await client.callTool({
  name: "list_resources",
  arguments: { kind: "Pod", namespace, label_selector: "app=api" },
});
out.pods = l.structuredContent;
const bad = await client.callTool({ name: "get_resource", arguments: { kind: "Widget", name: "x" } });
out.badIsError = bad.isError ?? false;
const { resources } = await client.listResources();
out.resources = resources.map((r) => r.uri);
const checks = await client.readResource({ uri: "kaptain://checks" });
out.checks = JSON.parse(checks.contents[0].text).length;
const { prompts } = await client.listPrompts();
out.prompts = prompts.map((p) => p.name);
const p = await client.getPrompt({ name: "troubleshoot_namespace", arguments: { namespace } });
out.prompt = p.messages[0].content.text;
console.log(JSON.stringify(out));
await client.close();
