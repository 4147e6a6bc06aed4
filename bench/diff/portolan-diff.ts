/**
 * The Portolan side of the diff benchmark, run as its own process so its peak RSS can be set
 * against ndiff's: stream-read both nmap XML files in 64 KiB chunks (NmapXmlFastReader),
 * turning each host's open ports into items as its element closes. File A fills
 * StreamingItemDiff's compact baseline index; file B is compared with it host by host. No
 * host or item outlives its own </host>.
 *
 *   node -r @swc-node/register bench/diff/portolan-diff.ts a.xml b.xml
 *
 * Prints one JSON line: phase timings (ms), change counts, and every change found as
 * "+ host proto/port" (added), "- ..." (removed) or "~ ..." (modified), for run.ts to set
 * against ndiff's report.
 */
import { portItemsFromHosts, StreamingItemDiff } from '@portolan/diff';
import type { Item } from '@portolan/diff';
import { NmapXmlFastReader } from '@portolan/nmap';
import { closeSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Streams the file through the reader in 64 KiB chunks (the size of a pipe read from nmap). */
function readHosts(path: string, onItems: (items: Item[]) => void): number {
  const reader = new NmapXmlFastReader({ onHost: (host) => onItems(portItemsFromHosts([host])) });
  const chunk = Buffer.allocUnsafe(64 * 1024);
  const fd = openSync(path, 'r');
  try {
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) reader.write(chunk.subarray(0, read));
  } finally {
    closeSync(fd);
  }
  reader.end();
  return reader.hostsSeen;
}

function main(): void {
  const [baselinePath, observedPath] = process.argv.slice(2);
  if (!baselinePath || !observedPath) throw new Error('usage: portolan-diff.ts a.xml b.xml');
  const changes: string[] = [];
  const diff = new StreamingItemDiff({
    onAdded: (item) => changes.push(`+ ${item.host} ${item.key}`),
    onRemoved: (item) => changes.push(`- ${item.host} ${item.key}`),
    onModified: (m) => changes.push(`~ ${m.after.host} ${m.after.key}`),
  });
  const t0 = performance.now();
  const hostsA = readHosts(baselinePath, (items) => diff.addBaseline(items));
  const t1 = performance.now();
  const hostsB = readHosts(observedPath, (items) => diff.addObserved(items));
  const counts = diff.finish();
  const t2 = performance.now();
  const round = (ms: number): number => Math.round(ms);
  console.log(
    JSON.stringify({
      readAMs: round(t1 - t0),
      readAndDiffBMs: round(t2 - t1),
      totalMs: round(t2 - t0),
      hosts: [hostsA, hostsB],
      ...counts,
      changes,
    }),
  );
}

main();
