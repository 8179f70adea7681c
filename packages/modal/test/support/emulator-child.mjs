// Runs @sandbox/modal-emulator in its own process, driven over IPC by
// test/support/emulator.ts: a server in another process, as Modal is, so the
// test process measures only the adapter and the SDK (the emulator keeps exec
// output in memory to replay it).
import { startModalEmulator } from "@sandbox/modal-emulator";

const options = JSON.parse(process.argv[2] ?? "{}");
let emulator;
let stopping;

function stop() {
  stopping ??= (emulator ? emulator.stop() : Promise.resolve()).catch((error) => {
    process.stderr.write(`emulator-child: stop failed: ${error?.stack ?? error}\n`);
  });
  return stopping;
}

// The parent died or let go: remove every container before leaving.
process.on("disconnect", () => {
  void stop().then(() => process.exit(0));
});

try {
  emulator = await startModalEmulator({ port: 0, ...options });
  process.send({ type: "ready", url: emulator.url, tunnelCa: emulator.tunnelCa });
} catch (error) {
  process.send({ type: "failed", message: String(error?.stack ?? error) });
  process.exit(1);
}

process.on("message", async (message) => {
  const reply = (body) => process.send({ id: message.id, ...body });
  try {
    switch (message.type) {
      case "putSecret":
        emulator.putSecret(message.name, message.values);
        return reply({ result: null });
      case "sandboxes":
        return reply({ result: emulator.inspect.sandboxes() });
      case "execStarts":
        return reply({ result: emulator.inspect.execStarts().length });
      case "calls":
        return reply({ result: emulator.inspect.calls().map((call) => call.path) });
      case "stop":
        await stop();
        reply({ result: null });
        process.disconnect();
        return;
      default:
        return reply({ error: `unknown request ${message.type}` });
    }
  } catch (error) {
    reply({ error: String(error?.stack ?? error) });
  }
});
