import { groupsFor, validateGroupRules } from './group-rules';

describe('enrolment group rules', () => {
  const rules = [
    { field: 'hostname' as const, pattern: '^web-', group: 'Web servers' },
    { field: 'os' as const, pattern: 'windows', group: 'Windows' },
    { field: 'hostname' as const, pattern: 'prod', group: 'Production' },
  ];

  it('places a device in every group whose rule matches, case-insensitively', () => {
    expect(groupsFor(rules, { hostname: 'WEB-prod-01', os: 'linux 6.1' })).toEqual(['Web servers', 'Production']);
    expect(groupsFor(rules, { hostname: 'dc01', os: 'Windows Server 2019' })).toEqual(['Windows']);
  });

  it('falls back to "New Devices"', () => {
    expect(groupsFor(rules, { hostname: 'db-7', os: 'linux' })).toEqual(['New Devices']);
    expect(groupsFor([], { hostname: 'x', os: 'y' })).toEqual(['New Devices']);
  });

  it('names the rule whose pattern is not a regular expression', () => {
    expect(() => validateGroupRules([rules[0], { field: 'os', pattern: '([a-z', group: 'G' }])).toThrow(/groupRules\[1\]\.pattern "\(\[a-z"/);
  });
});
