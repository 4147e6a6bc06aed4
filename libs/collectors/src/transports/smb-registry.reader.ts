import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError } from '@portolan/contracts/errors';
import { parseRegFile, RegistryValue } from '../parsers/reg-file.parser';

export interface SmbTarget {
  readonly host: string;
  readonly port: number;
  readonly domain?: string;
  readonly username: string;
  readonly password: string;
  /** Per call. */
  readonly timeoutMs: number;
}

/** Registry keys the device does not have (a service not installed): Windows and Samba say it these ways. */
const MISSING = /NT_STATUS_OBJECT_NAME_NOT_FOUND|NT_STATUS_NO_SUCH_DEVICE|WERR_FILE_NOT_FOUND|WERR_BADFILE|NT_STATUS_OBJECT_PATH_NOT_FOUND/;
const MAX_EXPORT_BYTES = 64 * 1024 * 1024;

/**
 * Reads a Windows registry over SMB through the Remote Registry service (the winreg pipe), with
 * Samba's `net rpc registry`, SMB signing required. The password goes to `net` in its
 * environment (PASSWD), never on its command line; the child gets no other environment but PATH
 * and a locale. `net rpc registry export` writes a key with its subkeys to a file in a private
 * temporary directory, which is read and removed.
 */
export class SmbRegistryReader {
  constructor(
    private readonly target: SmbTarget,
    private readonly netPath = 'net',
  ) {}

  /** What this reader runs, for the job record (no secret in it). */
  get args(): string[] {
    return this.baseArgs();
  }

  /** A key and its subkeys' values; undefined when the device has no such key. */
  async export(key: string): Promise<RegistryValue[] | undefined> {
    const dir = await mkdtemp(join(tmpdir(), 'portolan-reg-'));
    const file = join(dir, 'export.reg');
    try {
      const outcome = await this.net(['registry', 'export', key, file]);
      if (outcome === 'missing') return undefined;
      const text = await readFile(file, 'utf8');
      if (text.length > MAX_EXPORT_BYTES) throw new DomainError('invalid_output', `the registry export of ${key} is larger than ${MAX_EXPORT_BYTES} bytes; refused`, { reason: 'output_too_large' });
      return parseRegFile(text);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** One value; undefined when the key or the value does not exist. */
  async getValue(key: string, name: string): Promise<RegistryValue | undefined> {
    const values = await this.export(key);
    return values?.find((v) => v.key.toLowerCase() === key.toLowerCase() && v.name.toLowerCase() === name.toLowerCase());
  }

  private baseArgs(): string[] {
    return ['rpc', '-S', this.target.host, '-p', String(this.target.port), '-U', this.target.username, ...(this.target.domain ? ['-W', this.target.domain] : []), '--client-protection=sign'];
  }

  private net(command: string[]): Promise<'ok' | 'missing'> {
    const args = [...this.baseArgs().slice(0, 1), ...command, ...this.baseArgs().slice(1)];
    const where = `SMB to ${this.target.host}:${this.target.port}`;
    return new Promise((resolve, reject) => {
      execFile(
        this.netPath,
        args,
        { timeout: this.target.timeoutMs, maxBuffer: 1024 * 1024, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', PASSWD: this.target.password }, windowsHide: true },
        (error, stdout, stderr) => {
          const said = `${stdout}\n${stderr}`;
          if (!error) return resolve('ok');
          if ((error as { code?: string }).code === 'ENOENT') return reject(new DomainError('engine_unavailable', `${where}: Samba's "net" is not installed on this collector (Debian: samba-common-bin)`, { reason: 'no_client' }));
          if (error.killed) return reject(new DomainError('scan_failed', `${where}: no answer within ${this.target.timeoutMs} ms`, { reason: 'timeout' }));
          if (/NT_STATUS_LOGON_FAILURE|NT_STATUS_ACCESS_DENIED|NT_STATUS_ACCOUNT_/.test(said)) {
            return reject(new DomainError('scan_failed', `${where}: the host refused the credentials of user "${this.target.domain ? `${this.target.domain}\\` : ''}${this.target.username}"`, { reason: 'auth_failed' }));
          }
          if (/NT_STATUS_CONNECTION_REFUSED/.test(said)) return reject(new DomainError('scan_failed', `${where}: connection refused`, { reason: 'refused' }));
          if (/NT_STATUS_(HOST_UNREACHABLE|NETWORK_UNREACHABLE|IO_TIMEOUT)/.test(said)) return reject(new DomainError('scan_failed', `${where}: unreachable`, { reason: 'unreachable' }));
          if (/NT_STATUS_OBJECT_NAME_NOT_FOUND.*winreg|PIPE_NOT_AVAILABLE|NT_STATUS_PIPE/i.test(said)) {
            return reject(new DomainError('scan_failed', `${where}: the Remote Registry service does not answer (is it running?)`, { reason: 'no_remote_registry' }));
          }
          if (MISSING.test(said)) return resolve('missing');
          reject(new DomainError('scan_failed', `${where}: net rpc registry ${command[1]} failed: ${said.trim().split('\n').slice(-2).join(' ').slice(0, 300)}`, { reason: 'smb_failed' }));
        },
      );
    });
  }
}
