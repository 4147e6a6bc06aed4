import type { HostObservation, ScanProgress } from './scan-outcome';

/** What <nmaprun> says at the start of a run. Empty strings when nmap failed before it began. */
export interface NmapRunInfo {
  scanner: string;
  /** nmap's own record of its command line (one string, as nmap quotes it). */
  args: string;
  version: string;
  xmlOutputVersion?: string;
  startedAt?: Date;
}

/** <runstats>: how the run ended and the host counts. */
export interface NmapRunSummary {
  exit: 'success' | 'error';
  errorMessage?: string;
  finishedAt?: Date;
  elapsedSeconds?: number;
  summary?: string;
  hostsUp: number;
  hostsDown: number;
  hostsTotal: number;
}

export type NmapRun = NmapRunInfo & NmapRunSummary;

export interface NmapXmlHandlers {
  onRunInfo?(info: NmapRunInfo): void;
  /** Called as each </host> closes; the reader keeps no reference to the host afterwards. */
  onHost?(host: HostObservation): void;
  onProgress?(progress: ScanProgress): void;
  onFinished?(summary: NmapRunSummary): void;
}

/**
 * A streaming reader of `nmap -oX` output: feed chunks with write(), then call end(), which
 * throws NmapXmlError for a truncated document. Both readers (NmapXmlFastReader, used at run
 * time, and the saxes-based NmapXmlStreamParser) implement it and emit the same events.
 */
export interface NmapXmlReader {
  write(chunk: string | Buffer): void;
  end(): void;
  /** Hosts emitted so far. */
  readonly hostsSeen: number;
  /** The <runstats> summary, once it has been read. */
  readonly finished: NmapRunSummary | null;
}

/** Malformed or truncated nmap XML; `line` and `column` point at where parsing stopped. */
export class NmapXmlError extends Error {
  constructor(
    readonly detail: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`Malformed nmap XML at line ${line}, column ${column}: ${detail}`);
    this.name = 'NmapXmlError';
  }
}
