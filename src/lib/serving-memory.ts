// Memory settings of a long-running process, fixed at its start. V8 reads --max-semi-space-size and
// glibc reads MALLOC_ARENA_MAX only when the process starts, so a serving command started without
// them (`portico controller` from a shell, not the image) replaces itself once, before loading its
// command, with process.execve: the same pid, the same arguments, with both added. Where execve
// is missing (not POSIX) or turned off, the young generation is capped at run time instead
// (young-generation.ts), which stops growth only once V8 has already grown it, often to 16 MB.
import { capYoungGeneration, nodeFlagGiven, SEMI_SPACE_MB } from './young-generation.js';

/** Set in the replaced process (so it never replaces itself twice); `PORTICO_REEXEC=0` turns the step off. */
export const REEXECUTED_ENV = 'PORTICO_REEXECUTED';
export const REEXEC_SWITCH_ENV = 'PORTICO_REEXEC';
/** glibc malloc arenas of a serving process unless the operator set MALLOC_ARENA_MAX (README "Memory"). */
export const SERVING_MALLOC_ARENA_MAX = '2';

export interface ProcessStart {
  readonly execPath: string;
  readonly execArgv: readonly string[];
  /** process.argv: [node, script, …arguments]. */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Set when the process has an IPC channel (a forked worker): Node has already taken its fd out of the env. */
  readonly send?: unknown;
}

export interface ServingExec {
  readonly file: string;
  readonly args: string[];
  readonly env: NodeJS.ProcessEnv;
}

/** The execve that gives this process the serving memory settings; undefined when it has them or must not. */
export function buildServingExec(start: ProcessStart): ServingExec | undefined {
  const { env } = start;
  if (env[REEXECUTED_ENV] !== undefined || env[REEXEC_SWITCH_ENV] === '0') return undefined;
  // A replaced process would start without the channel to its parent.
  if (typeof start.send === 'function') return undefined;
  const semiSpaceGiven = nodeFlagGiven('--max-semi-space-size', start.execArgv, env.NODE_OPTIONS);
  if (semiSpaceGiven && env.MALLOC_ARENA_MAX !== undefined) return undefined;
  return {
    file: start.execPath,
    args: [start.execPath, ...start.execArgv, ...(semiSpaceGiven ? [] : [`--max-semi-space-size=${SEMI_SPACE_MB}`]), ...start.argv.slice(1)],
    env: { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? SERVING_MALLOC_ARENA_MAX, [REEXECUTED_ENV]: '1' },
  };
}

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Gives a serving process its memory settings: replaces it (returns only if it does not) or, when
 * it cannot, caps the young generation at run time unless the operator sized it.
 */
export function ensureServingMemory(proc: NodeJS.Process = process): void {
  const exec = buildServingExec(proc);
  // Replaced already: what this process starts (workers, the demo's controllers) decides for itself.
  delete proc.env[REEXECUTED_ENV];
  const execve = (proc as { execve?: Execve }).execve;
  if (exec !== undefined && typeof execve === 'function') execve.call(proc, exec.file, exec.args, exec.env);
  if (!nodeFlagGiven('--max-semi-space-size', proc.execArgv, proc.env.NODE_OPTIONS)) capYoungGeneration({ maxSemiSpaceMb: SEMI_SPACE_MB });
}
