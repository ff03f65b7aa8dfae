#!/bin/bash
# 30-minute soak of `seqhound run` under steady load (see README.md here).
# Usage: benches/soak/soak.sh [WORKDIR] — needs `cargo build --release` first.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../../target/release/seqhound"
work=${1:-/tmp/seqhound-soak}
mkdir -p "$work" && cd "$work" && rm -rf state audit samples.tsv runs.txt
cp "$here/soak.toml" .
"$bin" run --config soak.toml > run.log 2>&1 &
pid=$!
sleep 1
# RSS (kB), open files and threads every 10 s.
( while kill -0 $pid 2>/dev/null; do
    echo -e "$(date +%s)\t$(grep VmRSS /proc/$pid/status | awk '{print $2}')\t$(ls /proc/$pid/fd | wc -l)\t$(ls /proc/$pid/task | wc -l)" >> samples.tsv
    sleep 10
  done ) &
end=$(( $(date +%s) + 1800 ))
i=1
while [ "$(date +%s)" -lt $end ]; do
  echo -n "seed $i: " >> runs.txt
  "$bin" loadgen --target http://127.0.0.1:9100/ --listen 127.0.0.1:9110 --rate 10000 --seconds 30 --seed $i --hosts 100 >> runs.txt 2>&1
  i=$((i+1))
done
grep VmHWM /proc/$pid/status > hwm.txt
kill -TERM $pid
wait $pid
echo "exit $?" >> runs.txt
# Expected detections: the same streams, concatenated, replayed offline with the same lateness.
n=$((i-1))
for s in $(seq 1 $n); do "$bin" generate --seed $s --hosts 100 --events 300000; done | "$bin" replay --lateness 1s --format compact - 2>/dev/null | wc -l > expected.txt
echo "runs: $n; expected detections: $(cat expected.txt); emitted: count distinct alert_id under $work/audit/detections"
