//! Child processes for the root-only tests, forked from the multi-threaded
//! test harness.
//!
//! POSIX lets a child forked from a multi-threaded process call only
//! async-signal-safe functions until it execs or exits: another harness
//! thread may have held the allocator's or stdio's lock at the fork, and it
//! is not there to release it. So a child's whole life is in this module: a
//! fixed `Program` of raw syscalls (read, write, open, close, fork, mmap,
//! pause, _exit), with nothing allocated and nothing from the rest of the
//! crate. That is what makes `fork_child` safe to call.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// What a child does once it has joined its cgroups and been told to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// Forks 40 times (the grandchildren pause), counts successes and
    /// EAGAIN, tries to open /dev/null and /dev/zero, reports the four
    /// numbers and pauses until killed.
    ForkBomb,
    /// Maps and touches up to 64 MiB, 1 MiB at a time; reports 0 (or 2 if a
    /// mapping failed) only if it survives, and exits with that code.
    MemoryHog,
    /// Tries to open /dev/null and /dev/zero, reports both results (0 or
    /// errno) and pauses until killed.
    OpenDevices,
}

/// Forks a child that writes "0" to each of `join` (cgroup `tasks` or
/// `cgroup.procs` files: it moves itself into those cgroups; exit code 99 if
/// it cannot), reports a 0 on `res`, waits for one byte on `go`, then runs
/// `program`, reporting native-endian i32s on `res`. Returns its pid.
pub fn fork_child(
    join: &[BorrowedFd],
    go: BorrowedFd,
    res: BorrowedFd,
    program: Program,
) -> io::Result<i32> {
    // SAFETY: the child runs only `child_main`, which makes only
    // async-signal-safe syscalls, allocates nothing and never returns (it
    // ends in _exit), so no lock or half-changed state of another harness
    // thread is ever touched in it; the fds it uses are borrowed for the
    // duration of this call, hence open at the fork.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => child_main(join, go.as_raw_fd(), res.as_raw_fd(), program),
        pid => Ok(pid),
    }
}

fn child_main(join: &[BorrowedFd], go: RawFd, res: RawFd, program: Program) -> ! {
    for fd in join {
        // SAFETY: writes one byte from a static buffer; `fd` is open.
        if unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) } != 1 {
            exit(99);
        }
    }
    report(res, &[0]);
    let mut b = [0u8; 1];
    // SAFETY: reads at most one byte into a live one-byte buffer.
    unsafe { libc::read(go, b.as_mut_ptr().cast(), 1) };
    match program {
        Program::ForkBomb => fork_bomb(res),
        Program::MemoryHog => exit(memory_hog(res)),
        Program::OpenDevices => {
            report(res, &[try_open(c"/dev/null"), try_open(c"/dev/zero")]);
            pause_forever()
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer and ends the process without running
    // the harness's exit path.
    unsafe { libc::_exit(code) }
}

fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}

fn report(fd: RawFd, vals: &[i32]) {
    // SAFETY: the kernel reads exactly the bytes of `vals`, a live slice.
    unsafe { libc::write(fd, vals.as_ptr().cast(), std::mem::size_of_val(vals)) };
}

/// 0 if `p` opens, else the errno.
fn try_open(p: &CStr) -> i32 {
    // SAFETY: `p` is NUL-terminated and live for the call.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return errno();
    }
    // SAFETY: `fd` was just opened here and nothing else refers to it.
    unsafe { libc::close(fd) };
    0
}

fn pause_forever() -> ! {
    loop {
        // SAFETY: pause has no arguments.
        unsafe { libc::pause() };
    }
}

fn fork_bomb(res: RawFd) -> ! {
    let (mut ok, mut eagain) = (0, 0);
    for _ in 0..40 {
        // SAFETY: this child is single-threaded (fork copies only the
        // calling thread), and the grandchild only pauses.
        match unsafe { libc::fork() } {
            0 => pause_forever(),
            p if p > 0 => ok += 1,
            _ if errno() == libc::EAGAIN => eagain += 1,
            _ => {}
        }
    }
    report(
        res,
        &[ok, eagain, try_open(c"/dev/null"), try_open(c"/dev/zero")],
    );
    pause_forever()
}

fn memory_hog(res: RawFd) -> i32 {
    for _ in 0..64 {
        // SAFETY: a new anonymous private mapping; no existing memory is
        // involved.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                1 << 20,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            report(res, &[2]);
            return 2;
        }
        // SAFETY: `p` is a fresh writable mapping of 1 MiB that only this
        // loop refers to.
        unsafe { std::ptr::write_bytes(p.cast::<u8>(), 1, 1 << 20) };
    }
    report(res, &[0]);
    0
}
