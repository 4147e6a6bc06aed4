import { hostname } from 'node:os';
import { AGENT_VERSION, AgentFatalError, AgentRuntime, loadAgentSettings } from '@portolan/feature-agent';
import { createLogger } from '@portolan/logging';

const USAGE = `portolan-agent [run|enrol|status|rotate-secret] [--config FILE]

  run            (default) enrol on first start, then track this host and run assigned scans
  enrol          exchange the enrolment token for this agent's identity, then exit
  status         print the agent's identity, cached configuration, spool and whether the hub
                 takes its credentials now, as JSON (never the secret); exit 0 when it does
  rotate-secret  get a new secret from the hub and keep it in the state directory

Settings come from the JSON file (--config, or PORTOLAN_AGENT_CONFIG) and the environment:
PORTOLAN_HUB_URL, PORTOLAN_ENROL_TOKEN, PORTOLAN_HUB_PIN_SHA256 or PORTOLAN_HUB_CA_FILE,
PORTOLAN_HUB_PROXY, PORTOLAN_AGENT_STATE_DIR, PORTOLAN_AGENT_SCANNER,
PORTOLAN_AGENT_NAME_PREFIX/SUFFIX.`;

async function main(argv: string[]): Promise<number> {
  const configAt = argv.indexOf('--config');
  const file = configAt >= 0 ? argv[configAt + 1] : undefined;
  const command = argv.filter((arg, i) => !arg.startsWith('--') && argv[i - 1] !== '--config')[0] ?? 'run';
  if (command === 'help' || argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const settings = loadAgentSettings({ file });
  const logger = createLogger({ service: 'agent', version: AGENT_VERSION, level: settings.logLevel, instance: hostname() });
  const runtime = new AgentRuntime(settings, logger, AGENT_VERSION);
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  try {
    if (command === 'status') {
      const report = await runtime.status(stop.signal);
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return report.ok ? 0 : 1;
    }
    if (command === 'enrol') await runtime.enrol(stop.signal);
    else if (command === 'rotate-secret') await runtime.rotateSecret();
    else if (command === 'run') await runtime.run(stop.signal);
    else {
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
    }
    return 0;
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, error instanceof AgentFatalError ? 'agent stopped' : 'agent failed');
    return error instanceof AgentFatalError ? 3 : 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`portolan-agent: ${error.message}\n`);
    process.exitCode = 1;
  },
);
