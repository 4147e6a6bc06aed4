/**
 * Output in the shape net-tools 2.10 netstat prints for `netstat -tulpnW` (LC_ALL=C) on the same
 * kind of server as the ss samples: two header lines, fixed-width columns that -W lets grow for
 * long IPv6 addresses, IPv6 unbracketed (`:::22`, `::1:631`), an empty State for unconnected
 * UDP, and `pid/name` cut to 19 characters from the process's argv, which daemons rewrite
 * (`sshd: /usr/sbin/sshd -D [listener]`, `nginx: master process`). A socket of another user
 * shows `-` when netstat does not run as root.
 */
export const NETSTAT_LINUX_SERVER = `Active Internet connections (only servers)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    
tcp        0      0 127.0.0.53:53           0.0.0.0:*               LISTEN      402/systemd-resolve 
tcp        0      0 127.0.0.54:53           0.0.0.0:*               LISTEN      402/systemd-resolve 
tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      812/sshd: /usr/sbin 
tcp        0      0 127.0.0.1:631           0.0.0.0:*               LISTEN      733/cupsd           
tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN      1288/nginx: master  
tcp        0      0 0.0.0.0:443             0.0.0.0:*               LISTEN      1288/nginx: master  
tcp        0      0 127.0.0.1:5432          0.0.0.0:*               LISTEN      -                   
tcp6       0      0 :::22                   :::*                    LISTEN      812/sshd: /usr/sbin 
tcp6       0      0 ::1:631                 :::*                    LISTEN      733/cupsd           
tcp6       0      0 :::80                   :::*                    LISTEN      1288/nginx: master  
tcp6       0      0 :::9100                 :::*                    LISTEN      1402/prometheus-nod 
udp        0      0 127.0.0.54:53           0.0.0.0:*                           402/systemd-resolve 
udp        0      0 127.0.0.53:53           0.0.0.0:*                           402/systemd-resolve 
udp        0      0 0.0.0.0:68              0.0.0.0:*                           611/dhclient        
udp        0      0 127.0.0.1:323           0.0.0.0:*                           655/chronyd         
udp        0      0 0.0.0.0:123             0.0.0.0:*                           655/chronyd         
udp6       0      0 ::1:323                 :::*                                655/chronyd         
udp6       0      0 fe80::5054:ff:fe12:3456:546 :::*                                688/dhclient        
`;

/** A host with nothing listening: only the header. */
export const NETSTAT_LINUX_EMPTY = `Active Internet connections (only servers)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    
`;
