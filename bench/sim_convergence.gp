# sim_convergence.gp: written by bench/sim_study.lua; run in its directory:
#   gnuplot sim_convergence.gp   (reads sim_convergence.dat, writes sim_convergence.svg)
set terminal svg size 1000,600 dynamic noenhanced font "sans,14" background rgb "white"
set output "sim_convergence.svg"
set title "rumor simulation: one write until every node holds it\nmedian of 10 seeds, bars min–max; bench/sim.lua, gossip_interval_ms 500, latency_ms [1,20], start \"converged\""
set xlabel "nodes (N)"
set ylabel "convergence time (virtual ms)"
set logscale x 10
set logscale y 10
set xrange [66.6667:15000]
set xtics (100, 1000, 10000)
set grid xtics ytics mytics lc rgb '#c8c8c8'
set key outside right center vertical box opaque
set bars small
set arrow from graph 0, first 500 to graph 1, first 500 nohead dt 3 lc rgb '#999999'
set label "1 round (500 ms)" at graph 0.01, first 500 offset 0,0.6 tc rgb '#777777' font ',11'
set arrow from graph 0, first 1000 to graph 1, first 1000 nohead dt 3 lc rgb '#999999'
set label "2 rounds (1000 ms)" at graph 0.01, first 1000 offset 0,0.6 tc rgb '#777777' font ',11'
set arrow from graph 0, first 2500 to graph 1, first 2500 nohead dt 3 lc rgb '#999999'
set label "5 rounds (2500 ms)" at graph 0.01, first 2500 offset 0,0.6 tc rgb '#777777' font ',11'
set arrow from graph 0, first 5000 to graph 1, first 5000 nohead dt 3 lc rgb '#999999'
set label "10 rounds (5000 ms)" at graph 0.01, first 5000 offset 0,0.6 tc rgb '#777777' font ',11'
plot "sim_convergence.dat" index 0 using ($1*0.9250):2:3:4 with yerrorlines lc rgb "#0072b2" dt 1 pt 7 ps 0.9 lw 1.8 title "epidemic, 0% loss", \
     "sim_convergence.dat" index 1 using ($1*0.9550):2:3:4 with yerrorlines lc rgb "#e69f00" dt 1 pt 7 ps 0.9 lw 1.8 title "epidemic, 1% loss", \
     "sim_convergence.dat" index 2 using ($1*0.9850):2:3:4 with yerrorlines lc rgb "#d55e00" dt 1 pt 7 ps 0.9 lw 1.8 title "epidemic, 10% loss", \
     "sim_convergence.dat" index 3 using ($1*1.0150):2:3:4 with yerrorlines lc rgb "#0072b2" dt 2 pt 9 ps 0.9 lw 1.8 title "tree, 0% loss", \
     "sim_convergence.dat" index 4 using ($1*1.0450):2:3:4 with yerrorlines lc rgb "#e69f00" dt 2 pt 9 ps 0.9 lw 1.8 title "tree, 1% loss", \
     "sim_convergence.dat" index 5 using ($1*1.0750):2:3:4 with yerrorlines lc rgb "#d55e00" dt 2 pt 9 ps 0.9 lw 1.8 title "tree, 10% loss"
