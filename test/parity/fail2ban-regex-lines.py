#!/usr/bin/python3
"""fail2ban-regex, line by line, for the annotated-logs parity test.

Runs fail2ban-regex's own Fail2banRegex (the installed fail2ban package,
options as `fail2ban-regex -r -o row -c CONFDIR LOG FILTER[opts]` would
set them) once per job, feeding the job's lines one at a time, so that
each failure it reports is attributed to the line that produced it.

Input: a JSON file, a list of jobs
  {"id", "log", "filter", "now", "journal", "conf"}
where `filter` is the fail2ban-regex FILTER argument (name[opt="v", ...]),
`now` the clock (fail2ban's test clock, so year-less dates resolve as in
fail2ban's own tests), `journal` true to hand lines over as the journal
backend does (its time is `now`, the line has no date).
Output (stdout): one JSON object per job
  {"id", "error"?: str, "lines": [null | [fid, time, ip]]}
"""
import datetime
import json
import sys

from fail2ban.client import fail2banregex as F
from fail2ban.server.mytime import MyTime


def run(job):
    parser = F.get_opt_parser()
    opts, _ = parser.parse_args(['-r', '-o', 'row', '-c', job['conf'], job['log'], job['filter']])
    # fail2ban-regex writes its own messages through F.output; keep them off stdout.
    messages = []
    F.output = messages.append
    regex = F.Fail2banRegex(opts)
    MyTime.setTime(job['now'])
    if not regex.readRegex(job['filter'], 'fail'):
        return {'id': job['id'], 'error': ' '.join(str(m) for m in messages) or 'failed to load'}
    current = []

    def collect(ret):
        for r in ret:
            fid, date, fail = r[1], r[2], r[3]
            ip = fail.get('ip', fid)
            current.append([str(fid), date, str(ip)])

    regex._prepaireOutput = lambda: collect
    now_str = datetime.datetime.utcfromtimestamp(job['now']).isoformat()
    out = []
    with open(job['log'], encoding='utf-8', errors='replace') as f:
        for line in f:
            line = line.rstrip('\r\n')
            current.clear()
            if job['journal']:
                regex.process([(('', now_str, line), job['now'])])
            else:
                regex.process([line])
            out.append(current[0] if current else None)
    return {'id': job['id'], 'lines': out}


def main():
    jobs = json.load(open(sys.argv[1]))
    real_stdout = sys.stdout
    for job in jobs:
        try:
            res = run(job)
        except Exception as e:  # a filter fail2ban itself cannot load: reported, not fatal
            res = {'id': job['id'], 'error': '%s: %s' % (type(e).__name__, e)}
        real_stdout.write(json.dumps(res) + '\n')
        real_stdout.flush()


main()
