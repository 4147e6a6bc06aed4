/**
 * Handcrafted documents in the shape `nmap -oX -` 7.93 writes (declaration, DOCTYPE, stylesheet
 * PI, comment, hosthint, interleaved taskprogress), plus a renderer for property tests.
 */
import type { HostObservation } from '../scan-outcome';

const PROLOGUE = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<!-- Nmap 7.93 scan initiated Sun Nov 22 10:00:00 2026 as: nmap -oX - -&#45;stats-every 2s -n -sS -p T:22,80,443 10.20.30.1-3 -->
`;

export const THREE_HOSTS = `${PROLOGUE}<nmaprun scanner="nmap" args="nmap -oX - -&#45;stats-every 2s -n -sS -p T:22,80,443 10.20.30.1-3" start="1795341600" startstr="Sun Nov 22 10:00:00 2026" version="7.93" xmloutputversion="1.05">
<scaninfo type="syn" protocol="tcp" numservices="3" services="22,80,443"/>
<verbose level="0"/>
<debugging level="0"/>
<hosthint><status state="up" reason="unknown-response" reason_ttl="0"/>
<address addr="10.20.30.9" addrtype="ipv4"/>
<hostnames>
</hostnames>
</hosthint>
<taskprogress task="SYN Stealth Scan" time="1795341602" percent="33.33" remaining="4" etc="1795341606"/>
<host starttime="1795341600" endtime="1795341603"><status state="up" reason="echo-reply" reason_ttl="63"/>
<address addr="10.20.30.1" addrtype="ipv4"/>
<address addr="52:54:00:12:34:56" addrtype="mac" vendor="QEMU virtual NIC"/>
<hostnames>
<hostname name="gw.example.test" type="user"/>
<hostname name="gw.example.test" type="PTR"/>
</hostnames>
<ports><extraports state="closed" count="1">
<extrareasons reason="reset" count="1" proto="tcp" ports="443"/>
</extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="63"/><service name="ssh" product="OpenSSH" version="9.2p1 Debian 2+deb12u3" extrainfo="protocol 2.0" ostype="Linux" method="probed" conf="10"><cpe>cpe:/a:openbsd:openssh:9.2p1</cpe></service><script id="ssh-hostkey" output="&#xa;  256 aa:bb (ED25519)"><table><elem key="type">ssh-ed25519</elem></table></script></port>
<port protocol="tcp" portid="80"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="http" method="table" conf="3"/></port>
</ports>
<os><portused state="open" proto="tcp" portid="22"/><osmatch name="Linux 5.0 - 5.14" accuracy="98" line="67000"><osclass type="general purpose" vendor="Linux" osfamily="Linux" osgen="5.X" accuracy="98"/></osmatch></os>
<times srtt="412" rttvar="120" to="100000"/>
</host>
<taskprogress task="SYN Stealth Scan" time="1795341604" percent="10.00" remaining="9" etc="1795341613"/>
<host starttime="1795341603" endtime="1795341605"><status state="down" reason="no-response" reason_ttl="0"/>
<address addr="10.20.30.2" addrtype="ipv4"/>
<hostnames>
</hostnames>
</host>
<host starttime="1795341603" endtime="1795341607"><status state="up" reason="syn-ack" reason_ttl="63"/>
<address addr="10.20.30.3" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><extraports state="filtered" count="2">
<extrareasons reason="no-response" count="2" proto="tcp" ports="22,80"/>
</extraports>
<port protocol="tcp" portid="443"><state state="open" reason="syn-ack" reason_ttl="63"/><service name="http" product="nginx &amp; &quot;friends&quot;" version="1.22.1" tunnel="ssl" method="probed" conf="10"/></port>
</ports>
<times srtt="300" rttvar="80" to="100000"/>
</host>
<runstats><finished time="1795341608" timestr="Sun Nov 22 10:00:08 2026" summary="Nmap done at Sun Nov 22 10:00:08 2026; 3 IP addresses (2 hosts up) scanned in 8.02 seconds" elapsed="8.02" exit="success"/><hosts up="2" down="1" total="3"/>
</runstats>
</nmaprun>
`;

export const IPV6_UDP = `${PROLOGUE}<nmaprun scanner="nmap" args="nmap -oX - -n -6 -sT -sU -p T:22,U:53 ::1" start="1795341600" version="7.93" xmloutputversion="1.05">
<host starttime="1795341600" endtime="1795341600"><status state="up" reason="localhost-response" reason_ttl="0"/>
<address addr="::1" addrtype="ipv6"/>
<hostnames>
</hostnames>
<ports><port protocol="tcp" portid="22"><state state="closed" reason="conn-refused" reason_ttl="0"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="udp" portid="53"><state state="open|filtered" reason="no-response" reason_ttl="0"/><service name="domain" method="table" conf="3"/></port>
<port protocol="sctp" portid="9"><state state="closed" reason="abort" reason_ttl="0"/></port>
</ports>
</host>
<runstats><finished time="1795341601" timestr="x" elapsed="0.50" exit="success"/><hosts up="1" down="0" total="1"/>
</runstats>
</nmaprun>
`;

/** What nmap 7.93 writes when it fails after starting its XML (no declaration at all). */
export const FATAL_ERROR = `<nmaprun><runstats><finished time="1795341600" timestr="x" summary="Nmap done; 0 IP addresses (0 hosts up) scanned in 0.03 seconds" elapsed="0.03" exit="error" errormsg="Ports specified must be between 0 and 65535 inclusive"/><hosts up="0" down="0" total="0"/>
</runstats>
</nmaprun>
`;

export const ZERO_HOSTS = `${PROLOGUE}<nmaprun scanner="nmap" args="nmap -oX - -n -sT -p 40000 no-such-host.invalid" start="1795341600" version="7.93" xmloutputversion="1.05">
<scaninfo type="connect" protocol="tcp" numservices="1" services="40000"/>
<runstats><finished time="1795341600" timestr="x" elapsed="0.02" exit="success"/><hosts up="0" down="0" total="0"/>
</runstats>
</nmaprun>
`;

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

/** Renders hosts the way nmap lays them out, for round-trip properties. */
export function renderNmapXml(hosts: HostObservation[]): string {
  const body = hosts.map((host) => {
    const addresses = host.addresses.map((a) => `<address addr="${escapeXml(a.addr)}" addrtype="${a.type}"/>`);
    const names = host.hostnames.map((n) => `<hostname name="${escapeXml(n)}" type="PTR"/>`);
    const ports = host.ports.map((p) => {
      const service = [
        p.service !== undefined ? ` name="${escapeXml(p.service)}"` : '',
        p.product !== undefined ? ` product="${escapeXml(p.product)}"` : '',
        p.version !== undefined ? ` version="${escapeXml(p.version)}"` : '',
      ].join('');
      const reason = p.reason !== undefined ? ` reason="${escapeXml(p.reason)}"` : '';
      return `<port protocol="${p.protocol}" portid="${p.port}"><state state="${p.state}"${reason} reason_ttl="64"/>${service ? `<service${service} method="probed" conf="10"/>` : ''}</port>`;
    });
    const reason = host.reason !== undefined ? ` reason="${escapeXml(host.reason)}"` : '';
    return `<host starttime="1" endtime="2"><status state="${host.state}"${reason} reason_ttl="0"/>\n${addresses.join('\n')}\n<hostnames>\n${names.join('\n')}\n</hostnames>\n<ports>${ports.join('\n')}\n</ports>\n</host>\n`;
  });
  const up = hosts.filter((h) => h.state === 'up').length;
  return `${PROLOGUE}<nmaprun scanner="nmap" args="nmap" start="1" version="7.93" xmloutputversion="1.05">\n${body.join('')}<runstats><finished time="2" elapsed="1.00" exit="success"/><hosts up="${up}" down="${hosts.length - up}" total="${hosts.length}"/>\n</runstats>\n</nmaprun>\n`;
}
