import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: LogLevel;
  /** Where JSON lines go; defaults to stdout (asynchronous, flushed on exit). */
  destination?: DestinationStream;
  name?: string;
}

/** How long the exit flush may wait for a stdout reader that has stopped reading. */
const EXIT_FLUSH_MS = 2000;
let stdoutDestination: DestinationStream | undefined;

/**
 * stdout, asynchronous, flushed on exit — but never for longer than EXIT_FLUSH_MS. pino's own exit
 * hook flushes without a bound, and a pipe's fd 1 stays blocking until Node opens process.stdout,
 * so a log reader that stopped reading held the process forever after SIGTERM.
 */
function stdout(): DestinationStream {
  if (stdoutDestination) return stdoutDestination;
  void process.stdout.writable; // libuv makes a pipe non-blocking when it opens it: EAGAIN, not a hang
  let exitDeadline: number | undefined;
  const stream = pino.destination({ dest: 1, sync: false, retryEAGAIN: () => exitDeadline === undefined || Date.now() < exitDeadline });
  process.prependListener('exit', () => {
    exitDeadline = Date.now() + EXIT_FLUSH_MS;
    try {
      stream.flushSync();
    } catch {
      // The reader is gone or stalled: what is left is dropped.
    }
    stream.destroy(); // pino's hook then skips its unbounded flush
  });
  stdoutDestination = stream;
  return stream;
}

/** The process logger: pino JSON lines. Access logs are a child with `{ log: 'access' }`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? stdout();
  return pino(
    {
      level: options.level ?? 'info',
      base: options.name ? { name: options.name } : null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that drops everything; for tests and benchmarks. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
