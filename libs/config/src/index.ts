export { fields, loadConfig, redactConfig, secret } from './env.loader';
export type { Env } from './env.loader';
export {
  alertingShape,
  collectorShape,
  gatewayShape,
  loadAlertingConfig,
  loadCollectorConfig,
  loadGatewayConfig,
  loadPlatformConfig,
  loadScannerConfig,
  loadSchedulerConfig,
  platformShape,
  scannerShape,
  schedulerShape,
  workerName,
} from './platform.config';
export type { AlertingConfig, CollectorConfig, GatewayConfig, PlatformConfig, ScannerConfig, SchedulerConfig } from './platform.config';
