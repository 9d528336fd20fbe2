//! System helpers every proxy core and the harness share; nothing here
//! knows HTTP or any runtime.
//!
//! | module | what it holds |
//! |---|---|
//! | [`cpus`] | [`CpuSet`] parsing (`0-3,6`) and thread pinning; a thread's and waited-for children's CPU time |
//! | [`socket`] | socket settings every core uses ([`BACKLOG`], `SO_REUSEPORT` listeners and port reservation, idle checks, aborts) |
//! | [`shutdown`] | SIGTERM/SIGINT turned into a flag each runtime polls |
//! | [`machine`] | machine facts results record (the CPU model) |
//! | [`accept`] | the accept loop, generic over a runtime's accept and timer, that stops on [`Shutdown`] |

pub mod accept;
pub mod cpus;
pub mod machine;
pub mod shutdown;
pub mod socket;

pub use crate::cpus::CpuSet;
pub use crate::shutdown::Shutdown;
pub use crate::socket::BACKLOG;
