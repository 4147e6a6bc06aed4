import { countProbes } from './probes';
import { buildPortSet } from './port-spec.parser';
import { parseTargetSpec } from './target-spec.parser';

describe('countProbes', () => {
  it('multiplies hosts by TCP plus UDP ports', () => {
    const ports = buildPortSet([
      { range: '1-1000', protocol: 'tcp' },
      { range: '53,161', protocol: 'udp' },
    ]);
    expect(countProbes(parseTargetSpec('192.168.1.1-255 ::1'), ports)).toBe(256 * 1002);
  });
});
