# shellcheck shell=sh
# Sourced by both test VMs' payloads (cgroupv2-vm/init.sh,
# systemd-vm/payload.sh), which vm_add_test_binaries gives a copy of at
# /opt/berth/guest-progress.sh: the suite's progress on the console, and
# what blocks it when it stops progressing.

uptime_s() { cut -d. -f1 /proc/uptime; }

# Each line of the suite, stamped with the guest's uptime; also appended
# to /tmp/progress, which the watchdog watches.
stamp() {
    awk '{ getline u <"/proc/uptime"; close("/proc/uptime"); split(u, t, " ")
           printf "[%6.1f] %s\n", t[1], $0; fflush()
           printf "%s\n", $0 >>"/tmp/progress"; fflush("/tmp/progress") }'
}

# The watchdog: when a step prints nothing for 240 s (a case's timeout is
# 60 s and every wait of the suite's cleanup is bounded), something is
# blocked in the kernel. Once per stall it prints what each process in
# state D waits on, the memory left and the kernel's log with its list of
# blocked tasks (sysrq w; the console shows errors only, not an OOM kill),
# so a hang that CI meets leaves its cause in the log.
watchdog() {
    last="" quiet=0
    while sleep 30; do
        now=$(wc -c </tmp/progress 2>/dev/null)
        if [ "$now" != "$last" ]; then last=$now quiet=0; continue; fi
        quiet=$((quiet + 30))
        [ "$quiet" = 240 ] || continue
        echo "== watchdog: no output for $quiet s at $(uptime_s) s; tasks in state D:"
        for d in /proc/[0-9]*; do
            [ "$(sed 's/.*) //' "$d/stat" 2>/dev/null | cut -d' ' -f1)" = D ] || continue
            echo "-- ${d#/proc/} $(tr '\0' ' ' <"$d/cmdline" | cut -c1-120) wchan=$(cat "$d/wchan")"
            sed 's/^/   /' "$d/stack"
        done
        echo "== watchdog: $(grep -E '^(MemTotal|MemAvailable|Shmem):' /proc/meminfo | tr -s ' \n' ' ')"
        echo w >/proc/sysrq-trigger
        dmesg | tail -n 120
        echo "== watchdog: end"
    done
}

# Start the watchdog in the background, on an empty /tmp/progress; stop it.
watchdog_start() {
    : >/tmp/progress
    watchdog &
    watchdog_pid=$!
}
watchdog_stop() { kill "$watchdog_pid" 2>/dev/null; }
