// A separate OS process: loads an adapter class from its built module,
// reconnects to a sandbox by id (`fromId`, with whatever variables the parent
// test set), reattaches to a background process by id and writes its stdout,
// replayed from the given byte offset and then followed live, raw to its own
// stdout. Detaches: the sandbox belongs to the parent test.
// argv: <adapter module URL> <exported class> <sandbox id> <process id> <from offset>
const [moduleUrl, exportName, sandboxId, processId, fromOffset] = process.argv.slice(2);
const Adapter = (await import(moduleUrl))[exportName];
const sandbox = await Adapter.fromId(sandboxId);
try {
  const attached = await sandbox.attachProcess(processId, { fromOffset: Number(fromOffset) });
  for await (const chunk of attached.stdout) {
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once("drain", resolve));
  }
  const exit = await attached.wait();
  process.stderr.write(`exit ${JSON.stringify(exit)} dropped ${attached.stdout.droppedBytes}\n`);
} finally {
  await sandbox.detach();
}
