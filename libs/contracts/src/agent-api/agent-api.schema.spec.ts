import { randomUUID } from 'node:crypto';
import { AgentPollQuerySchema, EnrolRequestSchema } from './agent-api.schema';

describe('what an agent says it can do', () => {
  const poll = { boot: randomUUID(), version: '1.0.0' };
  const enrolment = { token: 'x'.repeat(32), name: 'web-01', hostname: 'web-01', os: { platform: 'linux', release: '6.1.0' }, version: '1.0.0', scanner: true };

  it('reads a poll\'s features separated by ",", keeping names the hub does not know', () => {
    expect(AgentPollQuerySchema.parse({ ...poll, features: 'scan-pace,later-thing2' }).features).toEqual(['later-thing2', 'scan-pace']);
    // A set: the same names in another order, or twice, are the same features.
    expect(AgentPollQuerySchema.parse({ ...poll, features: 'scan-pace,later-thing2,scan-pace' }).features).toEqual(['later-thing2', 'scan-pace']);
    expect(EnrolRequestSchema.parse({ ...enrolment, features: ['scan-pace', 'a-thing', 'scan-pace'] }).features).toEqual(['a-thing', 'scan-pace']);
    expect(AgentPollQuerySchema.parse({ ...poll, features: '' }).features).toEqual([]);
    expect(AgentPollQuerySchema.parse(poll).features).toBeUndefined();
  });

  it('refuses, naming the field, a name that is not one, and more than 32', () => {
    for (const bad of ['Scan-Pace', 'scan pace', 'scan-pace,', '-pace', 'a'.repeat(33)]) {
      const parsed = AgentPollQuerySchema.safeParse({ ...poll, features: bad });
      expect(parsed.success ? undefined : parsed.error.issues[0].path[0]).toBe('features');
    }
    const many = Array.from({ length: 33 }, (_, i) => `f${i}`);
    expect(AgentPollQuerySchema.safeParse({ ...poll, features: many.join(',') }).success).toBe(false);
    expect(AgentPollQuerySchema.safeParse({ ...poll, features: many.slice(0, 32).join(',') }).success).toBe(true);
    expect(EnrolRequestSchema.safeParse({ ...enrolment, features: many }).success).toBe(false);
    expect(EnrolRequestSchema.safeParse({ ...enrolment, features: ['Scan'] }).success).toBe(false);
  });

  it('takes an enrolment without features (an older agent) and one with them', () => {
    expect(EnrolRequestSchema.parse(enrolment).features).toBeUndefined();
    expect(EnrolRequestSchema.parse({ ...enrolment, features: ['scan-pace'] }).features).toEqual(['scan-pace']);
  });
});
