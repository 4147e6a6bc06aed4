/**
 * The Portolan side of the diff benchmark, run as its own process so its peak RSS can be set
 * against ndiff's: stream-parse both nmap XML files, turn open ports into items, diff them.
 *
 *   node -r @swc-node/register bench/diff/portolan-diff.ts a.xml b.xml
 *
 * Prints one JSON line: phase timings (ms) and change counts.
 */
import { diffItems, portItemsFromHosts } from '@portolan/diff';
import type { Item } from '@portolan/diff';
import { NmapXmlStreamParser } from '@portolan/nmap';
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';

async function readPortItems(path: string): Promise<{ items: Item[]; hosts: number }> {
  const items: Item[] = [];
  const parser = new NmapXmlStreamParser({
    onHost: (host) => {
      for (const item of portItemsFromHosts([host])) items.push(item);
    },
  });
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) parser.write(chunk as Buffer);
  parser.end();
  return { items, hosts: parser.hostsSeen };
}

async function main(): Promise<void> {
  const [baselinePath, observedPath] = process.argv.slice(2);
  if (!baselinePath || !observedPath) throw new Error('usage: portolan-diff.ts a.xml b.xml');
  const t0 = performance.now();
  const baseline = await readPortItems(baselinePath);
  const t1 = performance.now();
  const observed = await readPortItems(observedPath);
  const t2 = performance.now();
  const result = diffItems(baseline.items, observed.items);
  const t3 = performance.now();
  const round = (ms: number): number => Math.round(ms);
  console.log(
    JSON.stringify({
      parseAMs: round(t1 - t0),
      parseBMs: round(t2 - t1),
      diffMs: round(t3 - t2),
      totalMs: round(t3 - t0),
      hosts: [baseline.hosts, observed.hosts],
      items: [baseline.items.length, observed.items.length],
      added: result.added.length,
      removed: result.removed.length,
      modified: result.modified.length,
      unchanged: result.unchanged,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
