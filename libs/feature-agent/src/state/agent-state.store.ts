import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AgentConfig, AgentConfigSchema } from '@portolan/contracts';

export const IdentitySchema = z.object({
  agentId: z.uuid(),
  secret: z.string().min(32),
  deviceId: z.uuid(),
  site: z.string(),
  hubUrl: z.string(),
  enrolledAt: z.string(),
});
export type AgentIdentity = z.infer<typeof IdentitySchema>;

/**
 * The agent's state directory (0700): its identity (agent id and secret, 0600), the last
 * configuration the hub gave it (so it keeps scanning on schedule while the hub is away), and
 * the spool. Files are replaced atomically: write a temporary file, fsync, rename.
 */
export class AgentStateStore {
  constructor(readonly dir: string) {}

  get spoolDir(): string {
    return join(this.dir, 'spool');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  async readIdentity(): Promise<AgentIdentity | undefined> {
    const raw = await this.read('identity.json');
    if (raw === undefined) return undefined;
    const parsed = IdentitySchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${join(this.dir, 'identity.json')} is damaged (${parsed.error.issues[0]?.message}); remove it and enrol again`);
    return parsed.data;
  }

  writeIdentity(identity: AgentIdentity): Promise<void> {
    return this.write('identity.json', identity);
  }

  async readConfig(): Promise<AgentConfig | undefined> {
    const raw = await this.read('config.json');
    const parsed = raw === undefined ? undefined : AgentConfigSchema.safeParse(raw);
    return parsed?.success ? parsed.data : undefined;
  }

  writeConfig(config: AgentConfig): Promise<void> {
    return this.write('config.json', config);
  }

  private async read(name: string): Promise<unknown> {
    try {
      return JSON.parse(await readFile(join(this.dir, name), 'utf8')) as unknown;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`${join(this.dir, name)} could not be read: ${(error as Error).message}`);
    }
  }

  private async write(name: string, value: unknown): Promise<void> {
    const target = join(this.dir, name);
    const temp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(value, null, 2));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  }
}
