import { Module } from '@nestjs/common';
import { loadSchedulerConfig } from '@portolan/config';
import { AgentUploadOutbox, EventRecorder, ScanJobLedger } from '@portolan/platform';
import { AgentLiveness } from './agent.liveness';
import { ChunkDispatcher } from './chunk.dispatcher';
import { LeaderLease } from './leader.lease';
import { QueueWatch } from './queue.watch';
import { ProgressTracker } from './progress.tracker';
import { RunPlanner } from './run.planner';
import { SchedulerLoop } from './scheduler.loop';
import { SCHEDULER_CONFIG } from './scheduler.options';
import { WorkerRegistry } from './worker.registry';

/** Decides when trackers run, plans runs into chunk jobs, and times out lost chunks. */
@Module({
  providers: [
    { provide: SCHEDULER_CONFIG, useFactory: () => loadSchedulerConfig() },
    EventRecorder,
    ScanJobLedger,
    LeaderLease,
    ChunkDispatcher,
    RunPlanner,
    SchedulerLoop,
    QueueWatch,
    ProgressTracker,
    AgentLiveness,
    AgentUploadOutbox,
    WorkerRegistry,
  ],
  exports: [SchedulerLoop, RunPlanner],
})
export class SchedulerModule {}
