import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The BUILT binary (the test task depends on the build). */
export const detBinary = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

export interface DetRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `det ...args` in `cwd`; `onLine` sees stdout lines as they come (and may signal the
 * process, e.g. SIGTERM once training is under way).
 */
export function det(
  args: readonly string[],
  cwd: string,
  onLine?: (line: string, kill: (signal: NodeJS.Signals) => void) => void,
): Promise<DetRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [detBinary, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: '1', DET_WASM_THREADS: '1' },
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine?.(line, (signal) => child.kill(signal));
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
