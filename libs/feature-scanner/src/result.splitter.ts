import { DomainError, ScanCompleted } from '@portolan/contracts';

/** Room left in each message for the envelope around the payload. */
const ENVELOPE_BYTES = 512;

/**
 * Splits a chunk's result into parts that each fit `maxBytes` of JSON, by whole hosts, so each
 * part is complete for the hosts it carries. One part when it fits. A single host too large for
 * a message (a tarpit answering on every port, say) is an error naming the host.
 */
export function splitResult(result: Omit<ScanCompleted, 'scanId' | 'part'>, scanId: string, maxBytes: number): ScanCompleted[] {
  const base = Buffer.byteLength(JSON.stringify({ ...result, hosts: [], scanId, part: { index: 0, count: 0 } })) + ENVELOPE_BYTES;
  const budget = maxBytes - base;
  const groups: ScanCompleted['hosts'][] = [[]];
  let used = 0;
  for (const host of result.hosts) {
    const size = Buffer.byteLength(JSON.stringify(host)) + 1;
    if (size > budget) {
      const open = host.ports.filter((p) => p.state === 'open').length;
      throw new DomainError('scan_failed', `the result for host ${host.address} (${open} open ports) exceeds the message size limit of ${maxBytes} bytes`, {
        reason: 'result_too_large',
        host: host.address,
      });
    }
    if (used + size > budget && groups[groups.length - 1].length > 0) {
      groups.push([]);
      used = 0;
    }
    groups[groups.length - 1].push(host);
    used += size;
  }
  return groups.map((hosts, index) => ({ ...result, hosts, scanId, part: { index, count: groups.length } }));
}
