// Creates a sandbox through the emulator (MODAL_SERVER_URL / MODAL_TOKEN_*
// come from the parent test), runs one command, closes it and prints when
// close() resolved. Nothing here calls process.exit: the test checks that the
// process ends by itself at once, although the shared client is closed only
// after its idle time.
import { ModalSandbox } from "../../src/index.js";

const sandbox = await ModalSandbox.create({ appName: process.argv[2] ?? "client-sharing-child" });
const result = await sandbox.execute("echo ok");
await sandbox.close();
process.stdout.write(`${result.output.trim()} closed-at ${Date.now()}\n`);
