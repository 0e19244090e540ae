#!/bin/bash
# serf_event.sh: the Serf event handler of bench/peers.lua (`serf agent
# -event-handler=member-update,member-failed=".../serf_event.sh FILE"`).
# Serf runs it once per (coalesced) event with one member per stdin line
# ("NAME<TAB>ADDR<TAB>ROLE<TAB>TAGS"); it appends to FILE, one line per member:
#   <wall clock in ms> <this agent> <event> <member> <tags>
# bash, not sh: $EPOCHREALTIME stamps the moment the handler ran without
# starting another process (`date`). Each line is one O_APPEND write, so the
# lines of handlers running at once never interleave.
file=$1
tab=$'\t'
while IFS= read -r line; do
  t=${EPOCHREALTIME/./}          # microseconds
  name=${line%%"$tab"*} tags=${line##*"$tab"}
  echo "${t:0:-3}.${t: -3} $SERF_SELF_NAME $SERF_EVENT $name ${tags:--}" >> "$file"
done
