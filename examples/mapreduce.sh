#!/bin/sh
# Word count as map/reduce over Gearman, with nothing but gearlet and the shell.
#
#   GEARMAN_SERVERS=127.0.0.1:4730 examples/mapreduce.sh FILE
#
# Fan-out: MAPPERS workers serve `wc_map`; `gearlet submit -n` sends every line of FILE as one
# job, keeping a window of them in flight, so the lines are counted in parallel. Fan-in: the map
# results come back in input order and go, as one job, to the `wc_reduce` worker, which adds them
# up. Prints "COUNT WORD" lines, most frequent first. The servers come from $GEARMAN_SERVERS (or
# localhost:4730); the workers stop (SIGTERM, after their running job) when the script ends.
set -eu
input=${1:?usage: mapreduce.sh FILE}
mappers=${MAPPERS:-3}
export LC_ALL=C

pids=
trap 'kill $pids 2>/dev/null; wait' EXIT

# map: one line in, "COUNT WORD" lines out (words lower-cased, anything not a letter splits).
i=0
while [ "$i" -lt "$mappers" ]; do
    gearlet work -f wc_map -- sh -c \
        "tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' | sed '/^\$/d' | sort | uniq -c" \
        </dev/null >/dev/null &
    pids="$pids $!"
    i=$((i + 1))
done

# reduce: all the map outputs in, one total per word out.
gearlet work -f wc_reduce -- sh -c \
    "awk '{ n[\$2] += \$1 } END { for (w in n) print n[w], w }' | sort -k1,1nr -k2,2" \
    </dev/null >/dev/null &
pids="$pids $!"

gearlet submit -n -f wc_map < "$input" | gearlet submit -f wc_reduce
