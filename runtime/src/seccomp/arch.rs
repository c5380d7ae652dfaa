//! Architectures a filter can dispatch on, their AUDIT_ARCH values and
//! syscall tables.

use super::tables;

/// `__X32_SYSCALL_BIT`: x32 syscalls arrive as AUDIT_ARCH_X86_64 with this bit set.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;

/// An ABI berth has a syscall table for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    X86,
    X32,
    Aarch64,
}

/// What an OCI `SCMP_ARCH_*` string means to berth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchName {
    Supported(Arch),
    /// Valid in the runtime-spec, but berth has no syscall table for it.
    Unsupported,
    /// Not a runtime-spec architecture at all.
    Unknown,
}

/// The spec's architectures berth cannot build rules for.
const UNSUPPORTED: &[&str] = &[
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64];

    /// The architecture berth itself runs on: it is always part of a filter.
    pub const fn native() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    pub fn from_scmp(name: &str) -> ArchName {
        match name {
            "SCMP_ARCH_X86_64" => ArchName::Supported(Arch::X86_64),
            "SCMP_ARCH_X86" => ArchName::Supported(Arch::X86),
            "SCMP_ARCH_X32" => ArchName::Supported(Arch::X32),
            "SCMP_ARCH_AARCH64" => ArchName::Supported(Arch::Aarch64),
            "SCMP_ARCH_NATIVE" => ArchName::Supported(Arch::native()),
            _ if UNSUPPORTED.contains(&name) => ArchName::Unsupported,
            _ => ArchName::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "x86",
            Arch::X32 => "x32",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// `seccomp_data.arch` for this ABI (x32 shares x86_64's value).
    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => AUDIT_ARCH_X86_64,
            Arch::X86 => AUDIT_ARCH_I386,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    /// Name → `seccomp_data.nr` table, sorted by name.
    pub fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => tables::x86_64(),
            Arch::X86 => tables::x86(),
            Arch::X32 => tables::x32(),
            Arch::Aarch64 => tables::aarch64(),
        }
    }

    /// The syscall number `name` has on this ABI, if the ABI has it.
    pub fn syscall(self, name: &str) -> Option<u32> {
        let table = self.table();
        table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| table[i].1)
    }
}
