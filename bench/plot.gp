# SPDX-License-Identifier: MIT
# plot.gp -- the PNG plots of a scripts/bench report; bench/report.py writes
# the data into DIR and calls
#   gnuplot -e "dir='DIR'; out='PREFIX'; nserv=N; nmem=M; lat_n='100';
#               have_tput=1; have_lat=1; have_mem=1" bench/plot.gp
# DIR/throughput.dat  conns, then round trips/s per server (echo 32 B)
# DIR/latency.dat     server, then p50 p90 p99 p99.9 in us (echo 32 B, lat_n conns)
# DIR/memory.dat      server, then bytes per idle connection per count
# Missing figures are NaN. Writes PREFIX-throughput.png, -latency.png, -memory.png.

if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 960,560 font "DejaVu Sans,10" noenhanced
} else {
	set terminal png size 960,560 noenhanced
}
set datafile missing "NaN"
set key outside right top
set grid ytics
set border 3
set tics nomirror

if (have_tput) {
	set output out."-throughput.png"
	set title "Echo 32 B: round trips/s against connections (server on CPU 0, load on CPU 1)"
	set xlabel "connections"
	set ylabel "round trips/s"
	set logscale x 10
	set yrange [0:*]
	set format y "%.0s%c"
	plot for [i=2:nserv+1] dir."/throughput.dat" using 1:i with linespoints lw 2 pt 7 title columnheader(i)
	unset logscale x
	unset format y
	unset xlabel
}

if (have_lat) {
	set output out."-latency.png"
	set title "Echo 32 B, ".lat_n." connections: round-trip latency percentiles"
	set ylabel "microseconds (log scale)"
	set logscale y 10
	set yrange [*:*]
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.85 border -1
	set boxwidth 0.9
	set xtics rotate by 0
	plot for [i=2:5] dir."/latency.dat" using i:xtic(1) title columnheader(i)
	unset logscale y
}

if (have_mem) {
	set output out."-memory.png"
	set title "Server RSS per idle WebSocket connection (lower is better)"
	set ylabel "bytes per connection"
	set yrange [0:*]
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.85 border -1
	set boxwidth 0.9
	plot for [i=2:nmem+1] dir."/memory.dat" using i:xtic(1) title columnheader(i)
}
