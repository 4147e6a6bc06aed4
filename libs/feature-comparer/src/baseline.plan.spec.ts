import { Item, portItem } from '@portolan/diff';
import { planBaselineChanges } from './baseline.plan';

const open = (host: string, port: number, service = 'unknown'): Item => portItem(host, { protocol: 'tcp', port, state: 'open', service });
const inRange = (item: Item) => Number(item.attributes['port']) >= 40000 && Number(item.attributes['port']) <= 40100;
const t = (s: string) => new Date(`2026-11-22T${s}Z`);

describe('planBaselineChanges', () => {
  it('makes a first poll the baseline, without change events', () => {
    const { changes } = planBaselineChanges({
      upHosts: ['127.0.0.2'],
      baselines: new Map(),
      current: [],
      observed: [open('127.0.0.2', 40001)],
      inCoverage: inRange,
      observedAt: t('10:00:00'),
    });
    expect(changes).toEqual([expect.objectContaining({ host: '127.0.0.2', firstPoll: true, added: [], removed: [] })]);
    expect(changes[0].observed.map((i) => i.key)).toEqual(['tcp/40001']);
  });

  it('finds opened and closed ports of baselined hosts, within coverage only', () => {
    const { changes } = planBaselineChanges({
      upHosts: ['127.0.0.2'],
      baselines: new Map([['127.0.0.2', { host: '127.0.0.2', observedAt: t('09:00:00') }]]),
      current: [open('127.0.0.2', 40001), open('127.0.0.2', 22)],
      observed: [open('127.0.0.2', 40002)],
      inCoverage: inRange,
      observedAt: t('10:00:00'),
    });
    expect(changes[0].added.map((i) => i.key)).toEqual(['tcp/40002']);
    expect(changes[0].removed.map((i) => i.key)).toEqual(['tcp/40001']);
  });

  it('a wider port spec baselines the ports it brings into range; a narrower one drops the ports it leaves out; neither is a change', () => {
    const range = (from: number, to: number) => (item: Item) => Number(item.attributes['port']) >= from && Number(item.attributes['port']) <= to;
    const { changes } = planBaselineChanges({
      upHosts: ['127.0.0.2'],
      baselines: new Map([['127.0.0.2', { host: '127.0.0.2', observedAt: t('09:00:00') }]]),
      // The baseline was made over 40000-40100; the tracker now scans 40050-40200.
      current: [open('127.0.0.2', 40010), open('127.0.0.2', 40060), open('127.0.0.2', 40070)],
      observed: [open('127.0.0.2', 40060), open('127.0.0.2', 40150), open('127.0.0.2', 40080)],
      inCoverage: range(40050, 40200),
      baselineCovers: () => range(40000, 40100),
      observedAt: t('10:00:00'),
    });
    const [host] = changes;
    expect(host.added.map((i) => i.key)).toEqual(['tcp/40080']); // in both ranges: a real change
    expect(host.removed.map((i) => i.key)).toEqual(['tcp/40070']);
    expect(host.baselined.map((i) => i.key)).toEqual(['tcp/40150']);
    expect(host.dropped.map((i) => i.key)).toEqual(['tcp/40010']);
  });

  it('never turns a host that was not up into closed ports', () => {
    const { changes } = planBaselineChanges({
      upHosts: [],
      baselines: new Map([['127.0.0.3', { host: '127.0.0.3', observedAt: t('09:00:00') }]]),
      current: [open('127.0.0.3', 40001)],
      observed: [],
      inCoverage: inRange,
      observedAt: t('10:00:00'),
    });
    expect(changes).toEqual([]);
  });

  it('ignores a result older than what the baseline already reflects', () => {
    const { changes, staleHosts } = planBaselineChanges({
      upHosts: ['127.0.0.2'],
      baselines: new Map([['127.0.0.2', { host: '127.0.0.2', observedAt: t('11:00:00') }]]),
      current: [open('127.0.0.2', 40001)],
      observed: [],
      inCoverage: inRange,
      observedAt: t('10:00:00'),
    });
    expect(changes).toEqual([]);
    expect(staleHosts).toEqual(['127.0.0.2']);
  });

  it("applies a result of a tracker whose results come in their own order (an agent's), whatever its time", () => {
    const { changes, staleHosts } = planBaselineChanges({
      upHosts: ['127.0.0.2'],
      baselines: new Map([['127.0.0.2', { host: '127.0.0.2', observedAt: t('11:00:00') }]]),
      current: [open('127.0.0.2', 40001)],
      observed: [],
      inCoverage: inRange,
      observedAt: t('10:00:00'),
      ordered: true,
    });
    expect(staleHosts).toEqual([]);
    expect(changes.map((c) => [c.host, c.removed.length])).toEqual([['127.0.0.2', 1]]);
  });
});
