import { z } from 'zod';
import { defineMessage } from '@portolan/contracts';
import { encode, open, seal } from './codec';

const Work = defineMessage({
  subject: 'portolan.result.codec.test.v1',
  transport: 'durable',
  routed: false,
  stream: 'PORTOLAN_RESULTS_V1',
  schema: z.object({ n: z.number(), text: z.string(), items: z.array(z.object({ port: z.number() })) }),
});

describe('encode with a payload already serialized', () => {
  const payload = { n: 7, text: 'quote " and \\ and \u00e9', items: [{ port: 22 }, { port: 40010 }] };

  it('is byte for byte the body the envelope serializes to', () => {
    for (const envelope of [seal(Work, payload, 'gateway'), seal(Work, payload, 'gateway', 'job-1', '0b5c5b32-6a87-4d8e-9c61-2f3f0a6f7c11', true)]) {
      expect(Buffer.from(encode(envelope, JSON.stringify(payload))).toString()).toBe(Buffer.from(encode(envelope)).toString());
    }
  });

  it('opens to the same envelope and payload', () => {
    const envelope = seal(Work, payload, 'gateway', 'job-1');
    expect(open(Work, Work.subject, encode(envelope, JSON.stringify(payload)))).toEqual(envelope);
  });
});
