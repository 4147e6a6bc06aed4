import { Telnet } from 'telnet-client';
import { DomainError } from '@portolan/contracts/errors';
import { CliSession } from './cli.session';

export interface TelnetTarget {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly connectTimeoutMs: number;
  /** Login prompts to answer, then the prompt after it. */
  readonly loginTimeoutMs: number;
}

const LOGIN_PROMPT = /(?:login|username|user name)\s*:\s*$/i;
const PASSWORD_PROMPT = /password\s*:\s*$/i;
/** What devices and Unix logins say to a wrong password; seen, it fails at once (no waiting for a timeout). */
const LOGIN_FAILED = /(login incorrect|authentication failed|% ?bad (?:passwords?|secrets?)|access denied|login invalid|invalid (?:login|password))/i;

/**
 * A Telnet login to a device: telnet-client does the option negotiation and hands over the
 * stream; the login (user, password, the prompt after a MOTD or banner) is ours, so a wrong
 * password is recognised from what the device says, or from a second login prompt, at once.
 * Telnet sends the password in clear: the API flags Telnet devices as insecure.
 */
export async function openTelnet(target: TelnetTarget): Promise<{ session: CliSession; banner: string; close: () => Promise<void> }> {
  const telnet = new Telnet();
  const where = `Telnet to ${target.host}:${target.port}`;
  try {
    await telnet.connect({ host: target.host, port: target.port, timeout: target.connectTimeoutMs, negotiationMandatory: false, disableLogon: true, initialLFCR: false, echoLines: 0 });
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new DomainError('scan_failed', code === 'ECONNREFUSED' ? `${where}: connection refused` : `${where}: ${(error as Error).message}`, { reason: code === 'ECONNREFUSED' ? 'refused' : 'connect_failed' });
  }
  const stream = await telnet.shell();
  const session = new CliSession(stream);
  const close = async () => {
    await telnet.destroy().catch(() => undefined);
  };
  try {
    const first = await session.expect([LOGIN_PROMPT, PASSWORD_PROMPT], target.loginTimeoutMs, `${where}: waiting for the login prompt`);
    if (first.index === 0) {
      session.send(target.username);
      await session.expect([PASSWORD_PROMPT], target.loginTimeoutMs, `${where}: waiting for the password prompt`);
    }
    session.sendSecret(target.password);
    const refused = () => new DomainError('scan_failed', `${where}: the device refused the credentials of user "${target.username}"`, { reason: 'auth_failed' });
    const banner = await session.waitForPrompt(target.loginTimeoutMs, `${where}: waiting for the prompt after login`, [LOGIN_FAILED, LOGIN_PROMPT], refused);
    return { session, banner: first.output + banner, close };
  } catch (error) {
    await close();
    throw error;
  }
}
