/**
 * The gateway's own endpoints under `/_gateway/` (paths in src/shared/gateway-api.ts, shapes in
 * docs/proxy.md), as one table: resource → who may call it, its route label, a handler per method.
 *   POST /_gateway/v1/logout            the caller's own session denylisted until its token expires
 *   GET  /_gateway/v1/me/usage          the caller's use today and this month, and their budgets
 *   GET  /_gateway/v1/session           whether the caller's access token is still accepted (issue 21)
 *   /_gateway/admin/v1/usage|budgets|limits|revocations|audit   admins only (admin/auth.ts)
 *   /_gateway/admin/v1/policy, policy/explain?user=U            admins only: the tenant policy in force, and what a person gets
 * (`/_gateway/console/…`, the admin console, is answered just before this table by server.ts:
 * http/console.ts; it has its own cookie session, so no bearer token is read for it.)
 * A person's endpoint answers another method 405 with Allow before reading credentials; an admin
 * resource answers it 400 once the caller is known to be an admin. Unknown paths are 404 to
 * anyone. Handlers throw BadInput (400); the exchange ends with the status they answer.
 */
import { listAudit } from "../admin/audit.ts";
import { authorizeAdmin } from "../admin/auth.ts";
import { clearBudget, listBudgets, setBudget } from "../admin/budgets.ts";
import { clearLimit, listLimits, setLimit } from "../admin/limits.ts";
import { explainTenantPolicy, showTenantPolicy } from "../admin/policy.ts";
import { listRevocations, restore, revoke } from "../admin/revocations.ts";
import { usageReport } from "../admin/usage.ts";
import { logout } from "../self-service/logout.ts";
import { myUsage } from "../self-service/my-usage.ts";
import { session } from "../self-service/session.ts";
import { ADMIN_PATH, type AdminResource, LOGOUT_PATH, ME_USAGE_PATH, SESSION_PATH } from "../../shared/gateway-api.ts";
import { BadInput, GatewayRefusal } from "./errors.ts";
import type { TenantExchange } from "./exchange.ts";
import { activeUser } from "./identity.ts";

export type GatewayHandler = (ex: TenantExchange, query: URLSearchParams) => Promise<Response>;

interface Endpoint {
  /** The route label of the log line and the metrics. */
  route: string;
  /** `person`: any signed-in person still allowed; `admin`: a member of an admin group, or the admin key. */
  access: "person" | "admin";
  methods: Readonly<Partial<Record<string, GatewayHandler>>>;
  /** The methods it takes, as `Allow` says them. */
  allow: string;
}

const endpoint = (path: string, route: string, access: Endpoint["access"], methods: Endpoint["methods"]): [string, Endpoint] => [path, { route, access, methods, allow: Object.keys(methods).join(", ") }];
const admin = (resource: AdminResource, methods: Endpoint["methods"]) => endpoint(ADMIN_PATH + resource, `admin_${resource.split("/")[0]}`, "admin", methods);

const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map([
  endpoint(LOGOUT_PATH, "logout", "person", { POST: logout }),
  endpoint(ME_USAGE_PATH, "me_usage", "person", { GET: myUsage }),
  endpoint(SESSION_PATH, "session", "person", { GET: session }),
  admin("usage", { GET: usageReport }),
  admin("budgets", { GET: listBudgets, PUT: setBudget, POST: setBudget, DELETE: clearBudget }),
  admin("limits", { GET: listLimits, PUT: setLimit, POST: setLimit, DELETE: clearLimit }),
  admin("revocations", { GET: listRevocations, POST: revoke, PUT: revoke, DELETE: restore }),
  admin("audit", { GET: listAudit }),
  admin("policy", { GET: showTenantPolicy }),
  admin("policy/explain", { GET: explainTenantPolicy }),
]);

export async function serveGateway(ex: TenantExchange, path: string, search: string): Promise<Response> {
  const found = ENDPOINTS.get(path);
  if (!found) {
    ex.route = "gateway";
    return ex.refuse(new GatewayRefusal("not_allowed", "not found: see docs/proxy.md for the gateway's endpoints"));
  }
  ex.route = found.route;
  const method = ex.request.method;
  const handler = found.methods[method];
  const { allow } = found;
  if (found.access === "person") {
    if (!handler) return ex.refuse(new GatewayRefusal("bad_method", `use ${allow} here`, { headers: { allow } }));
    const refused = await activeUser(ex);
    if (refused) return refused;
  } else {
    const refused = await authorizeAdmin(ex);
    if (refused) return refused;
    if (!handler) throw new BadInput(`${method} is not supported on ${path.slice(ADMIN_PATH.length)}: use ${allow}`);
  }
  const answer = await handler(ex, new URLSearchParams(search));
  ex.end(answer.status);
  return answer;
}
