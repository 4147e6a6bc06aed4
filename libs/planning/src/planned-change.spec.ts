import fc from 'fast-check';
import { ClassifiableChange, classifyChange, compilePlannedChange, exactRule, PlannedChangeDefinition, uniqueRules } from './planned-change';
import { matchesKey, parseKeyPattern } from './key-pattern';

const DEVICE = '00000000-0000-4000-8000-000000000001';
const OTHER_DEVICE = '00000000-0000-4000-8000-000000000002';
const GROUP = '00000000-0000-4000-8000-0000000000a1';
const TRACKER = '00000000-0000-4000-8000-0000000000b1';
const T0 = new Date('2026-12-01T10:00:00Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

const plan = (over: Partial<PlannedChangeDefinition> = {}) =>
  compilePlannedChange({ id: 'p1', status: 'approved', mode: 'rules', start: T0, end: minutes(60), deviceIds: [DEVICE], groupIds: [], rules: [{ keyPattern: 'tcp/443' }], ...over });
const change = (over: Partial<ClassifiableChange> = {}): ClassifiableChange => ({
  kind: 'added',
  deviceId: DEVICE,
  groupIds: [],
  trackerId: TRACKER,
  itemType: 'port',
  itemKey: 'tcp/443',
  observedAt: minutes(30),
  ...over,
});

describe('classifyChange', () => {
  it('a matching change inside the window is planned and linked to its rule; another port is not', () => {
    expect(classifyChange(change(), [plan()])).toEqual({ plannedChangeId: 'p1', rule: 0 });
    expect(classifyChange(change({ itemKey: 'tcp/8080' }), [plan()])).toBeUndefined();
  });

  it('includes both ends of the window and nothing a millisecond outside', () => {
    const p = plan();
    expect(classifyChange(change({ observedAt: T0 }), [p])).toBeDefined();
    expect(classifyChange(change({ observedAt: minutes(60) }), [p])).toBeDefined();
    expect(classifyChange(change({ observedAt: new Date(T0.getTime() - 1) }), [p])).toBeUndefined();
    expect(classifyChange(change({ observedAt: new Date(minutes(60).getTime() + 1) }), [p])).toBeUndefined();
  });

  it('an open-ended window covers everything after its start', () => {
    const p = plan({ end: null });
    expect(classifyChange(change({ observedAt: new Date('2036-01-01T00:00:00Z') }), [p])).toBeDefined();
    expect(classifyChange(change({ observedAt: new Date(T0.getTime() - 1) }), [p])).toBeUndefined();
  });

  it('only approved changes classify; drafts never do', () => {
    expect(classifyChange(change(), [plan({ status: 'draft' })])).toBeUndefined();
  });

  it('scope by device or by one of the device groups; other devices are not covered', () => {
    expect(classifyChange(change({ deviceId: OTHER_DEVICE }), [plan()])).toBeUndefined();
    const byGroup = plan({ deviceIds: [], groupIds: [GROUP] });
    expect(classifyChange(change({ deviceId: OTHER_DEVICE, groupIds: [GROUP] }), [byGroup])).toBeDefined();
    expect(classifyChange(change({ deviceId: OTHER_DEVICE, groupIds: ['x'] }), [byGroup])).toBeUndefined();
  });

  it('rules narrow by tracker, item type and change kind', () => {
    const p = plan({ rules: [{ trackerId: TRACKER, itemType: 'port', kinds: ['removed'], keyPattern: 'tcp/400-500' }] });
    expect(classifyChange(change({ kind: 'removed' }), [p])).toEqual({ plannedChangeId: 'p1', rule: 0 });
    expect(classifyChange(change({ kind: 'added' }), [p])).toBeUndefined();
    expect(classifyChange(change({ kind: 'removed', trackerId: 'other' }), [p])).toBeUndefined();
    expect(classifyChange(change({ kind: 'removed', itemType: 'config-line', itemKey: 'tcp/443' }), [p])).toBeUndefined();
  });

  it('baseline and communications events are never planned', () => {
    const p = plan({ rules: [{}] });
    expect(classifyChange(change({ kind: 'baseline' }), [p])).toBeUndefined();
    expect(classifyChange(change({ kind: 'communications', itemKey: null, itemType: null }), [p])).toBeUndefined();
  });

  it('recording mode plans every change in scope and window', () => {
    const p = plan({ mode: 'recording', rules: [] });
    expect(classifyChange(change({ itemKey: 'udp/9999' }), [p])).toEqual({ plannedChangeId: 'p1', rule: 'recording' });
    expect(classifyChange(change({ observedAt: minutes(61) }), [p])).toBeUndefined();
  });

  it('overlapping changes: the earliest start wins, then the lowest id, in any order given', () => {
    const early = plan({ id: 'b', start: minutes(-10) });
    const late = plan({ id: 'a', start: minutes(0) });
    const sameStart = plan({ id: 'c', start: minutes(-10) });
    expect(classifyChange(change(), [late, early, sameStart])?.plannedChangeId).toBe('b');
    expect(classifyChange(change(), [sameStart, early, late])?.plannedChangeId).toBe('b');
  });

  it('property: planned exactly when approved, inside the window, in scope, and the port in the rule range', () => {
    fc.assert(
      fc.property(
        fc.record({
          approved: fc.boolean(),
          startMin: fc.integer({ min: -1000, max: 1000 }),
          lengthMin: fc.option(fc.integer({ min: 1, max: 1000 })),
          atMin: fc.integer({ min: -2000, max: 2000 }),
          from: fc.integer({ min: 1, max: 65535 }),
          span: fc.integer({ min: 0, max: 100 }),
          port: fc.integer({ min: 1, max: 65535 }),
          inScope: fc.boolean(),
        }),
        (c) => {
          const to = Math.min(65535, c.from + c.span);
          const p = plan({ status: c.approved ? 'approved' : 'draft', start: minutes(c.startMin), end: c.lengthMin === null ? null : minutes(c.startMin + c.lengthMin), rules: [{ keyPattern: `tcp/${c.from}-${to}` }] });
          const got = classifyChange(change({ itemKey: `tcp/${c.port}`, observedAt: minutes(c.atMin), deviceId: c.inScope ? DEVICE : OTHER_DEVICE }), [p]);
          const inWindow = c.atMin >= c.startMin && (c.lengthMin === null || c.atMin <= c.startMin + c.lengthMin);
          expect(got !== undefined).toBe(c.approved && inWindow && c.inScope && c.port >= c.from && c.port <= to);
        },
      ),
    );
  });
});

describe('compilePlannedChange', () => {
  it('refuses an end before (or at) the start, an empty scope, no rules, a bad pattern or kind, naming the field', () => {
    expect(() => plan({ end: minutes(-1) })).toThrow('end: 2026-12-01T09:59:00.000Z is not after the start 2026-12-01T10:00:00.000Z');
    expect(() => plan({ end: T0 })).toThrow(/^end: /);
    expect(() => plan({ deviceIds: [], groupIds: [] })).toThrow('scope: name at least one device or group');
    expect(() => plan({ rules: [] })).toThrow('rules: a planned change in rules mode needs at least one rule');
    expect(() => plan({ rules: [{ keyPattern: 'tcp/443' }, { itemType: 'port', keyPattern: 'tcp/70000' }] })).toThrow('rules[1].keyPattern: port 70000 in "tcp/70000" is out of range (1-65535)');
    expect(() => plan({ rules: [{ kinds: ['deleted' as never] }] })).toThrow('rules[0].kinds: unknown change kind "deleted"');
  });
});

describe('exactRule', () => {
  it('makes a rule that matches the change itself and not its neighbours', () => {
    for (const [itemType, key, neighbour] of [
      ['port', 'tcp/443', 'tcp/444'],
      ['port', 'tcp/22@*', 'tcp/22@0.0.0.0'],
      ['config-line', 'banner motd *hello?*', 'banner motd xhelloyx'],
    ] as const) {
      const rule = exactRule({ kind: 'added', trackerId: TRACKER, itemType, itemKey: key });
      const pattern = parseKeyPattern(rule.keyPattern as string, itemType);
      expect(matchesKey(pattern, key)).toBe(true);
      expect(matchesKey(pattern, neighbour)).toBe(false);
      expect(classifyChange(change({ itemType, itemKey: key }), [plan({ rules: [rule] })])).toBeDefined();
    }
  });

  it('uniqueRules drops repeats whatever the order of kinds', () => {
    expect(uniqueRules([{ kinds: ['added', 'removed'], keyPattern: 'tcp/1' }, { kinds: ['removed', 'added'], keyPattern: 'tcp/1' }, { keyPattern: 'tcp/1' }])).toHaveLength(2);
  });
});
