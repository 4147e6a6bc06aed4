import { randomUUID } from 'node:crypto';
import { jetstreamManager, JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { NatsConnection, nanos } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { JetStreamPublisher } from './jetstream.publisher';

const servers = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** Against the real NATS server: a stream of this test's own, removed afterwards. */
describe('JetStreamPublisher', () => {
  const tag = randomUUID().slice(0, 8);
  const stream = `PUBLISHER_TEST_${tag}`;
  const subject = `portolan.test.publisher.${tag}`;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let publisher: JetStreamPublisher;

  beforeAll(async () => {
    nc = await connect({ servers, name: 'publisher-test' });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${subject}.>`], retention: RetentionPolicy.Limits, storage: StorageType.Memory, duplicate_window: nanos(60_000) });
    publisher = new JetStreamPublisher(nc, 400);
  });

  afterAll(async () => {
    await publisher.close();
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  const stored = async () => (await jsm.streams.info(stream)).state.messages;

  it('resolves once the stream stores the message; a re-published id is stored once', async () => {
    const before = await stored();
    const id = randomUUID();
    await publisher.publish(`${subject}.one`, Buffer.from('{"n":1}'), id);
    await publisher.publish(`${subject}.one`, Buffer.from('{"n":1}'), id);
    expect((await stored()) - before).toBe(1);
  });

  it('keeps thousands in flight at once and stores each, in publish order', async () => {
    const before = await stored();
    const count = 3_000;
    await Promise.all(Array.from({ length: count }, (_, n) => publisher.publish(`${subject}.many`, Buffer.from(String(n)), randomUUID())));
    expect((await stored()) - before).toBe(count);
    const last = await jsm.streams.getMessage(stream, { last_by_subj: `${subject}.many` });
    expect(last?.string()).toBe(String(count - 1));
    expect(publisher.inFlight).toBe(0);
  });

  it('fails, naming the subject, when no stream takes it', async () => {
    await expect(publisher.publish(`portolan.test.nostream.${tag}`, Buffer.from('{}'), randomUUID())).rejects.toThrow(`publish to portolan.test.nostream.${tag} failed: no stream takes this subject`);
  });

  it('fails after its deadline when nothing acknowledges (a plain subscriber, no stream)', async () => {
    const silent = `portolan.test.silent.${tag}`;
    const sub = nc.subscribe(silent, { callback: () => undefined });
    try {
      const started = Date.now();
      await expect(publisher.publish(silent, Buffer.from('{}'), randomUUID())).rejects.toThrow(/no acknowledgement within 400 ms/);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      sub.unsubscribe();
    }
  });
});
