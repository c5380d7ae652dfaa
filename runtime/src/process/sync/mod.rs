//! The protocol between the runtime and the processes it starts in a
//! container: the sync channel of `create` and `exec`, and the exec fifo
//! of `start`.
//!
//! The sync channel is a SOCK_SEQPACKET socketpair made before clone3, both
//! ends close-on-exec, one message per packet (`msg`). Messages are typed
//! by direction: the runtime's end (`RuntimeEnd`) sends `ToInit` and
//! receives `FromInit`, the child's end (`InitEnd`) the converse. Each
//! request of the child (Hooks, Seccomp, Ready) has one reply, and the
//! child blocks until it comes; the runtime blocks in `recv` between
//! requests. (clone3 "into the cgroup": CLONE_INTO_CGROUP on v2; the child
//! joins the other hierarchies itself, first thing.)
//!
//! # create
//!
//! ```text
//!  runtime (berth create / run)                    init (clone3 child)
//!  ────────────────────────────                    ───────────────────
//!  mkfifo exec.fifo, keep an O_PATH fd
//!  console: connect to --console-socket,
//!    or a socketpair to relay (run)
//!  socketpair (sync channel)
//!  clone3 into the cgroup ────────────────────────▶ PDEATHSIG=SIGKILL
//!  --systemd-cgroup: start the scope                │ --systemd-cgroup: recv (blocks)
//!    with the init's pid, write the limits          │ cgroup after the clone: new
//!  cgroup after the clone: make it                  │   network namespace, lo up;
//!                                                   │   recv (blocks)
//!       ───────────────────── Placed ─────────────▶ oom_score_adj (no new user ns)
//!                                                   │ joined user namespace + new pid ns:
//!       ◀──────────────────── Reborn + pidfd ────── join, unshare, clone3 the real init
//!  reap the child, serve the init                   (CLONE_PARENT), exit
//!  until_ready: recv (blocks)                       │ if a new user namespace:
//!       ◀──────────────────── Mappings ──────────── send; recv (blocks)
//!  oom_score_adj, raise hard rlimits (prlimit),     │
//!  write gid_map, uid_map                           │
//!       ───────────────────── Mapped ─────────────▶ become root there; join cgroups,
//!                                                   namespaces
//!                                                   │ if linux.netDevices:
//!       ◀──────────────────── NetDevices ────────── send; recv (blocks)
//!  move them in through /proc/PID/ns/net            │
//!       ───────────────────── NetDevicesMoved ────▶ mounts, sysctl
//!                                                   │ if prestart/createRuntime hooks:
//!       ◀──────────────────── Hooks ─────────────── send; recv (blocks)
//!  prestart, createRuntime hooks                    │
//!       ───────────────────── HooksDone ──────────▶ createContainer hooks, pivot_root;
//!                                                   tty: pty master ──▶ console socket
//!                                                     (SCM_RIGHTS, not on this channel);
//!                                                   rlimits, scheduler, ioprio, personality,
//!                                                   args[0] lookup, close host fds
//!                                                   │ if a NOTIFY filter is loaded (before
//!                                                   │ setuid, or after no_new_privs):
//!       ◀──────────────────── Seccomp + fd ──────── send (SCM_RIGHTS); recv (blocks)
//!  fd + process state ──▶ agent at listenerPath     │
//!       ───────────────────── SeccompDone ────────▶ setuid, capabilities, no_new_privs
//!       ◀──────────────────── Ready ─────────────── send; recv (blocks)
//!  relay: recv the pty master; save state.json,
//!    the pid file
//!  release:                                         │
//!       ───────────────────── Ack ────────────────▶ PDEATHSIG off
//!       ◀──────────────────── Detached ──────────── send
//!  exit 0 (its end closes)                          open exec.fifo for writing:
//!                                                   blocks until `start`
//! ```
//!
//! Placed comes first of all, exactly with `--systemd-cgroup` (the init is
//! born in the runtime's cgroup and systemd moves it into the scope) or when
//! the runtime makes the cgroup after the clone (`InitConfig::place`); then
//! Reborn, exactly when a user namespace is joined by path and
//! the pid namespace is new; then Mappings, exactly when the user namespace
//! is new; NetDevices exactly when the config moves network devices; Hooks
//! exactly when there are prestart or createRuntime hooks
//! (both sides read the same config); Seccomp at most once, after them; anything else out of order is an error ("expected Ready, got
//! Hooks"), and so is an unknown tag.
//!
//! Failures. The init sends `Error(text)` and exits 1; the runtime kills
//! and reaps it (it is exiting anyway) and fails with "unable to start
//! container process: text" (e.g. runc's `exec: "x": executable file not
//! found in $PATH`). When the runtime's part fails (a hook, the agent,
//! saving the state) it kills and reaps the init, which is never told. EOF
//! is never legitimate in create: to the runtime it means the init died
//! without a word ("container init exited without reporting", or "…during
//! create" after Ack); to the init, that the runtime died (PDEATHSIG
//! usually kills it first). After Detached nobody reads the channel: the
//! init's errors go to the fifo (below) and to its stderr.
//!
//! # start
//!
//! ```text
//!  runtime (berth start / run)                     init
//!  ───────────────────────────                     ────
//!  open exec.fifo O_RDONLY|O_NONBLOCK ────────────▶ its open for writing returns
//!  poll(fifo, init's pidfd)                         startContainer hooks, signal mask
//!       ◀──────────────────── "0" ───────────────── write
//!                                                   (no_new_privs: load seccomp)
//!       ◀──────────────────── EOF ───────────────── execve (O_CLOEXEC closes the fifo)
//!  unlink the fifo, poststart hooks
//! ```
//!
//! A failure in the init is written as `E<text>` (after the "0" when it
//! came later) and fails `start` with the text; an init that dies before it
//! opened the fifo wakes the poll through its pidfd: "container init exited
//! before start". Here EOF after "0" is the success, also when execve
//! itself fails: the init then prints the error on the payload's stderr
//! and exits 255, and `start` succeeds, as with current runc.
//!
//! # run
//!
//! One berth process does create, then start, on the same container; with a
//! terminal and no `-d` it receives the pty master itself (the relay
//! socketpair) and relays it, then waits for the payload forwarding signals.
//!
//! # exec
//!
//! ```text
//!  runtime (berth exec)                            exec'd process (clone3 child)
//!  ────────────────────                            ─────────────────────────────
//!  setns into the init's pid namespace
//!  socketpair (sync channel)
//!  clone3 into the cgroup ────────────────────────▶ join cgroups, setns into the rest,
//!  until_exec: recv (blocks)                        tty: pty master ──▶ console socket;
//!                                                   rlimits, scheduler, ioprio, personality,
//!                                                   args[0] lookup
//!                                                   │ if a NOTIFY filter is loaded:
//!       ◀──────────────────── Seccomp + fd ──────── send (SCM_RIGHTS); recv (blocks)
//!  fd + state ──▶ agent at listenerPath             │
//!       ───────────────────── SeccompDone ────────▶ setuid, capabilities, signal mask
//!       ◀──────────────────── EOF ───────────────── execve (O_CLOEXEC closes its end)
//!  relay: recv the pty master; the pid file
//! ```
//!
//! Here EOF is the success: execve happened (a child killed before it
//! reported shows the same way, and its exit status tells; so does one
//! whose execve failed: it prints that on its stderr and exits 255, as
//! current runc's does). A failure before execve is
//! `Error(text)`, after which the child exits 1: the runtime reaps it and
//! fails with the text. Anything else, an unknown tag included, is a
//! protocol error: the runtime kills and reaps the child.

mod channel;
mod error;
mod msg;
mod serve;
#[cfg(test)]
mod tests;

pub use channel::{pair, InitEnd, RuntimeEnd};
pub use error::{Peer, SyncError};
pub use msg::{FromInit, Kind, ToInit};
pub use serve::{release, until_exec, until_ready, until_reborn, Host};
