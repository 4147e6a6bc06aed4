import { ASA_RUNNING_CONFIG, ASA_SOCKET_TABLE, fill, IOS_OPEN_PORTS, IOS_RUNNING_CONFIG, JUNOS_CONNECTIONS, JUNOS_SET_CONFIG } from './device.samples';

export type EmulatedKind = 'cisco-ios' | 'cisco-asa' | 'junos';

/** What a test can change on an emulated device between two polls. */
export interface EmulatedDeviceState {
  hostname: string;
  /** Lines put into the sample configuration's `{{place}}`s (see device.samples). */
  configExtras: Record<string, string>;
  enableSecret?: string;
  /** Seconds since boot, shown in volatile lines so they differ on every read. */
  clock: () => string;
  /** Misbehaviour for the bad-input tests: this answer instead of the open-port table, or a configuration of this many bytes. */
  garbagePorts?: string;
  hugeConfigBytes?: number;
}

/**
 * The command line of an emulated network device, as a pure state machine: what it prints for
 * each line typed, in user and privileged mode, with the vendor's prompt and paging. The SSH and
 * Telnet test servers put it on a connection.
 */
export class DeviceCli {
  private privileged: boolean;
  private awaitingEnableSecret = false;
  private paging = true;

  constructor(
    readonly kind: EmulatedKind,
    private readonly state: EmulatedDeviceState,
  ) {
    this.privileged = kind === 'junos' || state.enableSecret === undefined;
  }

  get prompt(): string {
    if (this.kind === 'junos') return `admin@${this.state.hostname}> `;
    return `${this.state.hostname}${this.privileged ? '#' : '>'}`;
  }

  /** The lines before the first prompt: a banner with lines that end in `#` and `>`, as real ones do. */
  banner(): string {
    return `\r\n########################################\r\n# Authorised access only. All use is  #\r\n# monitored and logged.            -> #\r\n########################################\r\n\r\n`;
  }

  /** The device's answer to one typed line (without the prompt that follows). */
  answer(line: string): string {
    const command = line.trim();
    if (this.awaitingEnableSecret) {
      this.awaitingEnableSecret = false;
      if (command === this.state.enableSecret) this.privileged = true;
      else return '% Access denied\r\n';
      return '';
    }
    if (!command) return '';
    if (command === 'enable' && this.kind !== 'junos') {
      if (this.privileged) return '';
      this.awaitingEnableSecret = true;
      return 'Password: ';
    }
    if (['terminal length 0', 'terminal width 0', 'terminal pager 0', 'set cli screen-length 0', 'set cli screen-width 0'].includes(command)) {
      this.paging = false;
      return this.kind === 'junos' ? `Screen ${command.includes('length') ? 'length' : 'width'} set to 0\r\n` : '';
    }
    const out = this.output(command);
    if (out === undefined) return this.kind === 'junos' ? `                 ^\r\nunknown command.\r\n` : `                 ^\r\n% Invalid input detected at '^' marker.\r\n\r\n`;
    const lines = out.split('\n');
    // With paging on, a real device would stop after a screen and wait: tests must turn it off.
    const shown = this.paging && lines.length > 24 ? [...lines.slice(0, 24), ' --More-- '] : lines;
    return `${shown.join('\r\n')}\r\n`;
  }

  get waitingForSecret(): boolean {
    return this.awaitingEnableSecret;
  }

  private output(command: string): string | undefined {
    const extras = this.state.configExtras;
    const stamp = (text: string) => text.replace('10:41:07', this.state.clock()).replace('17179864', String(17179864 + Math.floor(Math.random() * 50)));
    switch (this.kind) {
      case 'cisco-ios':
        if (command === 'show control-plane host open-ports') return this.state.garbagePorts ?? IOS_OPEN_PORTS;
        if (command === 'show running-config' && this.state.hugeConfigBytes) return `${'interface Loopback0\n description filler line for the size test\n'.repeat(Math.ceil(this.state.hugeConfigBytes / 60))}end`;
        if (command === 'show running-config') return this.privileged ? stamp(fill(IOS_RUNNING_CONFIG, extras)).replace('lab-rtr1', this.state.hostname) : undefined;
        return undefined;
      case 'cisco-asa':
        if (command === 'show asp table socket') return ASA_SOCKET_TABLE;
        if (command === 'show running-config') return this.privileged ? fill(ASA_RUNNING_CONFIG, extras).replace('0f2c1a4b', Math.random().toString(16).slice(2, 10)) : undefined;
        return undefined;
      case 'junos':
        if (command === 'show system connections') return JUNOS_CONNECTIONS;
        if (command === 'show configuration | display set') return stamp(fill(JUNOS_SET_CONFIG, extras));
        return undefined;
    }
  }
}
