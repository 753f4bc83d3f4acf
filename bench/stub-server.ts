/** The stub Anthropic upstream as its own process, for the proxy benchmark. Prints its URL. */
import { startStubUpstream } from "../src/tenant/stub-upstream.ts";

const stub = startStubUpstream({ apiKey: process.env.STUB_API_KEY ?? "sk-ant-bench", port: Number(process.env.STUB_PORT ?? 0) });
console.log(stub.url);
process.on("SIGTERM", () => process.exit(0));
