//! `capset(2)`: the effective, permitted and inheritable capability sets of
//! the calling thread (the bounding and ambient sets are prctls).

use std::io;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// _LINUX_CAPABILITY_VERSION_3: 64-bit sets, as two `CapData`.
const CAP_V3: u32 = 0x2008_0522;

/// Sets the calling thread's effective, permitted and inheritable sets (bit
/// N is capability N).
pub fn set(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    let hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let half = |m: u64, high: bool| if high { (m >> 32) as u32 } else { m as u32 };
    let data = [false, true].map(|high| CapData {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    // SAFETY: a version-3 header asks the kernel to read exactly two
    // `CapData` (its u32 array of _LINUX_CAPABILITY_U32S_3 = 2 entries):
    // `data` is that array, and both live on our stack for the call. With
    // pid 0 nothing is written back.
    let r = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
