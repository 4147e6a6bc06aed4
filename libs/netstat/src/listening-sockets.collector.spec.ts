import { collectListeningSockets } from './listening-sockets.collector';
import { rejectionOf } from './test/domain-error.expect';
import { fakeRunner } from './test/fake-command.runner';
import { NETSTAT_LINUX_SERVER } from './test/netstat-linux.samples';
import { NETSTAT_WINDOWS_SERVER, TASKLIST_WINDOWS_SERVER } from './test/netstat-windows.samples';
import { SS_DEBIAN_SERVER } from './test/ss.samples';

const SS_VERSION = { stdout: 'ss utility, iproute2-6.1.0\n' };
const NETSTAT_VERSION = { stdout: 'net-tools 2.10\nFred Baumgarten, Alan Cox, Bernd Eckenfels, Phil Blundell, Tuan Hoang, Brian Micek and others\n' };

describe('collectListeningSockets on Linux', () => {
  it('uses ss -tulpnH when ss works, with its version', async () => {
    const fake = fakeRunner({ 'ss -tulpnH': { stdout: SS_DEBIAN_SERVER }, 'ss -V': SS_VERSION });

    const scan = await collectListeningSockets({ platform: 'linux', run: fake.run });

    expect(scan.tool).toBe('ss');
    expect(scan.args).toEqual(['-tulpnH']);
    expect(scan.toolVersion).toBe('ss utility, iproute2-6.1.0');
    expect(scan.sockets).toHaveLength(19);
    expect(fake.calls.map((c) => c.command)).toEqual(['ss -tulpnH', 'ss -V']);
  });

  it('falls back to netstat -tulpnW when ss is not installed', async () => {
    const fake = fakeRunner({ 'netstat -tulpnW': { stdout: NETSTAT_LINUX_SERVER }, 'netstat --version': NETSTAT_VERSION });

    const scan = await collectListeningSockets({ platform: 'linux', run: fake.run });

    expect([scan.tool, scan.toolVersion, scan.args]).toEqual(['netstat', 'net-tools 2.10', ['-tulpnW']]);
    expect(scan.sockets).toHaveLength(18);
    expect(fake.calls.map((c) => c.command)).toEqual(['ss -tulpnH', 'netstat -tulpnW', 'netstat --version']);
  });

  it('falls back to netstat when ss exits non-zero (no sock_diag in a container)', async () => {
    const fake = fakeRunner({
      'ss -tulpnH': { exitCode: 1, stderr: 'Cannot open netlink socket: Protocol not supported\n' },
      'netstat -tulpnW': { stdout: NETSTAT_LINUX_SERVER },
      'netstat --version': NETSTAT_VERSION,
    });

    expect((await collectListeningSockets({ platform: 'linux', run: fake.run })).tool).toBe('netstat');
  });

  it('is engine_unavailable naming both tools when neither is installed', async () => {
    const error = await rejectionOf(collectListeningSockets({ platform: 'linux', run: fakeRunner({}).run }));

    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toContain('ss (iproute2) is not installed');
    expect(error.message).toContain('netstat (net-tools) is not installed');
  });

  it("is engine_unavailable with ss's own complaint when ss fails and netstat is missing", async () => {
    const fake = fakeRunner({ 'ss -tulpnH': { exitCode: 1, stderr: 'Cannot open netlink socket: Protocol not supported\n' } });

    const error = await rejectionOf(collectListeningSockets({ platform: 'linux', run: fake.run }));

    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toContain('ss -tulpnH exited with code 1: Cannot open netlink socket: Protocol not supported');
    expect(error.message).toContain('netstat (net-tools) is not installed');
  });

  it('is scan_failed, without trying netstat, when ss times out', async () => {
    const fake = fakeRunner({ 'ss -tulpnH': { errorCode: 'ETIMEDOUT' }, 'netstat -tulpnW': { stdout: NETSTAT_LINUX_SERVER } });

    const error = await rejectionOf(collectListeningSockets({ platform: 'linux', run: fake.run }));

    expect(error.code).toBe('scan_failed');
    expect(error.message).toContain('ss -tulpnH failed');
    expect(fake.calls.map((c) => c.command)).toEqual(['ss -tulpnH']);
  });

  it('reports unreadable ss output as invalid_output instead of falling back', async () => {
    const fake = fakeRunner({ 'ss -tulpnH': { stdout: '<html>oops</html>\n' }, 'netstat -tulpnW': { stdout: NETSTAT_LINUX_SERVER } });

    const error = await rejectionOf(collectListeningSockets({ platform: 'linux', run: fake.run }));

    expect([error.code, error.message]).toEqual(['invalid_output', 'ss output line 1: unknown protocol "<html>oops</html>" (expected tcp or udp): "<html>oops</html>"']);
    expect(fake.calls.map((c) => c.command)).toEqual(['ss -tulpnH']);
  });

  it.each([
    ['is missing', { errorCode: 'ENOENT' }],
    ['exits non-zero', { exitCode: 255, stdout: 'ss: invalid option -- V' }],
    ['times out', { errorCode: 'ETIMEDOUT' }],
    ['prints nothing', { stdout: '' }],
  ])("still scans, with version 'unknown', when the version command %s", async (_what, outcome) => {
    const fake = fakeRunner({ 'ss -tulpnH': { stdout: SS_DEBIAN_SERVER }, 'ss -V': outcome });

    const scan = await collectListeningSockets({ platform: 'linux', run: fake.run });

    expect([scan.tool, scan.toolVersion, scan.sockets.length]).toEqual(['ss', 'unknown', 19]);
  });

  it('passes the timeout (default 10 s) and an 8 MiB output limit; the version gets at most 5 s', async () => {
    const fake = fakeRunner({ 'ss -tulpnH': { stdout: '' }, 'ss -V': SS_VERSION });
    await collectListeningSockets({ platform: 'linux', run: fake.run });
    await collectListeningSockets({ platform: 'linux', run: fake.run, timeoutMs: 2_000 });

    expect(fake.calls.map((c) => [c.command, c.options.timeoutMs])).toEqual([
      ['ss -tulpnH', 10_000],
      ['ss -V', 5_000],
      ['ss -tulpnH', 2_000],
      ['ss -V', 2_000],
    ]);
    expect(fake.calls[0].options.maxBytes).toBe(8 * 1024 * 1024);
  });
});

describe('collectListeningSockets on other platforms', () => {
  it('uses netstat -ano on Windows, then tasklist to name the processes', async () => {
    const fake = fakeRunner({ 'netstat -ano': { stdout: NETSTAT_WINDOWS_SERVER }, 'tasklist /FO CSV /NH': { stdout: TASKLIST_WINDOWS_SERVER } });

    const scan = await collectListeningSockets({ platform: 'win32', run: fake.run });

    expect([scan.tool, scan.args, scan.sockets.length]).toEqual(['netstat', ['-ano'], 25]);
    expect(fake.calls.map((c) => c.command)).toEqual(['tasklist /FO CSV /NH', 'netstat -ano', 'tasklist /FO CSV /NH']);
    const named = (port: number) => scan.sockets.filter((s) => s.port === port).map((s) => `${s.protocol} ${s.bindAddress} ${s.process ?? '-'}/${s.pid}`);
    expect(named(445)).toEqual(['tcp 0.0.0.0 System/4', 'tcp :: System/4']);
    expect(named(3389)).toEqual(['tcp 0.0.0.0 svchost.exe/1012', 'tcp :: svchost.exe/1012', 'udp 0.0.0.0 svchost.exe/1012']);
    expect(named(8080)).toEqual(['tcp 127.0.0.1 Acme Web Console.exe/5128', 'tcp ::1 Acme Web Console.exe/5128']);
    // A pid tasklist does not know (684 is listed by netstat, in neither process list) stays unnamed.
    expect(named(49665)).toEqual(['tcp 0.0.0.0 wininit.exe/536']);
    expect(scan.sockets.filter((s) => s.process === undefined).map((s) => s.pid)).toEqual([684, 684]);
  });

  it('names a process that ended between netstat and the second tasklist from the first, and prefers the second for a pid in both', async () => {
    const lsass = `${TASKLIST_WINDOWS_SERVER}"lsass.exe","684","Services","0","18,452 K"\r\n`;
    const restarted = TASKLIST_WINDOWS_SERVER.replace('"svchost.exe","904"', '"rpcss-new.exe","904"');
    const fake = fakeRunner({ 'netstat -ano': { stdout: NETSTAT_WINDOWS_SERVER }, 'tasklist /FO CSV /NH': [{ stdout: lsass }, { stdout: restarted }] });

    const scan = await collectListeningSockets({ platform: 'win32', run: fake.run });

    expect(scan.sockets.filter((s) => s.pid === 684).map((s) => s.process)).toEqual(['lsass.exe', 'lsass.exe']);
    expect(scan.sockets.filter((s) => s.pid === 904).map((s) => s.process)).toEqual(['rpcss-new.exe', 'rpcss-new.exe']);
    expect(scan.sockets.every((s) => s.process !== undefined || s.pid === undefined)).toBe(true);
  });

  it('leaves the sockets unnamed, every time, where tasklist is not installed', async () => {
    const fake = fakeRunner({ 'netstat -ano': { stdout: NETSTAT_WINDOWS_SERVER } });

    const scan = await collectListeningSockets({ platform: 'win32', run: fake.run });

    expect(scan.sockets).toHaveLength(25);
    expect(scan.sockets.every((s) => s.process === undefined && s.pid !== undefined)).toBe(true);
  });

  it('fails the scan, rather than drop the names, when tasklist fails or prints something else', async () => {
    const denied = fakeRunner({ 'netstat -ano': { stdout: NETSTAT_WINDOWS_SERVER }, 'tasklist /FO CSV /NH': [{ stdout: TASKLIST_WINDOWS_SERVER }, { exitCode: 1, stderr: 'ERROR: Access denied\r\n' }] });
    const failed = await rejectionOf(collectListeningSockets({ platform: 'win32', run: denied.run }));
    expect([failed.code, failed.message]).toEqual(['scan_failed', 'cannot name the processes of the listening sockets: tasklist /FO CSV /NH exited with code 1: ERROR: Access denied']);

    const slow = fakeRunner({ 'netstat -ano': { stdout: NETSTAT_WINDOWS_SERVER }, 'tasklist /FO CSV /NH': { errorCode: 'ETIMEDOUT' } });
    expect((await rejectionOf(collectListeningSockets({ platform: 'win32', run: slow.run }))).code).toBe('scan_failed');

    const table = fakeRunner({ 'netstat -ano': { stdout: NETSTAT_WINDOWS_SERVER }, 'tasklist /FO CSV /NH': { stdout: 'Image Name   PID Session Name\r\n' } });
    const unreadable = await rejectionOf(collectListeningSockets({ platform: 'win32', run: table.run }));
    expect([unreadable.code, unreadable.message]).toEqual(['invalid_output', expect.stringContaining('tasklist output line 1: expected a row of quoted fields')]);
  });

  it('is engine_unavailable on Windows when netstat cannot run', async () => {
    const error = await rejectionOf(collectListeningSockets({ platform: 'win32', run: fakeRunner({}).run }));

    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toContain('netstat is not installed');
  });

  it.each(['darwin', 'freebsd'] as const)('is engine_unavailable on %s without running anything', async (platform) => {
    const fake = fakeRunner({ 'netstat -ano': { stdout: '' }, 'ss -tulpnH': { stdout: '' } });

    const error = await rejectionOf(collectListeningSockets({ platform, run: fake.run }));

    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toContain(`not on ${platform}`);
    expect(fake.calls).toEqual([]);
  });
});
