# plots.gp - written by tally bench; run `gnuplot plots.gp` in this directory.
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_hammer.png'
reset
set title 'Throughput vs threads: hammer (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_hammer.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_hammer.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_hammer.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_hammer.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_hammer.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_hammer.svg'
reset
set title 'Throughput vs threads: hammer (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_hammer.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_hammer.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_hammer.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_hammer.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_hammer.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_private.png'
reset
set title 'Throughput vs threads: private (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_private.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_private.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_private.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_private.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_private.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_private.svg'
reset
set title 'Throughput vs threads: private (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_private.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_private.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_private.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_private.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_private.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_handoff.png'
reset
set title 'Throughput vs threads: handoff (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_handoff.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_handoff.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_handoff.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_handoff.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_handoff.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_handoff.svg'
reset
set title 'Throughput vs threads: handoff (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_handoff.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_handoff.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_handoff.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_handoff.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_handoff.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_readmostly.png'
reset
set title 'Throughput vs threads: readmostly (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_readmostly.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_readmostly.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_readmostly.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_readmostly.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_readmostly.svg'
reset
set title 'Throughput vs threads: readmostly (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_readmostly.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_readmostly.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_readmostly.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_readmostly.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_cycles.png'
reset
set title 'Throughput vs threads: cycles (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_cycles.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_cycles.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_cycles.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_cycles.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_cycles.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_cycles.svg'
reset
set title 'Throughput vs threads: cycles (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_cycles.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_cycles.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_cycles.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_cycles.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_cycles.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_graph.png'
reset
set title 'Throughput vs threads: graph (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_graph.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_graph.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_graph.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_graph.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_graph.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_graph.svg'
reset
set title 'Throughput vs threads: graph (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_graph.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_graph.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_graph.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_graph.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_graph.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_churn.png'
reset
set title 'Throughput vs threads: churn (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_churn.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_churn.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_churn.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_churn.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_churn.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_churn.svg'
reset
set title 'Throughput vs threads: churn (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_churn.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_churn.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_churn.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_churn.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_churn.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_forkcow.png'
reset
set title 'Throughput vs threads: forkcow (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_forkcow.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_forkcow.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_forkcow.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_forkcow.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_forkcow.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_forkcow.svg'
reset
set title 'Throughput vs threads: forkcow (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_forkcow.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_forkcow.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_forkcow.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_forkcow.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_forkcow.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'throughput_convoy.png'
reset
set title 'Throughput vs threads: convoy (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_convoy.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_convoy.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_convoy.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_convoy.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_convoy.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal svg size 900,560 dynamic font ',10'
set output 'throughput_convoy.svg'
reset
set title 'Throughput vs threads: convoy (median, bars min-max)'
set xlabel 'threads'
set ylabel 'operations per second'
set key outside right
set grid
set logscale x 2
set xtics (1, 2, 4)
set offsets graph 0.03, graph 0.03, 0, 0
set yrange [0:*]
plot 'throughput_convoy.dat' index 0 using 1:2:3:4 with yerrorlines lw 2 title 'gil', 'throughput_convoy.dat' index 1 using 1:2:3:4 with yerrorlines lw 2 title 'atomic', 'throughput_convoy.dat' index 2 using 1:2:3:4 with yerrorlines lw 2 title 'biased', 'throughput_convoy.dat' index 3 using 1:2:3:4 with yerrorlines lw 2 title 'deferred', 'throughput_convoy.dat' index 4 using 1:2:3:4 with yerrorlines lw 2 title 'racy'
set terminal pngcairo size 900,560 font ',10'
set output 'pause_cdf_gil.png'
reset
set title 'Stop-the-world pause CDF: gil (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_gil.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_gil.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_gil.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal svg size 900,560 dynamic font ',10'
set output 'pause_cdf_gil.svg'
reset
set title 'Stop-the-world pause CDF: gil (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_gil.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_gil.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_gil.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal pngcairo size 900,560 font ',10'
set output 'pause_cdf_atomic.png'
reset
set title 'Stop-the-world pause CDF: atomic (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_atomic.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_atomic.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_atomic.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal svg size 900,560 dynamic font ',10'
set output 'pause_cdf_atomic.svg'
reset
set title 'Stop-the-world pause CDF: atomic (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_atomic.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_atomic.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_atomic.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal pngcairo size 900,560 font ',10'
set output 'pause_cdf_biased.png'
reset
set title 'Stop-the-world pause CDF: biased (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_biased.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_biased.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_biased.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal svg size 900,560 dynamic font ',10'
set output 'pause_cdf_biased.svg'
reset
set title 'Stop-the-world pause CDF: biased (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_biased.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_biased.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_biased.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal pngcairo size 900,560 font ',10'
set output 'pause_cdf_deferred.png'
reset
set title 'Stop-the-world pause CDF: deferred (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_deferred.dat' index 0 using 1:2 with linespoints lw 2 title 'private, 4 threads', 'pause_cdf_deferred.dat' index 1 using 1:2 with linespoints lw 2 title 'readmostly, 4 threads', 'pause_cdf_deferred.dat' index 2 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_deferred.dat' index 3 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_deferred.dat' index 4 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal svg size 900,560 dynamic font ',10'
set output 'pause_cdf_deferred.svg'
reset
set title 'Stop-the-world pause CDF: deferred (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_deferred.dat' index 0 using 1:2 with linespoints lw 2 title 'private, 4 threads', 'pause_cdf_deferred.dat' index 1 using 1:2 with linespoints lw 2 title 'readmostly, 4 threads', 'pause_cdf_deferred.dat' index 2 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_deferred.dat' index 3 using 1:2 with linespoints lw 2 title 'graph, 4 threads', 'pause_cdf_deferred.dat' index 4 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal pngcairo size 900,560 font ',10'
set output 'pause_cdf_racy.png'
reset
set title 'Stop-the-world pause CDF: racy (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_racy.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_racy.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 1 threads', 'pause_cdf_racy.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal svg size 900,560 dynamic font ',10'
set output 'pause_cdf_racy.svg'
reset
set title 'Stop-the-world pause CDF: racy (p50, p90, p99, p99.9, max; median over repetitions)'
set xlabel 'pause (microseconds, log scale)'
set ylabel 'fraction of pauses <= x'
set logscale x
set yrange [0:1.02]
set key outside right
set grid
plot 'pause_cdf_racy.dat' index 0 using 1:2 with linespoints lw 2 title 'cycles, 4 threads', 'pause_cdf_racy.dat' index 1 using 1:2 with linespoints lw 2 title 'graph, 1 threads', 'pause_cdf_racy.dat' index 2 using 1:2 with linespoints lw 2 title 'forkcow, 4 threads'
set terminal pngcairo size 900,560 font ',10'
set output 'memory_per_object.png'
reset
set title 'Resident memory per live object (2^20 objects alive)'
set ylabel 'bytes per object'
set xlabel 'backend'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set key outside right
plot 'memory_per_object.dat' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3)
set terminal svg size 900,560 dynamic font ',10'
set output 'memory_per_object.svg'
reset
set title 'Resident memory per live object (2^20 objects alive)'
set ylabel 'bytes per object'
set xlabel 'backend'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set key outside right
plot 'memory_per_object.dat' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3)
