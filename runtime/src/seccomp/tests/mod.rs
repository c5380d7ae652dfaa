//! Proof of the compiler: a cBPF interpreter runs compiled programs and an
//! independent reference evaluator says what the profile means; they must
//! agree on every syscall number of every architecture.

mod cases;
mod exhaustive;
mod fixtures;
mod interp;
mod kernel;
mod notify;
mod reference;
mod tables;
