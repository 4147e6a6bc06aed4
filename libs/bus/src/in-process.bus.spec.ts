import { z } from 'zod';
import { defineMessage } from '@portolan/contracts';
import { Outcomes } from './bus';
import { InProcessBus } from './in-process.bus';
import { busContract } from './testing/bus-contract.suite';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

busContract('in-process', { create: async (producer) => new InProcessBus(producer, quiet) });

describe('InProcessBus memory', () => {
  it('drops messages every consumer has settled, so a long-running hub does not grow', async () => {
    const bus = new InProcessBus('test', quiet);
    await bus.start();
    const Work = defineMessage({ subject: 'portolan.result.memory.test.v1', transport: 'durable', routed: false, stream: 'PORTOLAN_RESULTS_V1', schema: z.object({ n: z.number() }) });
    let handled = 0;
    const handle = await bus.consume({ message: Work, durable: 'memory-test' }, async () => (handled++, Outcomes.ack()));
    for (let n = 0; n < 500; n += 1) await bus.publish(Work, { n });
    for (let i = 0; i < 100 && handled < 500; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(handled).toBe(500);
    expect(bus.storedMessages('PORTOLAN_RESULTS_V1')).toBe(0);
    await handle.stop();
    await bus.close();
  });
});
