"""The peer of bench/jails-failures.ts: fail2ban's own FailManager fed the
same workload (N distinct addresses, one failure each, then one more each),
the way fail2ban's filter does it: a FailTicket per failure, addFailure,
compare the retry count with maxretry. Prints one JSON line."""
import json, resource, sys, time
from fail2ban.server.failmanager import FailManager
from fail2ban.server.ticket import FailTicket

n = int(sys.argv[1])
fm = FailManager()
fm.setMaxRetry(5)
fm.setMaxTime(600)
ips = ['%d.%d.%d.%d' % (10 + (i >> 24), (i >> 16) & 255, (i >> 8) & 255, i & 255) for i in range(n)]
now = time.time()
line = 'vchkpw-pop3: password fail (pass: ***) bob@example.com:%s'

def run(rounds):
    due = 0
    t0 = time.perf_counter()
    for ip in ips:
        if fm.addFailure(FailTicket(ip, now, [line % ip])) >= 5:
            due += 1
    return (time.perf_counter() - t0) / n * 1e6, due

new_us, _ = run(1)
again_us, _ = run(2)
print(json.dumps({
    'new_us': new_us,
    'again_us': again_us,
    'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    'tracked': fm.size(),
}))
