import { DomainError } from '@portolan/contracts/errors';
import { ConnectScanner } from './connect.scanner';
import type { ConnectScannerOptions } from './connect.scanner';
import { detectNmap } from './nmap.detector';
import type { NmapBinary } from './nmap.detector';
import { NmapEngine } from './nmap.engine';
import type { EngineName, ScanEngine } from './scan-outcome';
import type { TcpTechnique } from './scan-request';

export type EnginePreference = 'auto' | EngineName;

export interface SelectScanEngineOptions {
  /** Replaces PATH detection (tests, or a configured nmap path). */
  detect?: () => Promise<NmapBinary | null>;
  connect?: ConnectScannerOptions;
}

/**
 * 'auto' takes nmap when it is installed and the built-in connect scanner otherwise; 'nmap'
 * without nmap installed is an engine_unavailable error rather than a silent downgrade.
 */
export async function selectScanEngine(
  prefer: EnginePreference,
  options: SelectScanEngineOptions = {},
): Promise<ScanEngine> {
  if (prefer === 'connect') return new ConnectScanner(options.connect);
  const binary = await (options.detect ?? detectNmap)();
  if (binary !== null) return new NmapEngine(binary);
  if (prefer === 'nmap') {
    throw new DomainError('engine_unavailable', 'nmap was requested but is not installed on this scanner (not found on PATH)');
  }
  return new ConnectScanner(options.connect);
}

/**
 * SYN scanning needs nmap and raw sockets; a root process with nmap gets 'syn', anything else
 * 'connect'. Decided from the engine actually selected, so the two never disagree.
 */
export function defaultTcpTechnique(
  engine: Pick<ScanEngine, 'name'>,
  uid: number | null = process.getuid?.() ?? null,
): TcpTechnique {
  return engine.name === 'nmap' && uid === 0 ? 'syn' : 'connect';
}
