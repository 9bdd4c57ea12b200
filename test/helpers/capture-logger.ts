import { Writable } from 'node:stream';
import { createLogger, type Logger, type LogLevel } from '../../src/lib/logger.js';

export interface CapturedLogger {
  logger: Logger;
  /** Every JSON line written so far, parsed. */
  lines: Array<Record<string, unknown>>;
  /** Resolves once a line matching the predicate is written (or rejects after timeoutMs). */
  waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** A real pino logger writing synchronously into memory, so tests can assert on log lines. */
export function captureLogger(level: LogLevel = 'debug'): CapturedLogger {
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<{ predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }>();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const waiter of waiters) {
          if (waiter.predicate(line)) {
            waiters.delete(waiter);
            waiter.resolve(line);
          }
        }
      }
      callback();
    },
  });
  const logger = createLogger({ level, destination });
  return {
    logger,
    lines,
    waitFor(predicate, timeoutMs = 2000) {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve };
        waiters.add(waiter);
        setTimeout(() => {
          if (waiters.delete(waiter)) reject(new Error(`no matching log line within ${timeoutMs} ms; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
        }, timeoutMs).unref();
      });
    },
  };
}
