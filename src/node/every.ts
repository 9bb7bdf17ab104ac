// A background task that runs every intervalMs, never twice at once: a round still running when
// the next is due is not doubled. Errors are handed to onError (the task goes on).
export type Repeating = { readonly stop: () => void };

export function every(
  intervalMs: number,
  round: () => Promise<void>,
  onError: (error: unknown) => void,
  due: () => boolean = () => true,
): Repeating {
  let running = false;
  const timer = setInterval(() => {
    if (running || !due()) return;
    running = true;
    round()
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
    },
  };
}
