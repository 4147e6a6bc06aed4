import { InProcessBus } from './in-process.bus';
import { busContract } from './testing/bus-contract.suite';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

busContract('in-process', { create: async (producer) => new InProcessBus(producer, quiet) });
