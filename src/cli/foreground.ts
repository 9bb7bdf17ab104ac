// A long-running command (a node, the signer): start it, run until SIGINT or SIGTERM, stop it
// cleanly. The signals are listened for before starting, so one during start-up stops it too.
export async function untilSignalled<T extends { readonly stop: () => Promise<void> }>(
  start: () => Promise<T>,
  started: (service: T) => Promise<void> | void,
  stopping: (service: T) => void = () => undefined,
): Promise<void> {
  let signalled!: () => void;
  const stopRequested = new Promise<void>((resolve) => {
    signalled = resolve;
  });
  const onSignal = (): void => {
    signalled();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const service = await start();
    await started(service);
    await stopRequested;
    stopping(service);
    await service.stop();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
