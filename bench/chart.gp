# Chart for bench/bench.py, which passes:
#   ratios   data file: group, then median/min/max of the ratio to plain for
#            encrypted_text, pgcrypto encrypt() and pgp_sym_encrypt()
#   memplot  plot clauses for the memory samples of each query
#   out      the PNG to write
#   reps     the number of repetitions
#   values   the number of values the memory queries handle, as text
set terminal pngcairo size 1400,620 enhanced font "DejaVu Sans,11"
set output out
set multiplot layout 1,2 margins 0.06,0.98,0.14,0.88 spacing 0.08,0

set title sprintf("Time per value relative to plain text (median of %d runs, bars: min–max)", reps)
set logscale y
set yrange [0.8:30000]
set ytics (1, 1.5, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
set ylabel "× plain text, log scale (lower is better)"
set grid ytics lc rgb "#dddddd"
set key top right
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics nomirror
# plain text is 1 by definition
plot 1 with lines lc rgb "#888888" dt 2 notitle, \
     ratios using 2:3:4:xtic(1) title "encrypted\\_text" lc rgb "#2a7ab0", \
     '' using 5:6:7 title "pgcrypto encrypt() (AES-CBC)" lc rgb "#e69f00", \
     '' using 8:9:10 title "pgcrypto pgp\\_sym\\_encrypt()" lc rgb "#c0504d", \
     '' using ($0 - 0.2):($4 * 1.08):(sprintf("%.2f×", $2)) with labels left rotate by 90 font ",10" notitle, \
     '' using ($0 + 0.0):($7 * 1.08):(sprintf("%.1f×", $5)) with labels left rotate by 90 font ",10" notitle, \
     '' using ($0 + 0.2):($10 * 1.08):(sprintf("%.0f×", $8)) with labels left rotate by 90 font ",10" notitle

unset logscale y
set yrange [0:*]
set ytics auto
unset xtics
set xtics
set title sprintf("Private memory of the backend during one query of %s values", values)
set xlabel "seconds"
set ylabel "RssAnon, MiB"
set key bottom right
eval "plot " . memplot
unset multiplot
