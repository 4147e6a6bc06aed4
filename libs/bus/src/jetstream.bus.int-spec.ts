import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { streamOf } from '@portolan/contracts';
import { JetStreamBus } from './jetstream.bus';
import { busContract } from './testing/bus-contract.suite';

const servers = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

busContract('NATS JetStream', {
  create: (producer) => JetStreamBus.connect({ servers, name: producer, logger: quiet }),
  removeConsumer: async (message, durable) => {
    const nc = await connect({ servers });
    try {
      await (await jetstreamManager(nc)).consumers.delete(streamOf(message).name, durable).catch(() => undefined);
    } finally {
      await nc.close();
    }
  },
});
