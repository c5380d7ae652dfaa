//! `bpf(2)` for cgroup device programs (BPF_PROG_TYPE_CGROUP_DEVICE): load,
//! attach, query, detach. Only what the cgroup v2 device controller needs; no
//! libbpf.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::check;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
pub const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` attach type.
pub const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`.
pub const F_ALLOW_MULTI: u32 = 2;

/// One eBPF instruction (`struct bpf_insn`); `regs` packs dst (low nibble)
/// and src (high nibble).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf(cmd, attr, size_of::<T>())`.
///
/// # Safety
/// `T` must be the `#[repr(C)]` layout of `union bpf_attr`'s member for
/// `cmd` (a prefix of it will do: the kernel zero-extends), and every address
/// stored in `attr` must point to memory that is valid, for the duration of
/// the call, for what the kernel does with it under `cmd` (reads
/// instructions and a license string, writes a log or a list of ids of the
/// length given next to it).
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller's contract above; `attr` itself is a live, writable
    // `T` of the size we pass, and the kernel touches no more of it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    check(ret)
}

/// Loads a cgroup device program. On a verifier rejection the error carries
/// the verifier log.
pub fn prog_load_cgroup_device(insns: &[BpfInsn], license: &str) -> io::Result<OwnedFd> {
    let lic =
        std::ffi::CString::new(license).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut attr = ProgLoadAttr {
        prog_type: PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        insns: insns.as_ptr() as u64,
        license: lic.as_ptr() as u64,
        ..ProgLoadAttr::default()
    };
    attr.prog_name[..6].copy_from_slice(b"berth\0");
    // SAFETY: a ProgLoadAttr is the BPF_PROG_LOAD layout; `insns` and
    // `license` point into `insns` (insn_cnt entries) and `lic`, both alive
    // until this function returns; log_buf is 0 (no log).
    match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
        // SAFETY: a non-negative return of BPF_PROG_LOAD is a new fd the
        // kernel just installed for us; nothing else refers to it.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EACCES)) => {
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            // SAFETY: as above, and `log_buf` now points into `log`, of
            // `log_size` writable bytes, alive until the end of this arm.
            let _ = unsafe { bpf(BPF_PROG_LOAD, &mut attr) }.map(|fd| {
                // SAFETY: a new fd, as above; we only close it.
                drop(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
            });
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            Err(io::Error::new(e.kind(), format!("{e}; verifier: {text}")))
        }
        Err(e) => Err(e),
    }
}

/// `BPF_PROG_ATTACH` of `prog` to the cgroup directory `cgroup`.
pub fn prog_attach(
    cgroup: BorrowedFd,
    prog: BorrowedFd,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        replace_bpf_fd: 0,
    };
    // SAFETY: an AttachAttr is the BPF_PROG_ATTACH layout; it holds fds and
    // flags, no addresses.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(|_| ())
}

/// `BPF_PROG_DETACH` of `prog` from the cgroup directory `cgroup`.
pub fn prog_detach(cgroup: BorrowedFd, prog: BorrowedFd, attach_type: u32) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..AttachAttr::default()
    };
    // SAFETY: an AttachAttr is the BPF_PROG_DETACH layout; it holds fds, no
    // addresses.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(|_| ())
}

/// The ids of the programs attached directly to `cgroup` for `attach_type`.
pub fn prog_query(cgroup: BorrowedFd, attach_type: u32) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..QueryAttr::default()
    };
    // SAFETY: a QueryAttr is the BPF_PROG_QUERY layout; `prog_ids` points
    // into `ids`, of `prog_cnt` writable u32s, alive for the call (the kernel
    // writes at most that many and fails with ENOSPC if there are more).
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// An fd for the loaded program `id`.
pub fn prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..GetFdAttr::default()
    };
    // SAFETY: a GetFdAttr is the BPF_PROG_GET_FD_BY_ID layout; it holds
    // numbers only.
    let fd = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) }?;
    // SAFETY: a non-negative return of BPF_PROG_GET_FD_BY_ID is a new fd the
    // kernel just installed for us; nothing else refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
