import { Controller, Get, Inject, Param } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainError } from '@portolan/contracts';
import { ScanChunkEntity, ScanJobEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { UUID_PARAM } from '../http/zod-validation.pipe';

export interface JobView {
  id: string;
  trackerId: string;
  deviceId: string;
  site: string | null;
  trigger: string;
  /** A re-probe's narrower target (the hosts and ports it looked at again). */
  probe: ScanJobEntity['probe'];
  status: string;
  progressPercent: number;
  /** When an agent last reported the progress of its run (remote and network scans), else null. */
  progressAt: Date | null;
  hosts: { planned: number; done: number; up: number };
  probes: { planned: number; done: number };
  /** `held`: a paced run's chunks waiting their turn (its chunks are scanned one at a time). */
  chunks: { total: number; done: number; failed: number; running: number; held: number };
  requestedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  error: string | null;
  scans: { index: number; status: string; held: boolean; progress: number; hosts: number; worker: string | null; engine: string | null; engineVersion: string | null; args: string[] | null; error: string | null }[];
}

@Controller('jobs')
export class JobsController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<JobView> {
    const job = await this.db.getRepository(ScanJobEntity).findOneBy({ id });
    if (!job) throw new DomainError('not_found', `job ${id} does not exist`);
    const chunks = await this.db.getRepository(ScanChunkEntity).find({ where: { jobId: id }, order: { index: 'ASC' } });
    return view(job, chunks);
  }
}

function view(job: ScanJobEntity, chunks: ScanChunkEntity[]): JobView {
  const finished = ['succeeded', 'partial', 'failed'].includes(job.status);
  const probes = chunks.reduce((sum, c) => sum + c.probeCount, 0);
  // Probe-weighted progress of the chunks; settled chunks count as complete.
  const weighted = chunks.reduce((sum, c) => sum + c.probeCount * (c.status === 'done' || c.status === 'failed' ? 100 : c.progress), 0);
  return {
    id: job.id,
    trackerId: job.trackerId,
    deviceId: job.deviceId,
    site: job.site,
    trigger: job.trigger,
    probe: job.probe ?? null,
    status: job.status,
    // An agent run has its one chunk once its result came; until then, the progress the agent reported.
    progressPercent: finished ? 100 : probes > 0 ? Math.round((weighted / probes) * 10) / 10 : Math.round(job.progress * 10) / 10,
    progressAt: job.progressAt,
    hosts: { planned: job.hostsPlanned, done: job.hostsDone, up: job.hostsUp },
    probes: { planned: job.probesPlanned, done: job.probesDone },
    chunks: { total: job.chunkCount, done: job.chunksDone, failed: job.chunksFailed, running: chunks.filter((c) => c.status === 'running').length, held: chunks.filter((c) => c.held).length },
    requestedAt: job.requestedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    durationMs: job.durationMs,
    error: job.error,
    scans: chunks.map((c) => ({
      index: c.index,
      status: c.status,
      held: c.held,
      progress: c.status === 'done' ? 100 : c.progress,
      hosts: c.hostCount,
      worker: c.worker,
      engine: c.engine,
      engineVersion: c.engineVersion,
      args: c.args,
      error: c.error,
    })),
  };
}
