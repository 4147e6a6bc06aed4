import { DomainError } from '@portolan/contracts';
import { assertAgentPaces, assertPace, cannotRun } from './tracker-pace.rules';

const ports101 = { tcp: [{ from: 40000, to: 40100 }], udp: [] };
const refusal = (run: () => void): { code: string; message: string } | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    return { code: (error as DomainError).code, message: (error as DomainError).message };
  }
};

describe('tracker pace rules', () => {
  it('takes no pace, and a pace a remote or network scan can finish within 7 days', () => {
    expect(refusal(() => assertPace('self', 1, ports101, undefined))).toBeUndefined();
    expect(refusal(() => assertPace('remote', 1, ports101, null))).toBeUndefined();
    expect(refusal(() => assertPace('network', 4, ports101, 2))).toBeUndefined();
  });

  it('refuses a pace on a scan that sends no probes, and one too slow, naming the least rate', () => {
    expect(refusal(() => assertPace('self', 1, ports101, 5))).toEqual({ code: 'invalid_payload', message: 'maxRate paces the probes of a remote or network scan; a self tracker sends none' });
    expect(refusal(() => assertPace('agentless', 1, ports101, 5))?.message).toBe('maxRate paces the probes of a remote or network scan; an agentless tracker sends none');
    expect(refusal(() => assertPace('network', 4, ports101, 0.0005))?.message).toBe(
      'maxRate 0.0005 is too slow: one scan of 4 hosts over 101 ports would take more than 7 days; at least 0.003 probes a second',
    );
  });

  it('checks the run of the whole device, chunked or not: chunks are scanned one after another', () => {
    // 1,024 hosts: an agent scans them all with one nmap, workers in chunks of 256, in turn.
    expect(refusal(() => assertPace('network', 1024, ports101, 0.5))?.message).toMatch(/^maxRate 0\.5 is too slow: one scan of 1024 hosts/);
    expect(refusal(() => assertPace('network', 1024, ports101, 1))).toBeUndefined();
  });

  it('hands a paced scan only to an agent that says it paces', () => {
    const older = { name: 'web-01', version: '0.1.0', features: [] };
    expect(cannotRun({ maxRate: null }, older)).toBeUndefined();
    expect(cannotRun({ maxRate: 20 }, { ...older, features: ['scan-pace'] })).toBeUndefined();
    expect(cannotRun({ maxRate: 20 }, { ...older, features: ['something-else'] })).toMatch(/does not say it can \(feature "scan-pace"\)/);
    expect(refusal(() => assertAgentPaces(20, older))).toEqual({
      code: 'conflict',
      message: 'maxRate: the tracker paces its scans (maxRate 20), and agent "web-01" (version 0.1.0) does not say it can (feature "scan-pace"); upgrade the agent, or clear maxRate',
    });
    expect(refusal(() => assertAgentPaces(undefined, older))).toBeUndefined();
  });
});
