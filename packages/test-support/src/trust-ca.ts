import { rootCertificates } from "node:tls";
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from "undici";

/**
 * Makes this process's global `fetch` trust `certificatePem` (a CA, e.g. the
 * modal emulator's `tunnelCa.certificatePem`) besides the system roots, as a
 * client started with `NODE_EXTRA_CA_CERTS=<its file>` would; that variable is
 * read only at process start, and the emulator makes its CA later. Node 20's
 * global `fetch` uses the dispatcher undici's `setGlobalDispatcher` installs.
 * Returns a function that puts the previous dispatcher back.
 */
export function trustCertificateAuthority(certificatePem: string): () => Promise<void> {
  const previous: Dispatcher = getGlobalDispatcher();
  const agent = new Agent({ connect: { ca: [...rootCertificates, certificatePem] } });
  setGlobalDispatcher(agent);
  return async () => {
    if (getGlobalDispatcher() === agent) setGlobalDispatcher(previous);
    await agent.close();
  };
}
