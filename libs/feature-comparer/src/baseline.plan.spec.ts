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
});
