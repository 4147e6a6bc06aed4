export type { PortRange, PortSet, Protocol, ScanRequest, TcpTechnique } from './scan-request';
export { PORT_STATES, scanPercent } from './scan-outcome';
export type {
  EngineName,
  HostObservation,
  HostState,
  PortObservation,
  PortState,
  ScanEngine,
  ScanOutcome,
  ScanProgress,
} from './scan-outcome';
export { scanFailureReason } from './scan-failure';
export type { ScanFailureReason } from './scan-failure';
export { assertSafeTargetToken, assertScanRate, buildNmapArgs, formatNmapPortSpec, MAX_PACED_SCAN_MS, MAX_SCAN_RATE, maxRateArgs, NMAP_MAX_RETRIES, NMAP_STATS_EVERY, pacedScanMs, scanTimeoutMs, slowestScanRate } from './nmap-args.builder';
export type { NmapArgsRequest } from './nmap-args.builder';
export { NmapXmlError } from './nmap-xml.types';
export type { NmapRun, NmapRunInfo, NmapRunSummary, NmapXmlHandlers, NmapXmlReader } from './nmap-xml.types';
export { NmapXmlFastReader } from './nmap-xml.fast-reader';
export { NmapXmlStreamParser, parseNmapXml } from './nmap-xml.parser';
export type { ParsedNmapXml } from './nmap-xml.parser';
export { detectNmap, parseNmapVersion } from './nmap.detector';
export type { DetectNmapOptions, NmapBinary } from './nmap.detector';
export { runNmap } from './nmap.runner';
export type { NmapRunOptions, NmapRunResult } from './nmap.runner';
export { judgeNmapRun, NmapEngine } from './nmap.engine';
export type { NmapEngineOptions } from './nmap.engine';
export { expandConnectTargets, MAX_CONNECT_HOSTS } from './connect-targets.expander';
export { CONNECT_ENGINE_VERSION, ConnectScanner } from './connect.scanner';
export type { ConnectScannerOptions } from './connect.scanner';
export { defaultTcpTechnique, selectScanEngine } from './scan-engine.selector';
export type { EnginePreference, SelectScanEngineOptions } from './scan-engine.selector';
