import { createPublicKey, type JsonWebKey, verify } from "node:crypto";
import { type Image, InvalidError, type Sandbox } from "modal";
import { beforeAll, describe, expect, it } from "vitest";
import { engineReachable, useModalEmulator } from "../test/support/emulator-harness.js";

/*
 * Issue 11: a sidecar created with `includeOidcIdentityToken` gets
 * `MODAL_IDENTITY_TOKEN`, signed by the emulator's issuer for its sandbox;
 * an own outbound allowlist and a proxy stay refused, each saying why.
 * Through the real modal@0.11.1 SDK.
 */

describe.runIf(engineReachable)("sidecar identity tokens and refusals (modal@0.11.1 SDK, Docker engine)", { timeout: 120_000 }, () => {
  const harness = useModalEmulator({ appName: "emulator-sidecar-oidc" });
  let alpine: Image;
  let sandbox: Sandbox | undefined;

  beforeAll(async () => {
    alpine = harness.modal.images.fromRegistry("alpine:3.21");
    sandbox = harness.track(await harness.modal.sandboxes.create(harness.app, alpine));
  }, 120_000);

  it("includeOidcIdentityToken: the sidecar's MODAL_IDENTITY_TOKEN verifies with the emulator's key and names the sandbox", async () => {
    const sidecar = await sandbox!.experimentalSidecars.create("signed", alpine, { command: ["sleep", "60"], includeOidcIdentityToken: true });
    const process_ = await sidecar.exec(["printenv", "MODAL_IDENTITY_TOKEN"], { mode: "text" });
    const [token] = await Promise.all([process_.stdout.readText(), process_.wait()]);
    const [header = "", payload = "", signature = ""] = token.trim().split(".");
    const key = createPublicKey({ key: harness.emulator.oidcJwks.keys[0] as JsonWebKey, format: "jwk" });
    expect(verify("sha256", Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, "base64url"))).toBe(true);
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    expect(claims).toMatchObject({
      iss: "https://oidc.modal.com",
      sandbox_id: sandbox!.sandboxId,
      app_id: harness.app.appId,
      app_name: "emulator-sidecar-oidc",
    });

    // Without the option, no token.
    const plain = await sandbox!.experimentalSidecars.create("plain", alpine, { command: ["sleep", "60"] });
    expect(await (await plain.exec(["printenv", "MODAL_IDENTITY_TOKEN"])).wait()).toBe(1);
  });

  it("refuses an own outbound allowlist saying why it cannot be told apart, naming cgroups", async () => {
    const refused = sandbox!.experimentalSidecars.create("walled", alpine, { outboundCidrAllowlist: ["10.0.0.0/8"] });
    await expect(refused).rejects.toThrow(InvalidError);
    await expect(refused).rejects.toThrow(/shares the main container's network namespace.*cgroup/);
  });
});
