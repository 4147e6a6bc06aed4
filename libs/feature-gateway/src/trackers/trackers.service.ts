import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { z } from 'zod';
import { Bus } from '@portolan/bus';
import { CollectProtocolSchema, DomainError, isDomainError, Messages, ScanRateSchema } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AgentEntity, CollectorRecord, CredentialEntity, DeviceEntity, ScanJobEntity, TrackerEntity } from '@portolan/persistence';
import { CREDENTIAL_TYPES, DEFAULT_PORTS, profileById, PROFILES } from '@portolan/collectors';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, ScanJobLedger } from '@portolan/platform';
import { firstRunAt, ScheduleSchema, validateSchedule } from '@portolan/schedule';
import { buildPortSet, countPorts } from '@portolan/targets';
import { AgentConfigService } from '../agent-api/agent-config.service';
import { AgentPollService } from '../agent-api/agent-poll.service';
import { assertAgentPaces, assertPace } from './tracker-pace.rules';

export const PortRuleSchema = z
  .object({
    range: z.string().trim().min(1, 'range must not be empty').max(2000),
    protocol: z.enum(['tcp', 'udp', 'both']),
    exclude: z.boolean().optional(),
  })
  .strict();

/** Noise control of a tracker. */
const NoiseSettings = {
  /** Consecutive complete scans a change must be seen in before it is reported (default 1: at once). */
  confirmations: z.number().int().min(1).max(10).optional(),
  /** More than `threshold` changes of one item within `windowSeconds` is flapping; null: off (the default). */
  flapping: z
    .object({ threshold: z.number().int().min(2).max(100), windowSeconds: z.number().int().min(60).max(7 * 86_400) })
    .strict()
    .nullable()
    .optional(),
  /** What a UDP port nmap reports `open|filtered` counts as (default `closed`). */
  udpOpenFiltered: z.enum(['open', 'closed', 'ignore']).optional(),
  /**
   * Before a change is reported, scan just the changed ports of that host once more, at once: a
   * change seen in `confirmations` full scans is reported when the re-probe sees it too (a re-probe
   * that cannot reach the host is tried up to 3 times, then the next full scan decides). Trackers
   * run by the site's scanner workers (modes network and remote, no agentId).
   */
  reprobe: z.boolean().optional(),
};

/**
 * A remote or network scan's pace: at most this many probes a second for the whole run (the
 * scanning agent's one nmap; a scanner workers' run has its chunks scanned one after another),
 * for WAN links and devices a full-speed scan would hurt; fractions allowed (0.5: one probe each
 * two seconds). null: nmap's own pace.
 */
const MaxRateSetting = ScanRateSchema.nullable().optional();

export const CreateTrackerSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    deviceId: z.uuid(),
    type: z.literal('network-port'),
    /**
     * `self`: the agent on the device lists its own sockets; `remote`/`network`: nmap from a
     * scanner worker or `agentId`; `agentless`: a collector reads the device over SSH, Telnet or
     * SMB with the device's credential (`collector`).
     */
    mode: z.enum(['network', 'remote', 'self', 'agentless']),
    collector: z
      .object({
        protocol: CollectProtocolSchema,
        profile: z.string().min(1).max(64),
        port: z.number().int().min(1).max(65535).optional(),
      })
      .strict()
      .optional(),
    /** A scanning agent that runs this remote or network scan on its own schedule, instead of the site's scanner workers. */
    agentId: z.uuid().optional(),
    ports: z.array(PortRuleSchema).min(1, 'ports needs at least one rule').max(200),
    schedule: ScheduleSchema,
    sendBaselineEvents: z.boolean(),
    tcpTechnique: z.enum(['auto', 'connect', 'syn']).optional(),
    skipHostDiscovery: z.boolean().optional(),
    maxRate: MaxRateSetting,
    enabled: z.boolean().optional(),
    ...NoiseSettings,
  })
  .strict();
export type CreateTracker = z.infer<typeof CreateTrackerSchema>;

/**
 * An edit. A new port spec takes effect from the next scan: ports it brings into range are
 * baselined there, ports it leaves out leave the baseline; neither is reported as a change.
 */
export const UpdateTrackerSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    ports: z.array(PortRuleSchema).min(1, 'ports needs at least one rule').max(200).optional(),
    schedule: ScheduleSchema.optional(),
    sendBaselineEvents: z.boolean().optional(),
    maxRate: MaxRateSetting,
    enabled: z.boolean().optional(),
    ...NoiseSettings,
  })
  .strict();
export type UpdateTracker = z.infer<typeof UpdateTrackerSchema>;

/** How long run-now waits for the resolver to check that a scanning agent can be given the scan. */
const RESOLVE_LIMIT_MS = 5_000;

/** Re-probes are scans by the site's scanner workers: not for agents' self-scans, scanning agents or collectors. */
function reprobeable(mode: TrackerEntity['mode'], agentId: string | null): boolean {
  return (mode === 'network' || mode === 'remote') && !agentId;
}
const reprobeRefused = () =>
  new DomainError('invalid_payload', 'reprobe: only trackers run by the scanner workers (mode network or remote, without agentId) can re-probe changed ports', { field: 'reprobe' });

@Injectable()
export class TrackersService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly agents: AgentPollService,
    private readonly agentConfig: AgentConfigService,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
  ) {}

  async create(body: CreateTracker): Promise<TrackerEntity> {
    const device = await this.db.getRepository(DeviceEntity).findOneBy({ id: body.deviceId });
    if (!device) throw new DomainError('invalid_payload', `deviceId ${body.deviceId} does not exist`, { field: 'deviceId' });
    if (body.reprobe && !reprobeable(body.mode, body.agentId ?? null)) throw reprobeRefused();
    if (body.mode === 'remote' && device.hostCount !== 1) {
      throw new DomainError('invalid_payload', `a remote scan targets one device address; device "${device.name}" covers ${device.hostCount} hosts (use mode "network")`, { field: 'mode' });
    }
    const collector = await this.collectorFor(body, device);
    const agent = await this.agentFor(body, device);
    if (body.schedule.kind === 'at-agent-startup' && !agent) {
      throw new DomainError('invalid_payload', 'schedule "at-agent-startup" needs a tracker run by an agent (mode "self", or agentId)', { field: 'schedule.kind' });
    }
    const rules = body.ports.map((r) => ({ range: r.range, protocol: r.protocol, exclude: r.exclude ?? false }));
    const portSet = buildPortSet(rules);
    assertPace(body.mode, device.hostCount, portSet, body.maxRate);
    if (agent) assertAgentPaces(body.maxRate, agent);
    validateSchedule(body.schedule);
    const enabled = body.enabled ?? true;
    const tracker = await this.db.getRepository(TrackerEntity).save({
      name: body.name,
      deviceId: device.id,
      type: body.type,
      mode: body.mode,
      portRules: rules,
      portSet,
      schedule: body.schedule,
      sendBaselineEvents: body.sendBaselineEvents,
      tcpTechnique: body.tcpTechnique ?? 'auto',
      skipHostDiscovery: body.skipHostDiscovery ?? false,
      maxRate: body.maxRate ?? null,
      enabled,
      agentId: agent?.id ?? null,
      collector,
      confirmations: body.confirmations ?? 1,
      flapping: body.flapping ?? null,
      udpOpenFiltered: body.udpOpenFiltered ?? 'closed',
      reprobe: body.reprobe ?? false,
      // An agent keeps its trackers' schedules itself (it runs them while the hub is unreachable).
      nextRunAt: enabled && !agent ? firstRunAt(body.schedule, new Date()) : null,
      lastRunAt: null,
    });
    if (agent) {
      await this.db.query('UPDATE agents SET config_version = config_version + 1 WHERE id = $1', [agent.id]);
      this.agents.notify(agent.id, 'config');
    }
    this.logger.info({ trackerId: tracker.id, deviceId: device.id, agentId: agent?.id, ports: countPorts(portSet).total }, 'tracker created');
    return tracker;
  }

  /** An agentless tracker's collector: a known profile read over its protocol, of a one-host device whose credential fits. */
  private async collectorFor(body: CreateTracker, device: DeviceEntity): Promise<CollectorRecord | null> {
    if (body.mode !== 'agentless') {
      if (body.collector) throw new DomainError('invalid_payload', 'collector is for mode "agentless" only', { field: 'collector' });
      return null;
    }
    if (!body.collector) throw new DomainError('invalid_payload', 'mode "agentless" needs collector {protocol, profile, port?}', { field: 'collector' });
    if (body.agentId) throw new DomainError('invalid_payload', 'an agentless tracker is run by the collectors; leave agentId out', { field: 'agentId' });
    const { protocol, profile: profileId } = body.collector;
    const profile = profileById(profileId);
    if (!profile) throw new DomainError('invalid_payload', `collector.profile "${profileId}" is not a device profile (${PROFILES.map((p) => p.id).join(', ')})`, { field: 'collector.profile' });
    if (!(profile.protocols as readonly string[]).includes(protocol)) {
      throw new DomainError('invalid_payload', `profile ${profile.id} is read over ${profile.protocols.join(' or ')}, not ${protocol}`, { field: 'collector.protocol' });
    }
    if (device.hostCount !== 1) throw new DomainError('invalid_payload', `an agentless collector reads one device; device "${device.name}" covers ${device.hostCount} hosts`, { field: 'deviceId' });
    const credential = device.credentialId ? await this.db.getRepository(CredentialEntity).findOneBy({ id: device.credentialId }) : null;
    if (!credential) throw new DomainError('invalid_payload', `device "${device.name}" has no credential; ${protocol} needs one (${CREDENTIAL_TYPES[protocol].join(' or ')})`, { field: 'deviceId' });
    if (!(CREDENTIAL_TYPES[protocol] as readonly string[]).includes(credential.type)) {
      throw new DomainError('invalid_payload', `the credential of device "${device.name}" is ${credential.type}; ${protocol} needs ${CREDENTIAL_TYPES[protocol].join(' or ')}`, { field: 'collector.protocol' });
    }
    return { protocol, profile: profile.id, port: body.collector.port ?? DEFAULT_PORTS[protocol] };
  }

  /** The agent that runs the tracker: the device's own agent for `self`, the named scanning agent otherwise. */
  private async agentFor(body: CreateTracker, device: DeviceEntity): Promise<AgentEntity | null> {
    const agents = this.db.getRepository(AgentEntity);
    if (body.mode === 'self') {
      if (body.agentId) throw new DomainError('invalid_payload', 'a self-scan runs on the device\'s own agent; leave agentId out', { field: 'agentId' });
      const own = await agents.findOneBy({ deviceId: device.id });
      if (!own) throw new DomainError('invalid_payload', `device "${device.name}" has no agent; mode "self" needs a device enrolled by an agent`, { field: 'mode' });
      if (own.status === 'revoked') throw new DomainError('invalid_payload', `the agent of device "${device.name}" is revoked`, { field: 'mode' });
      return own;
    }
    if (!body.agentId) return null;
    const agent = await agents.findOneBy({ id: body.agentId });
    if (!agent) throw new DomainError('invalid_payload', `agentId ${body.agentId} does not exist`, { field: 'agentId' });
    if (!agent.scanner) throw new DomainError('invalid_payload', `agent "${agent.name}" is not a scanning agent (its enrolment token did not allow scanning)`, { field: 'agentId' });
    if (agent.status === 'revoked') throw new DomainError('invalid_payload', `agent "${agent.name}" is revoked`, { field: 'agentId' });
    return agent;
  }

  async get(id: string): Promise<TrackerEntity> {
    const tracker = await this.db.getRepository(TrackerEntity).findOneBy({ id });
    if (!tracker) throw new DomainError('not_found', `tracker ${id} does not exist`);
    return tracker;
  }

  async update(id: string, body: UpdateTracker): Promise<TrackerEntity> {
    const { tracker, cancelled } = await this.db.transaction(async (manager) => {
      const row = await manager.getRepository(TrackerEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!row) throw new DomainError('not_found', `tracker ${id} does not exist`);
      const next: Partial<TrackerEntity> = {};
      if (body.name !== undefined) next.name = body.name;
      if (body.ports) {
        next.portRules = body.ports.map((r) => ({ range: r.range, protocol: r.protocol, exclude: r.exclude ?? false }));
        next.portSet = buildPortSet(next.portRules);
      }
      if (body.schedule) {
        if (body.schedule.kind === 'at-agent-startup' && !row.agentId) throw new DomainError('invalid_payload', 'schedule "at-agent-startup" needs a tracker run by an agent (mode "self", or agentId)', { field: 'schedule.kind' });
        validateSchedule(body.schedule);
        next.schedule = body.schedule;
      }
      if (body.sendBaselineEvents !== undefined) next.sendBaselineEvents = body.sendBaselineEvents;
      if (body.maxRate !== undefined) next.maxRate = body.maxRate;
      const maxRate = next.maxRate !== undefined ? next.maxRate : row.maxRate;
      if (maxRate !== null && (next.maxRate !== undefined || next.portSet)) {
        const device = await manager.getRepository(DeviceEntity).findOneByOrFail({ id: row.deviceId });
        assertPace(row.mode, device.hostCount, next.portSet ?? row.portSet, maxRate);
      }
      // Paced anew, or enabled again while paced: its agent must pace (one that does not would be given nothing to run). An edit that changes neither passes.
      if (row.agentId && maxRate !== null && ((next.maxRate !== undefined && next.maxRate !== row.maxRate) || (body.enabled === true && !row.enabled))) {
        assertAgentPaces(maxRate, await manager.getRepository(AgentEntity).findOneByOrFail({ id: row.agentId }));
      }
      if (body.enabled !== undefined) next.enabled = body.enabled;
      if (body.confirmations !== undefined) next.confirmations = body.confirmations;
      if (body.flapping !== undefined) next.flapping = body.flapping;
      if (body.udpOpenFiltered !== undefined) next.udpOpenFiltered = body.udpOpenFiltered;
      if (body.reprobe !== undefined) {
        if (body.reprobe && !reprobeable(row.mode, row.agentId)) throw reprobeRefused();
        next.reprobe = body.reprobe;
      }
      const enabled = next.enabled ?? row.enabled;
      if ((next.schedule || next.enabled !== undefined) && !row.agentId) next.nextRunAt = enabled ? firstRunAt((body.schedule ?? row.schedule) as Parameters<typeof firstRunAt>[0], new Date()) : null;
      await manager.update(TrackerEntity, id, next);
      // Changes waiting for confirmation, and flap histories, were counted under the old settings.
      const confirming = (next.confirmations !== undefined && next.confirmations !== row.confirmations) || (next.reprobe !== undefined && next.reprobe !== row.reprobe);
      if (confirming) await manager.query('DELETE FROM pending_changes WHERE tracker_id = $1', [id]);
      if (next.flapping !== undefined) await manager.query('DELETE FROM item_flaps WHERE tracker_id = $1 AND flapping_since IS NULL', [id]);
      if (row.agentId) await manager.query('UPDATE agents SET config_version = config_version + 1 WHERE id = $1', [row.agentId]);
      // An agent runs only its enabled trackers: the runs asked of this one that it has not started never will be.
      // A paced tracker's chunks still waiting their turn are not scanned either.
      const disabled = row.enabled && next.enabled === false;
      const cancelled = !disabled
        ? []
        : row.agentId
          ? await this.ledger.cancelUnstartedAgentRuns(manager, [id], 'cancelled: the tracker was disabled before its agent started the run', new Date())
          : await this.ledger.cancelHeldChunks(manager, [id], 'cancelled: the tracker was disabled before the chunk had its turn', new Date());
      return { tracker: { ...row, ...next } as TrackerEntity, cancelled };
    });
    if (tracker.agentId) this.agents.notify(tracker.agentId, 'config');
    // Committed already: an announcement lost here is made by the scheduler's leader (`announceUnannounced`).
    await this.events.announce(cancelled).catch((error: unknown) => this.logger.warn({ trackerId: id, err: error instanceof Error ? error.message : String(error) }, 'cancelled runs not announced; the scheduler will'));
    this.logger.info({ trackerId: id, fields: Object.keys(body), ports: countPorts(tracker.portSet).total, ...(cancelled.length && { runsCancelled: cancelled.length }) }, 'tracker updated');
    return tracker;
  }

  /** Why a run of an agent's tracker cannot be handed to the agent (409): the agent is revoked, the tracker disabled (an agent runs only its enabled trackers), or paced and the agent does not pace. */
  private async agentRefusal(tracker: TrackerEntity, manager: EntityManager = this.db.manager): Promise<void> {
    // A revoked agent never polls again: its run would only wait for the pickup timeout.
    const agent = await manager.getRepository(AgentEntity).findOneBy({ id: tracker.agentId! });
    if (!agent || agent.status === 'revoked') throw new DomainError('conflict', `tracker ${tracker.id} is run by agent ${tracker.agentId}, which is revoked; no run can be handed to it`, { field: 'agentId' });
    if (!tracker.enabled) throw new DomainError('conflict', `tracker ${tracker.id} is disabled, and agent ${tracker.agentId} runs only enabled trackers; enable it to run it`, { field: 'enabled' });
    // Its configuration leaves the tracker out: the run would wait for the start timeout.
    if (tracker.mode === 'remote' || tracker.mode === 'network') assertAgentPaces(tracker.maxRate, agent);
  }

  /**
   * A scanning agent is given only the scans the hub can resolve and its scope guard allows (its
   * configuration leaves the others out), so a run of one it cannot be given is refused, saying
   * why (400), instead of waiting for the agent until the start timeout. A host name the resolver
   * cannot answer for now, or within RESOLVE_LIMIT_MS, is a 503 to try again.
   */
  private async assertAgentCanScan(tracker: TrackerEntity): Promise<void> {
    if (tracker.mode !== 'remote' && tracker.mode !== 'network') return;
    const device = await this.db.getRepository(DeviceEntity).findOneByOrFail({ id: tracker.deviceId });
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DomainError('engine_unavailable', `the address of device "${device.name}" could not be resolved within ${RESOLVE_LIMIT_MS / 1000} s; try again`, { field: 'deviceId' })), RESOLVE_LIMIT_MS);
    });
    try {
      await Promise.race([this.agentConfig.scanOf(tracker, device), limit]);
    } catch (error) {
      if (!isDomainError(error)) throw error;
      const passing = error.code === 'engine_unavailable' || error.details['cause'] === 'EAI_AGAIN';
      throw new DomainError(passing ? 'engine_unavailable' : error.code, `tracker ${tracker.id} cannot be handed to its agent${passing ? ' now' : ''}: ${error.message}`, { ...error.details, field: 'deviceId' });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Run now: a pending job row, then the request to the scheduler. */
  async runNow(id: string): Promise<{ jobId: string }> {
    const asked = await this.get(id);
    if (asked.agentId) {
      await this.agentRefusal(asked);
      await this.assertAgentCanScan(asked);
    }
    const jobId = randomUUID();
    const requestedAt = new Date();
    // Under a share lock of the tracker: an edit that disables it (and cancels its agent's unstarted runs) comes before or after, never between the check and the insert.
    const tracker = await this.db.transaction(async (manager) => {
      const row = await manager.getRepository(TrackerEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_read' } });
      if (!row) throw new DomainError('not_found', `tracker ${id} does not exist`);
      // Again under the lock: a disable (or a revocation) since the checks above.
      if (row.agentId) await this.agentRefusal(row, manager);
      await manager.getRepository(ScanJobEntity).insert({ id: jobId, trackerId: row.id, deviceId: row.deviceId, trigger: 'manual', status: 'pending', requestedAt, agentId: row.agentId });
      return row;
    });
    if (tracker.agentId) {
      // The agent picks the run up on its next poll; the wake-up answers a poll in progress now.
      this.agents.notify(tracker.agentId, 'job');
      return { jobId };
    }
    try {
      await this.bus.publish(Messages.runRequested, { jobId, trackerId: tracker.id, trigger: 'manual', requestedAt: requestedAt.toISOString() }, { messageId: jobId, correlationId: jobId });
    } catch (error) {
      await this.db.getRepository(ScanJobEntity).update(jobId, { status: 'failed', finishedAt: new Date(), error: 'could not hand the run to the scheduler: bus unavailable' });
      throw new DomainError('engine_unavailable', 'the run could not be queued: the message bus is unavailable', { cause: String(error) });
    }
    return { jobId };
  }
}
