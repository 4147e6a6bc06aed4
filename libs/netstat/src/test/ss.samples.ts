/**
 * Output in the shape iproute2's ss (6.1, Debian 12) prints for `ss -tulpnH` on a small server:
 * UDP first, addresses right-aligned and ports left-aligned in their columns, the process column
 * padded with trailing spaces, sockets shared by several processes listed newest pid first.
 * `*:9100` is a dual-stack IPv6 wildcard socket (not IPV6_V6ONLY); `127.0.0.53%lo` is bound to
 * an interface; the DHCPv6 client's link-local address carries its interface after the bracket.
 */
export const SS_DEBIAN_SERVER = `udp UNCONN 0      0                            127.0.0.54:53   0.0.0.0:* users:(("systemd-resolve",pid=402,fd=20))                                      
udp UNCONN 0      0                         127.0.0.53%lo:53   0.0.0.0:* users:(("systemd-resolve",pid=402,fd=18))                                      
udp UNCONN 0      0                               0.0.0.0:68   0.0.0.0:* users:(("dhclient",pid=611,fd=7))                                              
udp UNCONN 0      0                             127.0.0.1:323  0.0.0.0:* users:(("chronyd",pid=655,fd=5))                                               
udp UNCONN 0      0                               0.0.0.0:123  0.0.0.0:* users:(("chronyd",pid=655,fd=7))                                               
udp UNCONN 0      0                                 [::1]:323     [::]:* users:(("chronyd",pid=655,fd=6))                                               
udp UNCONN 0      0      [fe80::5054:ff:fe12:3456]%enp1s0:546     [::]:* users:(("dhclient",pid=688,fd=5))                                              
tcp LISTEN 0      4096                      127.0.0.53%lo:53   0.0.0.0:* users:(("systemd-resolve",pid=402,fd=19))                                      
tcp LISTEN 0      4096                         127.0.0.54:53   0.0.0.0:* users:(("systemd-resolve",pid=402,fd=21))                                      
tcp LISTEN 0      128                             0.0.0.0:22   0.0.0.0:* users:(("sshd",pid=812,fd=3))                                                  
tcp LISTEN 0      4096                          127.0.0.1:631  0.0.0.0:* users:(("cupsd",pid=733,fd=7))                                                 
tcp LISTEN 0      511                             0.0.0.0:80   0.0.0.0:* users:(("nginx",pid=1290,fd=6),("nginx",pid=1289,fd=6),("nginx",pid=1288,fd=6))
tcp LISTEN 0      511                             0.0.0.0:443  0.0.0.0:* users:(("nginx",pid=1290,fd=8),("nginx",pid=1289,fd=8),("nginx",pid=1288,fd=8))
tcp LISTEN 0      244                           127.0.0.1:5432 0.0.0.0:*                                                                                
tcp LISTEN 0      128                                [::]:22      [::]:* users:(("sshd",pid=812,fd=4))                                                  
tcp LISTEN 0      4096                              [::1]:631     [::]:* users:(("cupsd",pid=733,fd=6))                                                 
tcp LISTEN 0      511                                [::]:80      [::]:* users:(("nginx",pid=1290,fd=7),("nginx",pid=1289,fd=7),("nginx",pid=1288,fd=7))
tcp LISTEN 0      4096                                  *:9100       *:* users:(("prometheus-node",pid=1402,fd=3))                                      
tcp LISTEN 0      50                   [::ffff:127.0.0.1]:8080       *:* users:(("java",pid=1530,fd=42))                                                
`;

/** `ss -tulpn` (no -H): the header line comes first. */
export const SS_WITH_HEADER = `Netid State  Recv-Q Send-Q      Local Address:Port  Peer Address:PortProcess                                   
udp   UNCONN 0      0          127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=402,fd=18))
udp   UNCONN 0      0                0.0.0.0:68         0.0.0.0:*    users:(("dhclient",pid=611,fd=7))        
tcp   LISTEN 0      128              0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=812,fd=3))            
tcp   LISTEN 0      128                 [::]:22            [::]:*    users:(("sshd",pid=812,fd=4))            
`;

/**
 * Forms other ss builds print: the zone inside the brackets, `*` for a UDP wildcard, an
 * IPv4-mapped address, and sockets of this user only (no process column for the others).
 */
export const SS_VARIANTS = `udp UNCONN 0      0                  *:68              *:*    users:(("dhclient",pid=611,fd=7))
udp UNCONN 0      0      [fe80::1%eth0]:546        [::]:*    users:(("dhclient",pid=688,fd=5))
tcp LISTEN 0      128            0.0.0.0:22      0.0.0.0:*    users:(("sshd",pid=812,fd=3),("sshd",pid=900,fd=3))
tcp LISTEN 0      4096   [::ffff:127.0.0.1]:8080         *:*
tcp LISTEN 0      511          [FE80::0:0:1%eth0]:8443      [::]:*
`;
