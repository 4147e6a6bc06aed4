/**
 * Child process of the collector bench: N emulated Cisco IOS devices (ssh2 Server), one per
 * 127.0.3.x address, all on the same port, accepting one password and one public key. Prints
 * one JSON line when they listen, stops on SIGTERM. Loopback only.
 */
import { RunningEmulator, startSshDevice } from '@portolan/collectors/testing';

async function main(): Promise<void> {
  const [count, port, username, password, publicKey] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4], process.env['BENCH_PASSWORD'] ?? '', process.env['BENCH_PUBLIC_KEY'] ?? ''];
  if (!Number.isInteger(count) || count < 1 || count > 250) throw new Error('count must be 1-250 (127.0.3.1-250)');
  const devices: RunningEmulator[] = [];
  for (let i = 1; i <= count; i += 1) {
    devices.push(await startSshDevice('cisco-ios', `127.0.3.${i}`, { username, password, publicKey }, { hostname: `bench-rtr${i}`, configExtras: {}, clock: () => new Date().toISOString().slice(11, 19) }, undefined, port));
  }
  process.stdout.write(`${JSON.stringify({ ready: devices.map((d) => `${d.host}:${d.port}`) })}\n`);
  process.on('SIGTERM', () => void Promise.all(devices.map((d) => d.close())).then(() => process.exit(0)));
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
