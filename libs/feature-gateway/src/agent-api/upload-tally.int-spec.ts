import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { DataSource } from 'typeorm';
import { createMigratedTestDatabase } from '@portolan/persistence';
import { IngestFixture, startIngests } from './testing/ingest.fixture';

/**
 * What the upload ingest logs at info: not a line a batch (at a quiet hub, a line an upload),
 * but a tally of what it took in, a minute at a time and once more when it stops.
 */
describe('agent upload ingest, its log (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
  let dataSource: DataSource;

  beforeAll(async () => {
    db = await createMigratedTestDatabase('portolan_upload_tally');
    dataSource = db.dataSource;
  }, 60_000);

  afterAll(async () => {
    await db?.close();
  });

  it('logs one tally of the uploads taken in instead of a line a batch', async () => {
    const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const fixture = await IngestFixture.create(dataSource);
    const { uploads: [ingest], close } = await startIngests(dataSource, 'tally-test', 1, logger);
    const first = fixture.upload(randomUUID());
    const second = fixture.upload(randomUUID());
    // One at a time: three batches (accepted, accepted, replayed).
    expect(await ingest.accept(first)).toEqual({ jobId: first.result.jobId, duplicate: false });
    expect(await ingest.accept(second)).toEqual({ jobId: second.result.jobId, duplicate: false });
    expect(await ingest.accept(first)).toEqual({ jobId: first.result.jobId, duplicate: true });
    expect(lines.filter((l) => l.msg === 'agent results stored')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'agent results taken in')).toEqual([]);

    await close();
    const tallies = lines.filter((l) => l.msg === 'agent results taken in');
    expect(tallies).toEqual([expect.objectContaining({ level: 30, batches: 3, accepted: 2, duplicates: 1, refused: 0, seconds: expect.any(Number) })]);
  }, 60_000);
});
