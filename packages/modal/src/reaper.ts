import type { ModalClient } from "modal";
import { ModalClient as ModalClientClass } from "modal";
import { CREDENTIALS_HINT, isNotFoundFailure, mapModalError } from "./error-mapping.js";
import type { ModalAuth } from "./modal-options.js";
import { MODAL_PROVIDER, ModalSandboxError } from "./modal-sandbox-error.js";
import { currentOwner, MODAL_TAGS, type OwnerIdentity, ownerIsGone } from "./owner-tags.js";

/** What {@link reap} terminated and why. */
export interface ReapReport {
  terminated: Array<{ id: string; reason: "expired" | "owner-gone" }>;
  /** Sandboxes of this project left alone (live owner, not expired). */
  kept: number;
}

/** Options of {@link reap}. */
export interface ReapOptions {
  /** Client to use (left open). Default: a new client from `auth` or the environment, closed afterwards. */
  client?: ModalClient;
  /** Credentials for the client reap creates. */
  auth?: ModalAuth;
  /** Only sandboxes of this Modal App. Default: every app of the environment. */
  appName?: string;
  /** Current time in epoch ms, for tests. */
  now?: number;
  /** Identity judged "self" (never reaped as an orphan), for tests. */
  self?: OwnerIdentity;
}

interface ListedSandbox {
  id: string;
  tags: Record<string, string>;
}

interface SandboxListPage {
  sandboxes?: Array<{ id?: string; createdAt?: number; tags?: Array<{ tagName?: string; tagValue?: string }> }>;
}

type ListRpc = (request: Record<string, unknown>) => Promise<SandboxListPage>;

/** A bound on list pages, so a server that keeps answering the same page cannot loop the reaper forever. */
const MAX_LIST_PAGES = 1000;

/**
 * Lists running sandboxes through one list RPC family, page by page
 * (`beforeTimestamp`), filtered by tags on the server. The generated client
 * is used directly because the SDK's `list()` drops the tags it receives
 * (one `getTags()` per sandbox otherwise) and reaches only one family.
 */
async function listFamily(rpc: ListRpc | undefined, request: Record<string, unknown>): Promise<ListedSandbox[]> {
  if (typeof rpc !== "function") return [];
  const found: ListedSandbox[] = [];
  let beforeTimestamp: number | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const response = await rpc({ ...request, beforeTimestamp, includeFinished: false });
    const sandboxes = response.sandboxes ?? [];
    if (sandboxes.length === 0) break;
    for (const sandbox of sandboxes) {
      if (!sandbox.id) continue;
      found.push({ id: sandbox.id, tags: Object.fromEntries((sandbox.tags ?? []).map((tag) => [tag.tagName ?? "", tag.tagValue ?? ""])) });
    }
    const last = sandboxes[sandboxes.length - 1]?.createdAt;
    if (last === undefined || last === beforeTimestamp) break;
    beforeTimestamp = last;
  }
  return found;
}

/**
 * Terminates this project's Modal sandboxes that are expired (past their
 * `sandbox_expires_at` tag) or whose owner process is provably gone (same
 * host, and the pid is dead or belongs to a newer process). Sandboxes of live
 * owners and of other hosts are kept: Modal ends them at their lifetime.
 *
 * Both sandbox families are listed: the V2 list RPC (which also returns V1
 * sandboxes on Modal) and the V1 list RPC (GPU sandboxes, and servers whose V2
 * list does not return V1), de-duplicated by id. Only sandboxes tagged
 * `sandbox_managed=true` and `sandbox_provider=modal` are considered.
 *
 * @throws `AUTHENTICATION_FAILED`, `PROVIDER_UNAVAILABLE`.
 */
export async function reap(options: ReapOptions = {}): Promise<ReapReport> {
  const ownsClient = options.client === undefined;
  let client: ModalClient;
  try {
    client = options.client ?? new ModalClientClass(options.auth ? { tokenId: options.auth.tokenId, tokenSecret: options.auth.tokenSecret } : undefined);
  } catch (error) {
    throw new ModalSandboxError("AUTHENTICATION_FAILED", { message: `could not configure the Modal client; ${CREDENTIALS_HINT}`, cause: error });
  }
  try {
    return await reapWith(client, options);
  } catch (error) {
    if (error instanceof ModalSandboxError) throw error;
    const mapped = mapModalError(error, "reap", "could not reap sandboxes");
    throw new ModalSandboxError(mapped.code, { message: mapped.message, cause: error });
  } finally {
    if (ownsClient) client.close();
  }
}

async function reapWith(client: ModalClient, options: ReapOptions): Promise<ReapReport> {
  const now = options.now ?? Date.now();
  const self = options.self ?? currentOwner();
  let appId: string | undefined;
  if (options.appName) {
    try {
      appId = (await client.apps.fromName(options.appName)).appId;
    } catch (error) {
      if (isNotFoundFailure(error)) return { terminated: [], kept: 0 };
      throw error;
    }
  }
  const tags = [
    { tagName: MODAL_TAGS.managed, tagValue: "true" },
    { tagName: MODAL_TAGS.provider, tagValue: MODAL_PROVIDER },
  ];
  const control = client.cpClient as unknown as { sandboxListV2?: ListRpc; sandboxList?: ListRpc };
  const environmentName = client.environmentName();
  const [v2, v1] = await Promise.all([
    listFamily(control.sandboxListV2?.bind(control), appId ? { appId, tags } : { environmentName, tags }),
    listFamily(control.sandboxList?.bind(control), { appId, environmentName, tags }),
  ]);
  const byId = new Map<string, ListedSandbox>();
  for (const sandbox of [...v2, ...v1]) byId.set(sandbox.id, sandbox);

  const report: ReapReport = { terminated: [], kept: 0 };
  await Promise.all(
    [...byId.values()].map(async (sandbox) => {
      if (sandbox.tags[MODAL_TAGS.managed] !== "true") return;
      const expiresAt = Number(sandbox.tags[MODAL_TAGS.expiresAt]);
      const reason = Number.isFinite(expiresAt) && expiresAt <= now ? "expired" : ownerIsGone(sandbox.tags, self) ? "owner-gone" : undefined;
      if (!reason) {
        report.kept += 1;
        return;
      }
      const handle = await client.sandboxes.fromId(sandbox.id);
      try {
        await handle.terminate();
      } catch (error) {
        // Gone already, or being terminated by someone else: either way it is no longer running.
        if (!isNotFoundFailure(error) && !(error instanceof Error && /Conflict/.test(error.name))) throw error;
      } finally {
        handle.detach();
      }
      report.terminated.push({ id: sandbox.id, reason });
    }),
  );
  return report;
}
