#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""report.py -- the report of a scripts/bench run.

Reads the RESULT lines scripts/bench printed (one per measurement:
"RESULT row=ROW PARAM=N server=S round=R key=value..."), takes the median of
each figure over the rounds, and writes markdown: the table of medians with
the ratio ringcast/peer in every peer's cell, the server's CPU time per
message likewise (cpu_ns_per_msg), latency percentiles, the list of rows
where ringcast is not yet ahead, notes on errors, and the raw lines. A
ringcast-base column (scripts/bench --base) is compared like a peer:
ringcast/ringcast-base.
With --plots PREFIX it also writes the gnuplot data and runs bench/plot.gp
for PREFIX-throughput.png, PREFIX-latency.png and PREFIX-memory.png.

usage: report.py --results FILE --header FILE --out FILE.md [--plots PREFIX]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

# Server key, column title. ringcast (one worker) is the one compared.
SERVERS = [
    ('ringcast', 'ringcast'),
    ('ringcast-base', 'ringcast-base'),
    # The deflate rows' hub with --no-deflate (scripts/bench): its ratio is
    # deflate/no-deflate, a cost rather than a race (see deflate_lines()).
    ('ringcast-nodeflate', 'ringcast, no deflate'),
    ('ringcast-2w', 'ringcast, 2 workers'),
    # The nats rows' other columns (scripts/bench): one hub with --nats
    # and a nats-server, and 3 hubs sharing the room over one nats-server.
    # Their ratios are costs, like the no-deflate column's (nats_lines()).
    ('ringcast-nats', '1 hub + nats-server'),
    ('ringcast-3hubs', '3 hubs + nats-server'),
    ('node-ws', 'node ws'),
    ('lws', 'libwebsockets'),
    ('uws-epoll', 'uWS epoll'),
    ('uws-uring', 'uWS io_uring'),
]
BASE = 'ringcast'

# Row key, title, unit of the figure, figure key, higher is better.
ROWS = [
    ('http', 'plain HTTP `GET /health`, wrk -t1 -c100', 'req/s', 'rate', True),
    ('echo32', 'echo 32 B', 'round trips/s', 'rate', True),
    ('echo16k', 'echo 16 KiB', 'round trips/s', 'rate', True),
    ('bcast64', 'fan-out 1 publisher → N subscribers, 64 B', 'deliveries/s', 'rate', True),
    ('handshake', 'handshakes, 50 at once', 'handshakes/s', 'rate', True),
    ('idle', 'idle connections: server RSS per connection', 'bytes, lower is better', 'bytes_per_conn', False),
    ('echo32-auth', 'echo 32 B, a token (HS256) and Origin on every upgrade', 'round trips/s', 'rate', True),
    ('bcast64-rate', 'fan-out 1 → 1000, 64 B, 1500 publishes/s (fixed offered rate)', 'deliveries/s', 'rate', True),
    ('bcast64-auth', 'fan-out 64 B, every member with a token and Origin', 'deliveries/s', 'rate', True),
    ('handshake-auth', 'handshakes with a token (HS256) and Origin, 50 at once', 'handshakes/s', 'rate', True),
    ('wss-echo32', 'wss:// echo 32 B', 'round trips/s', 'rate', True),
    ('wss-echo16k', 'wss:// echo 16 KiB', 'round trips/s', 'rate', True),
    ('wss-handshake', 'wss:// handshakes (TLS + upgrade), 50 at once', 'handshakes/s', 'rate', True),
    ('wss-resume', 'wss:// resumed handshakes (TLS 1.3 ticket + upgrade), 50 at once', 'handshakes/s', 'rate', True),
    ('idle-tls', 'idle TLS connections: server RSS per connection', 'bytes, lower is better', 'bytes_per_conn', False),
    ('bcast-json', 'fan-out 1 → N, ~300 B JSON, deflate offered (ringcast: shared mode)', 'deliveries/s', 'rate', True),
    ('bcast-json-rate', 'fan-out 1 → N, ~300 B JSON, deflate offered, 2000 publishes/s (fixed offered rate)', 'deliveries/s', 'rate', True),
    ('bcast-json-dedicated', 'fan-out ~300 B JSON, ringcast in dedicated deflate mode', 'deliveries/s', 'rate', True),
    ('idle-deflate', 'idle connections, deflate offered: server RSS per connection', 'bytes, lower is better', 'bytes_per_conn', False),
    ('nats-fanout', 'fan-out 1 → N, 64 B, one room: one hub, or 3 hubs over NATS', 'deliveries/s', 'rate', True),
    ('nats-fanout-rate', 'fan-out 1 → N, 64 B, one room over NATS, fixed offered rate', 'deliveries/s', 'rate', True),
    ('nats-bridge', 'one hub bridging 64 B room messages to (out) / from (in) NATS; hop: the latency between hubs at a low rate', "msgs/s of the hub's nats_out/nats_in", 'rate', True),
    ('uws-load', 'uWS `load_test`, 20 B echo', 'msg/s', 'rate', True),
    ('uws-bcast', 'uWS `broadcast_test`, every client publishes, all receive', 'deliveries/s', 'rate', True),
    ('uws-scale', 'uWS `scale_test`: server RSS per connection', 'bytes, lower is better', 'bytes_per_conn', False),
]
ROW = {r[0]: r for r in ROWS}
LATENCY = ('p50_us', 'p90_us', 'p99_us', 'p999_us')
CPU = 'cpu_ns_per_msg'
WIRE = 'wire_bytes_per_msg'
NODEFLATE = 'ringcast-nodeflate'
NATS_COLS = ('ringcast-nats', 'ringcast-3hubs')
NUMERIC_SKIP = {'round'}


def parse(path):
    """[(row, (pkey, pval), server, fields)] in the order printed."""
    out = []
    with open(path) as f:
        for line in f:
            t = line.split()
            if not t or t[0] != 'RESULT' or len(t) < 4:
                continue
            fields = dict(kv.split('=', 1) for kv in t[1:] if '=' in kv)
            pkey, pval = t[2].split('=', 1)
            out.append((fields.get('row'), (pkey, pval), fields.get('server'), fields, line.rstrip()))
    return out


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


class Cell:
    """The rounds of one (row, N, server): medians, statuses, errors."""

    def __init__(self):
        self.rounds = []

    def add(self, fields):
        self.rounds.append(fields)

    def measured(self):
        return [r for r in self.rounds if 'status' not in r]

    def median(self, key):
        vals = [num(r.get(key)) for r in self.measured()]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def status(self):
        """Why there is no figure ("n/a (fd limit)"), or None."""
        if self.measured():
            return None
        r = self.rounds[0]
        note = r.get('note', '').replace('-', ' ')
        return r['status'] + (f' ({note})' if note else '')

    def errors(self):
        """[(round, errors, lost, note)] for rounds that were not clean."""
        bad = []
        for r in self.rounds:
            e, lost = num(r.get('errors')) or 0, num(r.get('lost')) or 0
            note = r.get('note', '') if 'status' not in r else ''
            if r.get('kinds'):
                note = (note + ' ' if note else '') + '(' + r['kinds'].replace('~', ' ') + ')'
            if e or lost or note:
                bad.append((r.get('round', '?'), int(e), int(lost), note))
        return bad


def si(v):
    if v is None:
        return '—'
    for div, suf in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(v) >= div:
            return f'{v / div:.3g}{suf}' if v / div < 100 else f'{v / div:.0f}{suf}'
    return f'{v:.3g}' if v < 100 else f'{v:.0f}'


def fmt_bytes(v):
    return '—' if v is None else f'{v:.0f} B'


def fmt_ns(v):
    if v is None:
        return '—'
    if v >= 1e6:
        return f'{v / 1e6:.3g} ms'
    if v >= 1e3:
        return f'{v / 1e3:.3g} µs'
    return f'{v:.3g} ns'


def fmt_us(v):
    if v is None:
        return '—'
    if v >= 1e6:
        return f'{v / 1e6:.2f} s'
    if v >= 1e3:
        return f'{v / 1e3:.3g} ms'
    return f'{v:.0f} µs'


def ratio(row, base, peer, higher_better=None):
    """How many times ringcast is ahead of @peer (> 1: ahead); by the row's
    figure unless @higher_better says."""
    if base is None or peer is None or base <= 0 or peer <= 0:
        return None
    if higher_better is None:
        higher_better = ROW[row][4]
    return base / peer if higher_better else peer / base


def param_label(pkey, pval):
    names = {'conns': 'conns', 'subs': 'subscribers', 'clients': 'clients', 'wbits': 'window bits'}
    return f'{int(pval):,} {names.get(pkey, pkey)}'.replace(',', ' ') if pval.isdigit() else f'{pkey} {pval}'


def build(results):
    cells = {}
    order = []
    for row, param, server, fields, _ in results:
        if row not in ROW:
            continue
        key = (row, param)
        if key not in cells:
            cells[key] = {}
            order.append(key)
        cells[key].setdefault(server, Cell()).add(fields)
    # Rows in ROWS order, N ascending, as first seen otherwise.
    rank = {r[0]: i for i, r in enumerate(ROWS)}
    order.sort(key=lambda k: (rank[k[0]], num(k[1][1]) or 0))
    return cells, order


def main_table(cells, order, servers):
    out = ['| row | N | ' + ' | '.join(t for k, t in SERVERS if k in servers) + ' |',
           '|---|---|' + '---|' * len(servers)]
    marks = []
    for key in order:
        row, (pkey, pval) = key
        fig, hb = ROW[row][3], ROW[row][4]
        base = cells[key].get(BASE)
        bval = base.median(fig) if base else None
        line = [f'{ROW[row][1]} ({ROW[row][2]})', param_label(pkey, pval)]
        for k, _ in SERVERS:
            if k not in servers:
                continue
            c = cells[key].get(k)
            if c is None:
                line.append('')
                continue
            st = c.status()
            if st:
                if c.errors():
                    st += ' ⚠'
                    marks.append((key, k, c.errors()))
                line.append(st)
                continue
            v = c.median(fig)
            s = fmt_bytes(v) if not hb else si(v)
            r = ratio(row, bval, v)
            if k not in (BASE, 'ringcast-2w') and r is not None:
                s += f' ({r:.2f}×)'
            if c.errors():
                s += ' ⚠'
                marks.append((key, k, c.errors()))
            line.append(s)
        out.append('| ' + ' | '.join(line) + ' |')
    return out, marks


def cpu_table(cells, order, servers):
    """Median server CPU time per message, with peer/ringcast in brackets."""
    rows = [k for k in order if any(c.median(CPU) is not None for c in cells[k].values())]
    if not rows:
        return []
    out = ['| row | N | ' + ' | '.join(t for k, t in SERVERS if k in servers) + ' |',
           '|---|---|' + '---|' * len(servers)]
    for key in rows:
        row, (pkey, pval) = key
        base = cells[key].get(BASE)
        bval = base.median(CPU) if base else None
        line = [ROW[row][1], param_label(pkey, pval)]
        for k, _ in SERVERS:
            if k not in servers:
                continue
            c = cells[key].get(k)
            v = c.median(CPU) if c else None
            if v is None:
                line.append('')
                continue
            s = fmt_ns(v)
            r = ratio(row, bval, v, higher_better=False)
            if k not in (BASE, 'ringcast-2w') and r is not None:
                s += f' ({r:.2f}×)'
            line.append(s)
        out.append('| ' + ' | '.join(line) + ' |')
    return out


def latency_table(cells, order, servers):
    rows = [k for k in order if any(c.median('p50_us') is not None for c in cells[k].values())]
    if not rows:
        return []
    out = ['| row | N | ' + ' | '.join(t for k, t in SERVERS if k in servers) + ' |',
           '|---|---|' + '---|' * len(servers)]
    for key in rows:
        row, (pkey, pval) = key
        line = [ROW[key[0]][1], param_label(pkey, pval)]
        for k, _ in SERVERS:
            if k not in servers:
                continue
            c = cells[key].get(k)
            p50, p99 = (c.median('p50_us'), c.median('p99_us')) if c else (None, None)
            line.append('' if p50 is None else f'{fmt_us(p50)} / {fmt_us(p99)}')
        out.append('| ' + ' | '.join(line) + ' |')
    return out


def not_ahead(cells, order):
    out = []
    for key in order:
        row, (pkey, pval) = key
        fig = ROW[row][3]
        base = cells[key].get(BASE)
        bval = base.median(fig) if base else None
        for k, title in SERVERS:
            if k in (BASE, 'ringcast-2w', NODEFLATE) + NATS_COLS or k not in cells[key]:
                continue
            pv = cells[key][k].median(fig)
            r = ratio(row, bval, pv)
            if r is not None and r < 1:
                f = fmt_bytes if not ROW[row][4] else si
                out.append(f'- {ROW[row][1]}, {param_label(pkey, pval)}: {r:.2f}× {title} '
                           f'(ringcast {f(bval)}, {title} {f(pv)})')
            bc = base.median(CPU) if base else None
            pc = cells[key][k].median(CPU)
            r = ratio(row, bc, pc, higher_better=False)
            if r is not None and r < 1:
                out.append(f'- {ROW[row][1]}, {param_label(pkey, pval)}: server CPU per message '
                           f'{r:.2f}× {title} (ringcast {fmt_ns(bc)}, {title} {fmt_ns(pc)})')
    return out or ['- none in this run']


def wire_table(cells, order, servers):
    """Median frame bytes per delivery as received (rows that give them and
    where some server compressed), payload/wire in brackets."""
    rows = [k for k in order if k[0] in ('bcast-json', 'bcast-json-rate', 'bcast-json-dedicated') and
            any(c.median(WIRE) is not None for c in cells[k].values())]
    if not rows:
        return []
    out = ['| row | N | ' + ' | '.join(t for k, t in SERVERS if k in servers) + ' |',
           '|---|---|' + '---|' * len(servers)]
    for key in rows:
        row, (pkey, pval) = key
        line = [ROW[row][1], param_label(pkey, pval)]
        for k, _ in SERVERS:
            if k not in servers:
                continue
            c = cells[key].get(k)
            w = c.median(WIRE) if c else None
            p = c.median('payload_bytes_per_msg') if c else None
            line.append('' if w is None else f'{w:.0f} B' + (f' ({p / w:.2f}×)' if p and w else ''))
        out.append('| ' + ' | '.join(line) + ' |')
    return out


def deflate_lines(cells, order):
    """Per deflate row: ringcast with permessage-deflate against the same hub
    with --no-deflate (the issue's goal: compressed fan-out >= 0.8x the
    uncompressed deliveries/s), CPU per delivery and bytes on the wire."""
    out = []
    for key in order:
        row, (pkey, pval) = key
        if row not in ('bcast-json', 'bcast-json-rate', 'bcast-json-dedicated'):
            continue
        d, n = cells[key].get(BASE), cells[key].get(NODEFLATE)
        if not d or not n:
            continue
        dr, nr = d.median('rate'), n.median('rate')
        dc, nc = d.median(CPU), n.median(CPU)
        dw, nw = d.median(WIRE), n.median(WIRE)
        if dr is None or nr is None:
            continue
        parts = [f'deliveries/s {dr / nr:.2f}× ({si(dr)} vs {si(nr)}; '
                 f'{"meets" if dr / nr >= 0.8 else "below"} the 0.8× goal)']
        if dc and nc:
            parts.append(f'server CPU per delivery {dc / nc:.2f}× ({fmt_ns(dc)} vs {fmt_ns(nc)})')
        if dw and nw:
            parts.append(f'bytes on the wire per delivery {dw / nw:.2f}× ({dw:.0f} B vs {nw:.0f} B)')
        out.append(f'- {ROW[row][1]}, {param_label(pkey, pval)}: ' + '; '.join(parts))
    return out


def nats_lines(cells, order):
    """The nats rows: one hub against one hub with a nats-server and
    against 3 hubs sharing the room (deliveries/s, server CPU per delivery
    -- every hub and the nats-server --, latency near and far), and what
    one hub bridges each way."""
    out = []
    for key in order:
        row, (pkey, pval) = key
        if row not in ('nats-fanout', 'nats-fanout-rate'):
            continue
        one = cells[key].get(BASE)
        r1 = one.median('rate') if one else None
        c1 = one.median(CPU) if one else None
        for k, title in SERVERS:
            if k not in NATS_COLS or k not in cells[key]:
                continue
            c = cells[key][k]
            r, cpu = c.median('rate'), c.median(CPU)
            if r is None:
                continue
            parts = [f'deliveries/s {si(r)}' + (f' ({r / r1:.2f}× one hub\'s {si(r1)})' if r1 else '')]
            if cpu:
                parts.append(f'server CPU per delivery {fmt_ns(cpu)}' +
                             (f' ({cpu / c1:.2f}× one hub\'s {fmt_ns(c1)})' if c1 else '') +
                             f' (hubs {fmt_s(c.median("cpu_hubs_s"))}, nats-server '
                             f'{fmt_s(c.median("cpu_nats_s"))} of CPU)')
            p50, p99 = c.median('p50_us'), c.median('p99_us')
            if p50 is not None:
                lat = f'latency p50/p99 {fmt_us(p50)} / {fmt_us(p99)}'
                if c.median('far_p50_us') is not None:
                    lat += (f' (on the publisher\'s hub {fmt_us(c.median("near_p50_us"))} / '
                            f'{fmt_us(c.median("near_p99_us"))}, on the others '
                            f'{fmt_us(c.median("far_p50_us"))} / {fmt_us(c.median("far_p99_us"))})')
                if one and one.median('p50_us') is not None:
                    lat += f'; one hub {fmt_us(one.median("p50_us"))} / {fmt_us(one.median("p99_us"))}'
                parts.append(lat)
            out.append(f'- {ROW[row][1]}, {param_label(pkey, pval)}, {title}: ' + '; '.join(parts))
    for key in order:
        row, (pkey, pval) = key
        if row != 'nats-bridge' or BASE not in cells[key]:
            continue
        c = cells[key][BASE]
        r = c.median('rate')
        if r is None:
            continue
        if pval == 'hop':
            n50, f50 = c.median('near_p50_us'), c.median('far_p50_us')
            if n50 is None or f50 is None:
                continue
            out.append(f'- the hop between hubs, {si(r)} msgs/s from a publisher on A: latency '
                       f'p50/p99 of a subscriber on A {fmt_us(n50)} / {fmt_us(c.median("near_p99_us"))}, '
                       f'of one on B (through NATS) {fmt_us(f50)} / {fmt_us(c.median("far_p99_us"))}: '
                       f'the hop adds {fmt_us(f50 - n50)} at the median')
            continue
        what = {'out': 'to NATS (publisher on A, subscriber on B)',
                'in': 'from NATS (publisher on B, subscriber on A)'}.get(pval, pval)
        parts = [f'{si(r)} msgs/s']
        if c.median(CPU) is not None:
            parts.append(f'A\'s CPU per message {fmt_ns(c.median(CPU))}')
        if c.median('a_cpu_util') is not None:
            parts.append(f'A busy {c.median("a_cpu_util"):.0%} of the run')
            if c.median('capacity_per_s') is not None:
                parts.append(f'so A\'s CPU alone would allow ~{si(c.median("capacity_per_s"))} msgs/s')
        if c.median('p50_us') is not None:
            parts.append(f'latency p50/p99 {fmt_us(c.median("p50_us"))} / {fmt_us(c.median("p99_us"))}')
        out.append(f'- hub A bridging {what}: ' + '; '.join(parts))
    return out


def fmt_s(v):
    return '—' if v is None else f'{v:.3g} s'


def plots(cells, order, servers, prefix, plot_script):
    """Write the data files and run gnuplot; the PNG names written."""
    if not shutil.which('gnuplot'):
        print('report: gnuplot not found: no plots (scripts/setup installs gnuplot-nox)', file=sys.stderr)
        return []
    keys = [k for k, _ in SERVERS if k in servers]
    tmp = tempfile.mkdtemp(prefix='ringcast-plot.')
    try:
        def val(row, pval, server, fig):
            c = cells.get((row, ('conns', pval)), {}).get(server)
            v = c.median(fig) if c else None
            return 'NaN' if v is None else f'{v:.6g}'

        have = {}
        # Throughput vs connections: echo 32 B per server.
        ns = sorted({int(p[1]) for r, p in order if r == 'echo32'})
        with open(f'{tmp}/throughput.dat', 'w') as f:
            f.write('conns ' + ' '.join(keys) + '\n')
            for n in ns:
                f.write(f'{n} ' + ' '.join(val('echo32', str(n), k, 'rate') for k in keys) + '\n')
        have['tput'] = any(val('echo32', str(n), k, 'rate') != 'NaN' for n in ns for k in keys)
        # Latency percentiles: echo 32 B at the fewest connections.
        lat_n = str(ns[0]) if ns else None
        with open(f'{tmp}/latency.dat', 'w') as f:
            f.write('server p50 p90 p99 p99.9\n')
            have['lat'] = False
            for k in keys:
                vs = [val('echo32', lat_n, k, p) for p in LATENCY] if lat_n else []
                if vs and any(v != 'NaN' for v in vs):
                    f.write(f'{k} ' + ' '.join(vs) + '\n')
                    have['lat'] = True
        # Memory per connection: idle at each N, per server.
        mn = sorted({int(p[1]) for r, p in order if r == 'idle'})
        with open(f'{tmp}/memory.dat', 'w') as f:
            f.write('server ' + ' '.join(f'"{n} conns"' for n in mn) + '\n')
            have['mem'] = False
            for k in keys:
                vs = [val('idle', str(n), k, 'bytes_per_conn') for n in mn]
                if vs and any(v != 'NaN' for v in vs):
                    f.write(f'{k} ' + ' '.join(vs) + '\n')
                    have['mem'] = True
        names = {'tput': 'throughput', 'lat': 'latency', 'mem': 'memory'}
        if not any(have.values()):
            return []
        args = [f"dir='{tmp}'", f"out='{prefix}'", f'nserv={len(keys)}',
                f'nmem={len(mn)}', f"lat_n='{lat_n}'"]
        args += [f'have_{k}={int(v)}' for k, v in have.items()]
        r = subprocess.run(['gnuplot', '-e', '; '.join(args), plot_script],
                           capture_output=True, text=True)
        if r.returncode:
            print(f'report: gnuplot failed: {r.stderr.strip()}', file=sys.stderr)
            return []
        return [f'{prefix}-{names[k]}.png' for k, v in have.items() if v]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def kernels_table(kern):
    """The kernels row: ringcast per SIMD set, and ringcast-base beside it
    when there is one. @kern: [(server, fields)]."""
    sets = {}	# set: server: [fields]
    for s, f in kern:
        sets.setdefault(f.get('set'), {}).setdefault(s, []).append(f)

    def med(s, k, key):
        vs = [num(f.get(key)) for f in sets.get(k, {}).get(s, []) if 'status' not in f]
        vs = [v for v in vs if v]
        return statistics.median(vs) if vs else None

    has_base = any('ringcast-base' in per for per in sets.values())
    head = '| kernels | round trips/s | vs scalar | cpu/msg |'
    if has_base:
        head += ' ringcast-base | ringcast/base | base cpu/msg |'
    out = ['## 64 KiB mixed UTF-8 text echo, 8 connections, per SIMD kernel set', '',
           head, '|---' * (head.count('|') - 1) + '|']
    scalar = med('ringcast', 'scalar', 'rate')
    for k in sets:
        m = med('ringcast', k, 'rate')
        line = f'| {k} | {si(m)} | ' + (f'{m / scalar:.2f}×' if m and scalar else '') + \
            f' | {fmt_ns(med("ringcast", k, CPU))} |'
        if has_base:
            b = med('ringcast-base', k, 'rate')
            line += f' {si(b)} | ' + (f'{m / b:.2f}×' if m and b else '') + \
                f' | {fmt_ns(med("ringcast-base", k, CPU))} |'
        out.append(line)
    return out + ['']


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--results', required=True)
    ap.add_argument('--header', required=True, help='markdown put first')
    ap.add_argument('--out', required=True)
    ap.add_argument('--plots', help='PNG path prefix')
    ap.add_argument('--plot-script', default=os.path.join(os.path.dirname(__file__), 'plot.gp'))
    a = ap.parse_args()

    results = parse(a.results)
    cells, order = build(results)
    servers = {s for per in cells.values() for s in per}
    md = [open(a.header).read().rstrip(), '']

    # Rows with no table here (the history rows, which scripts/bench puts
    # in the header; kernels, codec, simd below) leave order empty: no
    # Medians and no Not yet ahead then, rather than a table of nothing.
    table, marks = main_table(cells, order, servers)
    if order:
        md += ['## Medians', '',
               'Each peer\'s cell: its median, then (in brackets) how many times ringcast '
               '(one worker) is ahead of it: ringcast/peer for rates, peer/ringcast for '
               'memory; below 1 it is behind. ⚠: errors or lost messages in a round '
               '(see Notes).' + (' ringcast-base: the build given to `--base`, compared '
                                 'like a peer (ringcast/ringcast-base).'
                                 if 'ringcast-base' in servers else ''), '']
        md += table + ['']
    cpu = cpu_table(cells, order, servers)
    if cpu:
        md += ['## Server CPU per message', '',
               'The server\'s CPU time (user + system, all its threads) over the load '
               'tool\'s whole run, divided by the messages of that run (round trips, '
               'deliveries, handshakes, requests); medians. In brackets: how many times '
               'less CPU ringcast (one worker) spends per message than the peer, '
               'peer/ringcast; below 1 it spends more. When the load tool is what limits '
               'the rates, this is where the servers differ.', '']
        md += cpu + ['']
    wire = wire_table(cells, order, servers)
    if wire:
        md += ['## Bytes on the wire per delivery', '',
               'Frame bytes per message the load tool received (headers included, as they '
               'came: compressed or not), medians; in brackets payload/wire, the '
               'compression ratio.', '']
        md += wire + ['']
    dl = deflate_lines(cells, order)
    if dl:
        md += ['## permessage-deflate against no deflate', '',
               'deflate/no-deflate: ringcast with permessage-deflate (as the row says) '
               'against the same hub with `--no-deflate`, both offered it by the same '
               'load; medians:', '']
        md += dl + ['']
    nl = nats_lines(cells, order)
    if nl:
        md += ['## Rooms across hubs (NATS)', '',
               'One room, 64 B messages. "ringcast" is one hub without NATS, '
               '"1 hub + nats-server" the same hub with `--nats` (no other hub has '
               'members: each message goes to NATS and no further), "3 hubs + '
               'nats-server" three hubs sharing the room, the subscribers spread '
               'evenly over them, the publisher on the first: each message crosses '
               'NATS to the other two. Server CPU: every hub and the nats-server '
               'together, over the deliveries. Medians:', '']
        md += nl + ['']
    lat = latency_table(cells, order, servers)
    if lat:
        md += ['## Latency (median p50 / p99 over the rounds)', ''] + lat + ['']
    if order:
        md += ['## Not yet ahead', '',
               'Rows where ringcast (one worker) is behind a peer (ratio < 1), in its '
               'figure or in server CPU per message:', '']
        md += not_ahead(cells, order) + ['']

    kern = [(s, f) for r, p, s, f, _ in results if r == 'kernels']
    if kern:
        md += kernels_table(kern)
    codec = [line for r, p, s, f, line in results if r == 'codec']
    if codec:
        md += ['## permessage-deflate codecs (`bench/deflate_bench`, one run)', '', '```']
        md += [line.replace('RESULT row=codec ', '').replace(' server=none', '').split(' round=')[0] for line in codec] + ['```', '']
    simd = [line for r, p, s, f, line in results if r == 'simd']
    if simd:
        md += ['## Payload kernels at 16 KiB (`bench/simd_bench`, one run)', '', '```']
        md += [line.replace('RESULT row=simd ', '').replace(' server=none', '').split(' round=')[0] for line in simd] + ['```', '']

    if a.plots:
        pngs = plots(cells, order, servers, a.plots, a.plot_script)
        if pngs:
            md += ['## Plots', '']
            md += [f'![{os.path.basename(p)}]({os.path.basename(p)})' for p in pngs] + ['']

    if marks:
        md += ['## Notes', '']
        for (row, (pkey, pval)), server, bad in marks:
            what = '; '.join(f'round {r}: ' + ', '.join(x for x in (
                f'{e} errors' if e else '', f'{lost} lost' if lost else '',
                note.replace('-', ' ')) if x) for r, e, lost, note in bad)
            md.append(f'- {ROW[row][1]}, {param_label(pkey, pval)}, {server}: {what}')
        md.append('')

    md += ['## Raw measurements', '', '<details><summary>RESULT lines</summary>', '', '```']
    md += [line for *_, line in results] + ['```', '', '</details>', '']
    with open(a.out, 'w') as f:
        f.write('\n'.join(md))


if __name__ == '__main__':
    main()
