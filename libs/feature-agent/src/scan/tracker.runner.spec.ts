import { AgentTracker } from '@portolan/contracts';
import { CommandRunner } from '@portolan/netstat';
import { TrackerRunner } from './tracker.runner';

const tracker: AgentTracker = {
  id: '6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b',
  name: 'own ports',
  mode: 'self',
  deviceId: '00000000-0000-4000-8000-000000000001',
  ports: { tcp: [{ from: 1, to: 1024 }], udp: [] },
  schedule: { kind: 'interval', every: '1m' },
};
const JOB = '11111111-2222-4333-8444-555555555555';

/** A stand-in for the ss binary: pure logic under test is the runner's mapping, not the tool. */
const ssAnswering = (stdout: string): CommandRunner => async (file, args) => {
  if (args.includes('-V')) return { stdout: 'ss utility, iproute2-6.1.0', stderr: '', exitCode: 0 };
  if (file === 'ss') return { stdout, stderr: '', exitCode: 0 };
  throw Object.assign(new Error(`${file} not found`), { code: 'ENOENT' });
};

describe('TrackerRunner (self-scan)', () => {
  it('keeps the listening sockets inside the tracker\'s ports, keyed by bind address', async () => {
    const output = [
      'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=812,fd=3))',
      'tcp LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=812,fd=4))',
      'tcp LISTEN 0 244 127.0.0.1:5432 0.0.0.0:*',
      'udp UNCONN 0 0 0.0.0.0:68 0.0.0.0:* users:(("dhclient",pid=611,fd=7))',
    ].join('\n');
    const result = await new TrackerRunner({ scanner: false, commandRunner: ssAnswering(output) }).run(tracker, JOB, 'schedule');
    expect(result.status).toBe('completed');
    expect(result.engine).toBe('ss');
    expect(result.hosts).toHaveLength(1);
    expect(result.hosts[0].ports.map((p) => `${p.protocol}/${p.port}@${p.bindAddress} ${p.process}`)).toEqual(['tcp/22@0.0.0.0 sshd', 'tcp/22@:: sshd']);
  });

  it('turns garbage from ss into a failed run that names the line, never an empty observation', async () => {
    const result = await new TrackerRunner({ scanner: false, commandRunner: ssAnswering('<html><body>502 Bad Gateway</body></html>\n') }).run(tracker, JOB, 'schedule');
    expect(result.status).toBe('failed');
    expect(result.hosts).toEqual([]);
    expect(result.error?.code).toBe('invalid_output');
    expect(result.error?.message).toMatch(/line 1/);
  });

  it('refuses a network scan on an agent that is not a scanning agent', async () => {
    const result = await new TrackerRunner({ scanner: false }).run({ ...tracker, mode: 'network' }, JOB, 'manual');
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/not a scanning agent/);
  });
});
