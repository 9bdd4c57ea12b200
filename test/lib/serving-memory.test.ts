import { describe, expect, it, vi } from 'vitest';
import { buildServingExec, ensureServingMemory } from '../../src/lib/serving-memory.js';

const start = (env: NodeJS.ProcessEnv, execArgv: string[] = []) => ({ execPath: '/usr/bin/node', execArgv, argv: ['/usr/bin/node', '/app/bin/portico.js', 'controller', '--workers', '1'], env });

describe('buildServingExec', () => {
  it('adds --max-semi-space-size=4 and MALLOC_ARENA_MAX=2 to a process started without them, keeping its flags and arguments', () => {
    expect(buildServingExec(start({ PATH: '/bin' }, ['--enable-source-maps']))).toEqual({
      file: '/usr/bin/node',
      args: ['/usr/bin/node', '--enable-source-maps', '--max-semi-space-size=4', '/app/bin/portico.js', 'controller', '--workers', '1'],
      env: { PATH: '/bin', MALLOC_ARENA_MAX: '2', PORTICO_REEXECUTED: '1' },
    });
  });

  it("keeps the operator's values: a semi-space size in the flags or NODE_OPTIONS, their MALLOC_ARENA_MAX", () => {
    expect(buildServingExec(start({ MALLOC_ARENA_MAX: '8' }))?.args).toContain('--max-semi-space-size=4');
    expect(buildServingExec(start({ MALLOC_ARENA_MAX: '8' }))?.env.MALLOC_ARENA_MAX).toBe('8');
    const flagOnly = buildServingExec(start({}, ['--max_semi_space_size=16']));
    expect(flagOnly?.args.filter((a) => a.includes('semi'))).toEqual(['--max_semi_space_size=16']);
    expect(flagOnly?.env.MALLOC_ARENA_MAX).toBe('2');
    expect(buildServingExec(start({ MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-semi-space-size=4' }))).toBeUndefined();
    expect(buildServingExec(start({ MALLOC_ARENA_MAX: '1' }, ['--max-semi-space-size=2']))).toBeUndefined();
  });

  it('never replaces a process twice, and not at all with PORTICO_REEXEC=0', () => {
    expect(buildServingExec(start({ PORTICO_REEXECUTED: '1' }))).toBeUndefined();
    expect(buildServingExec(start({ PORTICO_REEXEC: '0' }))).toBeUndefined();
  });

  it('never replaces a process that talks to its parent over IPC (a worker: the channel would be lost)', () => {
    expect(buildServingExec({ ...start({}), send: () => true })).toBeUndefined();
  });
});

describe('ensureServingMemory', () => {
  it('calls execve with the plan; without execve it does not fail (the run-time cap applies)', () => {
    const execve = vi.fn();
    const proc = { execPath: '/usr/bin/node', execArgv: ['--max-semi-space-size=4'], argv: ['/usr/bin/node', 'x.js', 'dns'], env: { PORTICO_REEXECUTED: undefined } as NodeJS.ProcessEnv, execve };
    ensureServingMemory(proc as unknown as NodeJS.Process);
    expect(execve).toHaveBeenCalledWith('/usr/bin/node', ['/usr/bin/node', '--max-semi-space-size=4', 'x.js', 'dns'], expect.objectContaining({ MALLOC_ARENA_MAX: '2', PORTICO_REEXECUTED: '1' }));
    const replaced = { ...proc, env: { PORTICO_REEXECUTED: '1', MALLOC_ARENA_MAX: '2' } as NodeJS.ProcessEnv, execve: vi.fn() };
    ensureServingMemory(replaced as unknown as NodeJS.Process);
    expect(replaced.execve).not.toHaveBeenCalled();
    // Its children decide for themselves.
    expect(replaced.env.PORTICO_REEXECUTED).toBeUndefined();
  });
});
