/**
 * Preloaded into the gateway by `run.ts --profile` only (`node -r @swc-node/register -r THIS`):
 * starts and stops the V8 CPU profiler inside the process when the bench says so over the IPC
 * channel, and writes the profile to BENCH_CPU_PROFILE_DIR. (A signal will not do: Nest's
 * shutdown hooks treat SIGUSR2 as a shutdown signal.)
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env['BENCH_CPU_PROFILE_DIR'];
if (dir && process.send) {
  const session = new Session();
  session.connect();
  let count = 0;
  session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 250 }));
  process.on('message', (message: unknown) => {
    const command = message as { profile?: 'start' | 'stop'; name?: string };
    if (command.profile === 'start') {
      session.post('Profiler.start', (error) => process.send?.({ profile: 'started', error: error ? String(error) : undefined }));
    } else if (command.profile === 'stop') {
      session.post('Profiler.stop', (error, result) => {
        const file = join(dir, `${command.name ?? `gateway-${++count}`}.cpuprofile`);
        if (!error) writeFileSync(file, JSON.stringify(result.profile));
        process.send?.({ profile: 'stopped', file: error ? undefined : file, error: error ? String(error) : undefined });
      });
    }
  });
}
