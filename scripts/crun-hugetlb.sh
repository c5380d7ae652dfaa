# Sourced by the benches: crun refuses this host's hybrid layout while
# hugetlb is on cgroup2. If hugetlb is on cgroup2, unused there, and has no v1
# mount, `hugetlb_v1_for_crun` gives it a v1 mount for the duration of the
# bench. This is the only host change the benches make; `restore_hugetlb`
# (installed as the EXIT trap) undoes it.
hugetlb=/sys/fs/cgroup/hugetlb
mounted_hugetlb=false
created_hugetlb_dir=false

hugetlb_col() {  # column N of hugetlb's line in /proc/cgroups
    awk -v n="$1" '$1 == "hugetlb" { print $n }' /proc/cgroups
}
hugetlb_on_v2() { [[ $(hugetlb_col 2) == 0 ]]; }      # hierarchy id 0 = cgroup2
hugetlb_no_children() { [[ $(hugetlb_col 3) == 1 ]]; }  # only the root cgroup
poll_20s() {  # poll_20s CHECK
    local i
    for ((i = 0; i < 100; i++)); do "$1" && return 0; sleep 0.2; done
    return 1
}

restore_hugetlb() {
    if $mounted_hugetlb; then
        # The kernel frees a v1 hierarchy at umount only if it has no child
        # cgroups, and releases removed cgroups and the hierarchy itself
        # asynchronously (after RCU grace periods): wait on both sides.
        find "$hugetlb" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
        poll_20s hugetlb_no_children || true
        umount "$hugetlb"
        poll_20s hugetlb_on_v2 \
            || echo "warning: hugetlb has not returned to cgroup2" >&2
        mounted_hugetlb=false
    fi
    if $created_hugetlb_dir; then rmdir "$hugetlb"; created_hugetlb_dir=false; fi
}

hugetlb_v1_for_crun() {
    local v2=/sys/fs/cgroup/unified
    if ! mountpoint -q "$hugetlb" && hugetlb_on_v2 && [[ -f $v2/cgroup.controllers ]] \
        && grep -qw hugetlb "$v2/cgroup.controllers" \
        && ! grep -qw hugetlb "$v2/cgroup.subtree_control"; then
        [[ -d $hugetlb ]] || created_hugetlb_dir=true
        mkdir -p "$hugetlb"
        mounted_hugetlb=true
        mount -t cgroup -o hugetlb cgroup "$hugetlb" || {
            mounted_hugetlb=false
            echo "could not mount hugetlb on v1; crun may be excluded" >&2
        }
    fi
}
