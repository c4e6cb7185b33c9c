# ---- the supervisor (the same text for every attempt; the settings above are the attempt's) ----
# It is the parent that waits on the sandbox: it alone records how the attempt ended, in
# files the job cannot reach (this directory is not visible inside the sandbox).
set -u
umask 077
cd "$ctl" || exit 70
[ -e status ] && exit 0 # ended already: a second start does nothing
echo "$$ $(cut -d' ' -f22 "/proc/$$/stat")" > supervisor.tmp && mv supervisor.tmp supervisor
started=$(date +%s)
echo "$started" > start.tmp && mv start.tmp start

# Control groups hold the memory and process limits and count CPU time, where this host
# lets us create them (cgroup v1 controllers writable by us); otherwise rlimits stand in.
cgroups=""
if [ "$use_cgroups" = 1 ]; then
  for c in memory pids cpuacct; do
    d=/sys/fs/cgroup/$c/medgrid/$key
    [ -w "/sys/fs/cgroup/$c" ] && mkdir -p "$d" 2>/dev/null || continue
    case $c in
      memory)
        echo "$memory_bytes" > "$d/memory.limit_in_bytes" || continue
        [ -e "$d/memory.memsw.limit_in_bytes" ] && echo "$memory_bytes" > "$d/memory.memsw.limit_in_bytes" 2>/dev/null
        ;;
      pids) echo "$processes" > "$d/pids.max" || continue ;;
    esac
    cgroups="$cgroups $d"
  done
fi
rlimits=""
case $cgroups in */memory/*) ;; *) rlimits="$rlimits --as=$memory_bytes" ;; esac
case $cgroups in */pids/*) ;; *) [ "$own_uid" = 1 ] && rlimits="$rlimits --nproc=$processes" ;; esac

# The only way out of the sandbox's network: Medgrid's API, through a socket the sandbox
# side of the bridge reaches inside its own network namespace.
bridge=""
if [ -n "$api_upstream" ]; then
  rm -f api.sock
  # relative: a socket address holds at most 107 bytes, a data dir path may be longer
  socat "UNIX-LISTEN:api.sock,fork,mode=600" "$api_upstream" &
  bridge=$!
  i=0
  while [ ! -S api.sock ] && [ $i -lt 500 ]; do i=$((i + 1)); sleep 0.01; done
fi

# This host's own addresses: a networked job must not reach them through slirp4netns.
host_addresses=""
if [ "$networked" = 1 ]; then
  host_addresses=$(ip -o -4 addr show 2>/dev/null | awk '{ split($4, a, "/"); printf "%s/32 ", a[1] }')
fi

child=""
slirp=""
# Stops everything the attempt started: the cgroups' processes and the sandbox (its PID
# namespace dies with its first process).
stop_sandbox() {
  for d in $cgroups; do
    case $d in */pids/* | */memory/*) xargs -r kill -KILL < "$d/cgroup.procs" 2>/dev/null ;; esac
  done
  [ -n "$child" ] && kill -KILL "$child" 2>/dev/null
}
# Records why the supervisor stopped the attempt (the first reason wins), then stops it.
verdict() {
  [ -e verdict ] || { echo "$1" > verdict.tmp && mv verdict.tmp verdict; }
  stop_sandbox
}
# KiB of disk the attempt holds: its work directory and its logs.
disk_used() {
  du -skx work stdout stderr 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}
# Every second: walltime, disk and the cgroups' counters.
watch() {
  while sleep 1; do
    now=$(date +%s)
    [ $((now - started)) -ge "$walltime" ] && { verdict WALLTIME; return; }
    [ "$(disk_used)" -gt "$disk_kib" ] && { verdict DISK_LIMIT; return; }
    for d in $cgroups; do
      case $d in
        */pids/*) grep -q '^max [1-9]' "$d/pids.events" 2>/dev/null && { verdict PROCESS_LIMIT; return; } ;;
        */memory/*) grep -q '^oom_kill [1-9]' "$d/memory.oom_control" 2>/dev/null && { verdict MEMORY_LIMIT; return; } ;;
      esac
    done
  done
}

# Gives the sandbox's network namespace a way out through slirp4netns (host loopback
# refused), once bubblewrap says which process is in it: a child of the sandbox's own.
network() {
  i=0
  while ! grep -q '"child-pid"' info 2>/dev/null && [ $i -lt 500 ]; do i=$((i + 1)); sleep 0.01; done
  pid=$(sed -n 's/.*"child-pid": *\([0-9][0-9]*\).*/\1/p' info)
  [ -n "$pid" ] && [ "$(cut -d' ' -f4 "/proc/$pid/stat" 2>/dev/null)" = "$child" ] || return 0
  slirp4netns --configure --mtu=65520 --disable-host-loopback --enable-sandbox --enable-seccomp \
    "$pid" tap0 > slirp.log 2>&1 &
  slirp=$!
}

trap 'verdict CANCELLED' TERM INT HUP
code=0
if [ -e cancel ]; then
  verdict CANCELLED
  code=143
else
  # the job's logs reach it as fds 6 and 7; what the sandbox's own set-up says (host paths)
  # goes to the operator's log
  sandbox > sandbox.log 2>&1 < /dev/null 5> info 6> stdout 7> stderr &
  child=$!
  [ "$networked" = 1 ] && network
  watch &
  watcher=$!
  wait "$child"
  code=$?
  # a trapped signal interrupts `wait`: wait again for the sandbox's own end
  while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done
  kill "$watcher" 2>/dev/null
fi
[ -n "$bridge" ] && kill "$bridge" 2>/dev/null
[ -n "$slirp" ] && kill "$slirp" 2>/dev/null

# a sandbox that could not be set up: the member hears that much, the operator why
if [ "$code" -ne 0 ] && grep -q '^bwrap:' sandbox.log 2>/dev/null; then
  echo "Medgrid could not set up this attempt's sandbox (the operator's log says why)" >> stderr
fi
reason=$(cat verdict 2>/dev/null || true)
if [ -z "$reason" ] && [ "$code" -ne 0 ]; then
  # stopped by the file size limit between two looks
  [ "$(disk_used)" -gt "$disk_kib" ] && reason=DISK_LIMIT
  for d in $cgroups; do
    case $d in
      */pids/*) grep -q '^max [1-9]' "$d/pids.events" 2>/dev/null && reason=PROCESS_LIMIT ;;
      */memory/*) grep -q '^oom_kill [1-9]' "$d/memory.oom_control" 2>/dev/null && reason=MEMORY_LIMIT ;;
    esac
  done
fi
cpu=""
for d in $cgroups; do
  case $d in */cpuacct/*) cpu=$(awk '{ printf "%d", $1 / 1000000000 }' "$d/cpuacct.usage" 2>/dev/null) ;; esac
done
[ -n "$cpu" ] || cpu=$(times | awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
stop_sandbox
for d in $cgroups; do
  # killed processes take a moment to leave their cgroup
  i=0
  while ! rmdir "$d" 2>/dev/null && [ $i -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
done
rm -f secret.args api.sock
{
  echo "exit=$code"
  echo "reason=$reason"
  echo "start=$started"
  echo "end=$(date +%s)"
  echo "cpu_seconds=${cpu:-0}"
} > status.tmp && mv status.tmp status
exit "$code"
