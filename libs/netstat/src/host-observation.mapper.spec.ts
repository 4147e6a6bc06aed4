import { HostObservationSchema } from '@portolan/contracts';
import type { PortSet } from '@portolan/contracts';
import { toHostObservation } from './host-observation.mapper';
import type { ListeningSocket } from './listening-socket.model';
import { parseSsOutput } from './ss-output.parser';
import { SS_DEBIAN_SERVER } from './test/ss.samples';

const WEB_AND_DNS: PortSet = { tcp: [{ from: 22, to: 22 }, { from: 80, to: 443 }], udp: [{ from: 53, to: 53 }] };

describe('toHostObservation', () => {
  it('keeps only sockets whose protocol and port lie in the port set', () => {
    const observation = toHostObservation('web-1', parseSsOutput(SS_DEBIAN_SERVER), WEB_AND_DNS);

    expect(observation.ports.map((p) => `${p.protocol}/${p.port}@${p.bindAddress}`)).toEqual([
      'tcp/22@0.0.0.0',
      'tcp/22@::',
      'tcp/80@0.0.0.0',
      'tcp/80@::',
      'tcp/443@0.0.0.0',
      'udp/53@127.0.0.53',
      'udp/53@127.0.0.54',
    ]);
  });

  it('describes an up host whose kept sockets are open ports with bind address, process and pid', () => {
    const sockets: ListeningSocket[] = [
      { protocol: 'tcp', bindAddress: '0.0.0.0', port: 22, process: 'sshd', pid: 812 },
      { protocol: 'udp', bindAddress: '127.0.0.53', port: 53 },
    ];

    expect(toHostObservation('10.0.0.5', sockets, WEB_AND_DNS)).toEqual({
      address: '10.0.0.5',
      hostnames: [],
      state: 'up',
      ports: [
        { protocol: 'tcp', port: 22, state: 'open', bindAddress: '0.0.0.0', process: 'sshd', pid: 812 },
        { protocol: 'udp', port: 53, state: 'open', bindAddress: '127.0.0.53' },
      ],
    });
  });

  it('leaves process and pid out (not undefined) when the tool did not show them', () => {
    const [port] = toHostObservation('h', [{ protocol: 'udp', bindAddress: '127.0.0.53', port: 53 }], WEB_AND_DNS).ports;
    expect(Object.keys(port).sort()).toEqual(['bindAddress', 'port', 'protocol', 'state']);
  });

  it('is an up host with no ports when nothing listens in the port set', () => {
    const observation = toHostObservation('h', [{ protocol: 'tcp', bindAddress: '127.0.0.1', port: 5432 }], WEB_AND_DNS);
    expect([observation.state, observation.ports]).toEqual(['up', []]);
  });

  it('produces an observation the scan-completed contract accepts', () => {
    const everything: PortSet = { tcp: [{ from: 1, to: 65535 }], udp: [{ from: 1, to: 65535 }] };
    const observation = toHostObservation('web-1.example.test', parseSsOutput(SS_DEBIAN_SERVER), everything);
    expect(HostObservationSchema.safeParse(observation).success).toBe(true);
    expect(observation.ports).toHaveLength(19);
  });
});
