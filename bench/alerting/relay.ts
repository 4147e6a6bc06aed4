/**
 * The reference for the alerting bench: the least a relay can do, a core NATS subscription that
 * POSTs each message's body to the receiver (no database, no rules, no retries).
 */
import { connect } from '@nats-io/transport-node';

async function main(): Promise<void> {
  const [servers, subject, url] = process.argv.slice(2);
  const nc = await connect({ servers });
  const sub = nc.subscribe(subject, {
    callback: (error, msg) => {
      if (error) return;
      void fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: msg.data }).then((r) => r.arrayBuffer(), () => undefined);
    },
  });
  process.send?.('ready');
  process.on('SIGTERM', () => void sub.drain().then(() => nc.close()).then(() => process.exit(0)));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
