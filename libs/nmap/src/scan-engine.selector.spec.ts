import { DomainError } from '@portolan/contracts/errors';
import { defaultTcpTechnique, selectScanEngine } from './scan-engine.selector';

const nmapFound = async () => ({ path: '/usr/bin/nmap', version: '7.93' });
const nmapMissing = async () => null;

describe('selectScanEngine', () => {
  it('auto picks nmap when it is installed and the connect scanner otherwise', async () => {
    expect((await selectScanEngine('auto', { detect: nmapFound })).name).toBe('nmap');
    expect((await selectScanEngine('auto', { detect: nmapMissing })).name).toBe('connect');
  });

  it('gives the connect scanner when asked, without looking for nmap', async () => {
    const detect = jest.fn(nmapFound);
    expect((await selectScanEngine('connect', { detect })).name).toBe('connect');
    expect(detect).not.toHaveBeenCalled();
  });

  it('refuses to stand in for nmap when nmap was asked for and is missing', async () => {
    const error = await selectScanEngine('nmap', { detect: nmapMissing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('engine_unavailable');
  });
});

describe('defaultTcpTechnique', () => {
  it('is syn only for nmap running as root', () => {
    expect(defaultTcpTechnique({ name: 'nmap' }, 0)).toBe('syn');
    expect(defaultTcpTechnique({ name: 'nmap' }, 1000)).toBe('connect');
    expect(defaultTcpTechnique({ name: 'nmap' }, null)).toBe('connect');
    expect(defaultTcpTechnique({ name: 'connect' }, 0)).toBe('connect');
  });
});
