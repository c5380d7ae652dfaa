//! The parsers and pure planning steps that the cargo-fuzz targets
//! (runtime/fuzz) drive. Not an API: hidden from the docs, exactly the
//! items the targets call, under the paths of the modules they live in
//! (`berth::fuzzing::spec::parse` is `crate::spec::parse`).

pub mod cli {
    pub use crate::cli::parse_only;
}

pub mod spec {
    pub use crate::spec::{parse, validate};
}

pub mod state {
    pub use crate::state::{parse_saved, validate_id, OciState, Status, OCI_VERSION};
}

pub mod hooks {
    pub use crate::hooks::{all, state_json};
}

pub mod tty {
    pub use crate::tty::mode;
}

pub mod capabilities {
    pub use crate::capabilities::CapSets;
}

pub mod namespaces {
    pub use crate::namespaces::Plan;
}

pub mod rootfs {
    pub use crate::rootfs::propagation_flag;

    pub mod mount {
        pub use crate::rootfs::mount::MountPlan;
    }

    pub mod devices {
        pub use crate::rootfs::devices::plan;
    }
}

pub mod cgroups {
    pub use crate::cgroups::CgroupsPath;

    pub mod convert {
        pub use crate::cgroups::convert::{
            blkio_weight_to_io_weight, check_page_size, cpu_max, shares_to_weight, swap_to_v2,
            v2_limit,
        };
    }

    pub mod devices {
        pub use crate::cgroups::devices::{
            from_spec, runc_default_rules, with_defaults, DeviceState, Rule,
        };
    }

    pub mod ebpf {
        pub use crate::cgroups::ebpf::compile;
    }

    pub mod v2 {
        pub use crate::cgroups::v2::unified_controller;
    }
}

pub mod seccomp {
    pub use crate::seccomp::{cache_key, compile, compile_json, Arch, Program, SeccompError};
}
