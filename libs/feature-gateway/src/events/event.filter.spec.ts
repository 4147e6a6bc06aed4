import { csvCell } from './event.export';
import { EventFilterSchema, eventWhere, globToLike } from './event.filter';

describe('eventWhere', () => {
  const where = (query: Record<string, string>) => eventWhere(EventFilterSchema.parse(query));

  it('puts every value in a parameter, never in the SQL text', () => {
    const { sql, params } = where({ q: "x' OR 1=1 --", key: "ip route '*", itemType: 'config-line', planned: 'true' });
    expect(sql).not.toContain('1=1');
    expect(sql).not.toContain('ip route');
    expect(params).toEqual(['config-line', true, "ip route '%", "%x' OR 1=1 --%", "%x' OR 1=1 --%", "%x' OR 1=1 --%"]);
  });

  it('turns a port pattern into a protocol and a numeric range', () => {
    const { sql, params } = where({ key: 'udp/8000-8100' });
    expect(sql).toContain(`e.item_type = 'port'`);
    expect(params).toEqual(['udp', 8000, 8100]);
  });

  it('refuses a bad key pattern and a range that ends before it starts, naming them', () => {
    expect(() => where({ key: 'tcp/0-5' })).toThrow('key: port 0 in "tcp/0-5" is out of range (1-65535)');
    expect(() => where({ since: '2026-12-02T00:00:00Z', until: '2026-12-01T00:00:00Z' })).toThrow('until 2026-12-01T00:00:00Z is before since 2026-12-02T00:00:00Z');
  });
});

describe('globToLike and csvCell', () => {
  it('maps glob wildcards to LIKE and escapes LIKE wildcards of the text', () => {
    expect(globToLike('a*b?c')).toBe('a%b_c');
    expect(globToLike('100%_done\\*')).toBe('100\\%\\_done*');
  });

  it('quotes per RFC 4180 and defuses spreadsheet formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell(-1)).toBe('-1');
    expect(csvCell(null)).toBe('');
    expect(csvCell('line\nbreak')).toBe('"line\nbreak"');
  });
});
