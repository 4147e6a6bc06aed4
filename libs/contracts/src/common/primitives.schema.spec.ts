import { SiteNameSchema } from './primitives.schema';

describe('SiteNameSchema', () => {
  it('takes NATS-safe names and refuses the rest, saying why', () => {
    expect(['branch-1', 'dc2', 'a'.repeat(63)].map((name) => SiteNameSchema.safeParse(name).success)).toEqual([true, true, true]);
    for (const name of ['', 'Branch', 'branch.1', '-edge', 'a'.repeat(64), 'site one']) {
      expect(SiteNameSchema.safeParse(name).error?.issues[0].message).toBe('site name must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit');
    }
  });

  it('keeps "all-sites" for the workers that serve every site', () => {
    expect(SiteNameSchema.safeParse('all-sites').error?.issues[0].message).toBe('site name "all-sites" is reserved: the workers that serve every site use it');
  });
});
