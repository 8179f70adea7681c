import { LOCAL_DOCKER_LABELS } from "@sandbox/local-docker";
import { DockerEngine } from "@sandbox/local-docker/engine";
import { dockerEngineProblem } from "@sandbox/test-support";
import { describe, expect, it } from "vitest";
import { runServerDemo } from "../src/run-server-demo.js";
import { PAGE_BODY, SERVER_PORT } from "../src/server-task.js";

/*
 * The second scenario end to end on local-docker: the scripted model drives a
 * real deepagents agent, which writes a page and starts a web server in the
 * sandbox with spawn(); the demo fetches the page through the published port;
 * every process is killed and the sandbox closed. Nothing is mocked.
 */

const engine = new DockerEngine();
const engineProblem = await dockerEngineProblem();

describe("server scenario on local-docker", () => {
  it.skipIf(engineProblem !== undefined)(
    engineProblem === undefined ? "the agent's background web server answers through the port, then nothing is left" : `SKIPPED: ${engineProblem}`,
    { timeout: 180_000 },
    async () => {
      const lines: string[] = [];
      let psBeforeClose = "";
      const result = await runServerDemo({
        environment: { ...process.env, SANDBOX_PROVIDER: "local-docker", DEMO_MODEL: "scripted" },
        onLine: (line) => lines.push(line),
        inspectSandbox: async (sandbox) => {
          psBeforeClose = (await sandbox.execute("ps -o pid,args 2>/dev/null || ps")).output;
        },
      });
      expect(result.provider).toBe("local-docker");
      expect(result.processIds).toHaveLength(1);
      expect(result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(result.response).toEqual({ status: 200, body: PAGE_BODY });
      expect(result.killConfirmed).toBe(true);
      // The printed transcript shows the fetched page and the kill.
      expect(lines.join("\n")).toContain("  | <h1>Hello from the sandbox</h1>");
      expect(lines.some((line) => line.startsWith(`killed process ${result.processIds[0]}`) && line.includes("confirmed"))).toBe(true);
      // After the kill no server process is left in the sandbox...
      expect(psBeforeClose).not.toContain(`http.server ${SERVER_PORT}`);
      // ...and after close the container is gone.
      const left = await engine.listContainers({ [LOCAL_DOCKER_LABELS.managed]: "true" });
      expect(left.filter((container) => container.id.startsWith(result.sandboxId) || result.sandboxId.startsWith(container.id))).toEqual([]);
    },
  );
});
