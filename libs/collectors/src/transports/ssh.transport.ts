import { createHash } from 'node:crypto';
import { Client, ClientChannel, ConnectConfig } from 'ssh2';
import { DomainError } from '@portolan/contracts/errors';

/** An SSH host key as `ssh-keygen -lf` names it. */
export interface HostKey {
  readonly algorithm: string;
  /** `SHA256:` + unpadded base64 of the SHA-256 of the key blob. */
  readonly fingerprint: string;
}

export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password?: string;
  readonly privateKey?: string;
  readonly passphrase?: string;
  /** The key pinned for this device; none on first contact (trust on first use). */
  readonly pinnedHostKey?: HostKey;
  readonly connectTimeoutMs: number;
}

/** The device presented another host key than the pinned one: refused until an operator accepts it. */
export class HostKeyChangedError extends DomainError {
  constructor(
    readonly pinned: HostKey,
    readonly presented: HostKey,
  ) {
    super(
      'scan_failed',
      `the SSH host key changed: pinned ${pinned.algorithm} ${pinned.fingerprint}, presented ${presented.algorithm} ${presented.fingerprint}; refused until an operator accepts the new key`,
      { reason: 'host_key_changed', pinned, presented },
    );
  }
}

export function hostKeyOf(blob: Buffer): HostKey {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const algorithm = length > 0 && length < 64 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString('ascii') : 'unknown';
  return { algorithm, fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}` };
}

/**
 * One SSH connection to a device, authenticated with a password or a private key. The host key
 * is checked before authentication: on first contact it is accepted and reported (`hostKey`) for
 * the caller to pin; afterwards any other key fails the connection with HostKeyChangedError
 * naming both fingerprints. Commands run on exec channels (hosts) or one interactive shell
 * (network devices), each bounded in time and output size.
 */
export class SshConnection {
  private constructor(
    private readonly client: Client,
    readonly hostKey: HostKey,
    readonly serverVersion: string,
  ) {}

  static open(target: SshTarget): Promise<SshConnection> {
    const client = new Client();
    let presented: HostKey | undefined;
    return new Promise<SshConnection>((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(error);
      };
      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.username,
        password: target.password,
        privateKey: target.privateKey,
        passphrase: target.passphrase,
        readyTimeout: target.connectTimeoutMs,
        // Password and keyboard-interactive logins both answered with the one password.
        tryKeyboard: target.password !== undefined,
        hostVerifier: (blob: Buffer) => {
          presented = hostKeyOf(blob);
          return !target.pinnedHostKey || target.pinnedHostKey.fingerprint === presented.fingerprint;
        },
      };
      client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => target.password ?? '')));
      client.on('ready', () => {
        if (settled) return;
        settled = true;
        resolve(new SshConnection(client, presented!, (client as unknown as { _remoteVer?: string })._remoteVer ?? 'unknown'));
      });
      client.on('error', (error: Error & { level?: string }) => {
        if (presented && target.pinnedHostKey && presented.fingerprint !== target.pinnedHostKey.fingerprint) return fail(new HostKeyChangedError(target.pinnedHostKey, presented));
        fail(classifySshError(error, target));
      });
      client.on('close', () => fail(new DomainError('scan_failed', `SSH to ${target.host}:${target.port}: the connection closed before login`, { reason: 'closed' })));
      try {
        client.connect(config);
      } catch (error) {
        fail(classifySshError(error as Error, target));
      }
    });
  }

  /** Runs a command on an exec channel; resolves with its output and exit code. */
  exec(command: string, timeoutMs: number, maxBytes: number): Promise<{ stdout: string; stderr: string; code: number | null }> {
    return new Promise((resolve, reject) => {
      this.client.exec(command, (error, channel) => {
        if (error) return reject(new DomainError('scan_failed', `SSH exec "${command}": ${error.message}`, { reason: 'exec_failed' }));
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let size = 0;
        const timer = setTimeout(() => {
          channel.close();
          reject(new DomainError('scan_failed', `"${command}": no end within ${timeoutMs} ms`, { reason: 'timeout' }));
        }, timeoutMs);
        const take = (into: Buffer[]) => (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            clearTimeout(timer);
            channel.close();
            reject(new DomainError('invalid_output', `"${command}" wrote more than ${maxBytes} bytes; refused`, { reason: 'output_too_large' }));
            return;
          }
          into.push(chunk);
        };
        channel.on('data', take(out));
        channel.stderr.on('data', take(err));
        channel.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? null });
        });
      });
    });
  }

  /** An interactive shell with a wide terminal (fewer wrapped lines), for network devices. */
  shell(): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.shell({ term: 'vt100', cols: 511, rows: 200 }, (error, channel) => (error ? reject(new DomainError('scan_failed', `SSH shell: ${error.message}`, { reason: 'shell_failed' })) : resolve(channel)));
    });
  }

  close(): void {
    this.client.end();
  }
}

function classifySshError(error: Error & { level?: string; code?: string }, target: SshTarget): DomainError {
  const where = `SSH to ${target.host}:${target.port}`;
  if (error.level === 'client-authentication' || /authentication methods failed/i.test(error.message)) {
    return new DomainError('scan_failed', `${where}: the device refused the credentials of user "${target.username}"`, { reason: 'auth_failed' });
  }
  if (error.code === 'ECONNREFUSED') return new DomainError('scan_failed', `${where}: connection refused`, { reason: 'refused' });
  if (error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH') return new DomainError('scan_failed', `${where}: unreachable (${error.code})`, { reason: 'unreachable' });
  if (/Timed out while waiting for handshake/i.test(error.message)) return new DomainError('scan_failed', `${where}: no SSH handshake within ${target.connectTimeoutMs} ms`, { reason: 'timeout' });
  if (/encrypted private OpenSSH key|bad passphrase|Cannot parse privateKey/i.test(error.message)) {
    return new DomainError('scan_failed', `${where}: the private key of the credential cannot be used (${error.message.replace(/:.*$/, '')})`, { reason: 'bad_key' });
  }
  return new DomainError('scan_failed', `${where}: ${error.message}`, { reason: 'ssh_failed' });
}
