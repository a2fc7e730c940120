"""The peer of bench/state-restore.ts: fail2ban reading N current bans back
from its own database at start (Fail2BanDb.getCurrentBans, what
Jail.restoreCurrentBans calls before it re-runs the ban actions). Prints
one JSON line."""
import json, os, sys, tempfile, time
from fail2ban.server.database import Fail2BanDb

class Jail:
    """What getCurrentBans asks of a jail."""
    name = 'vpopmail'
    def getMaxBanTime(self):
        return -1

n = int(sys.argv[1])
path = os.path.join(tempfile.mkdtemp(prefix='f2b-bench-'), 'fail2ban.sqlite3')
db = Fail2BanDb(path)
now = int(time.time())
cur = db._db.cursor()
cur.execute("INSERT INTO jails(name, enabled) VALUES('vpopmail', 1)")
rows = [('10.%d.%d.%d' % ((i >> 16) & 255, (i >> 8) & 255, i & 255), 'vpopmail', now, 3600, 1,
         json.dumps({'matches': ['vchkpw-pop3: password fail (pass: ***) bob@example.com'], 'failures': 5}))
        for i in range(n)]
cur.executemany("INSERT INTO bans(ip, jail, timeofban, bantime, bancount, data) VALUES(?,?,?,?,?,?)", rows)
cur.executemany("INSERT INTO bips(ip, jail, timeofban, bantime, bancount, data) VALUES(?,?,?,?,?,?)", rows)
db._db.commit()
db.close()

t0 = time.perf_counter()
db = Fail2BanDb(path)
tickets = db.getCurrentBans(jail=Jail(), fromtime=now + 1)
elapsed = time.perf_counter() - t0
os.remove(path)
print(json.dumps({'seconds': elapsed, 'restored': len(tickets)}))
