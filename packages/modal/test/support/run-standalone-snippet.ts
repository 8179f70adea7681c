// Runs the seed page's "Standalone usage" snippet as a program of its own
// (MODAL_SERVER_URL / MODAL_TOKEN_* come from the parent test). Nothing here
// calls process.exit: the test checks the process ends by itself once the
// snippet's close() released the sandbox and the client.
import { run } from "../seed-snippets/standalone.snippet.js";

await run(console);
