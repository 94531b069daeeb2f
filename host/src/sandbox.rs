//! The seccomp filter of a process that serves one guest context (a render-server worker, a
//! vtest client process), installed once the Vulkan driver is loaded and initialised: from
//! then on the process runs the guest's commands and nothing else, so it keeps only the
//! system calls that needs. Any other call kills the process (only that one context ends).
//!
//! Three filters are stacked (the kernel takes the strictest answer of all):
//! - the allow-list ([`ALLOWED`]): everything else kills the process;
//! - file writes the driver may try (its on-disk shader cache) fail with EACCES instead:
//!   guest shaders must not persist on the host or reach another guest, and the driver copes
//!   with a cache it cannot write;
//! - `clone3` fails with ENOSYS, so the C library falls back to `clone`, whose flags a filter
//!   can see: only threads (CLONE_THREAD) may be made, never processes.
//!
//! `VENUS_RS_SECCOMP=log` logs calls outside the allow-list (to the kernel's audit log)
//! instead of killing; `VENUS_RS_SECCOMP=off` installs nothing. `VENUS_RS_SECCOMP_PROBE=NAME`
//! makes the process serving the context called NAME try a forbidden call (`socket`) right
//! after the filter is in place: the test that shows a forbidden call ends only that process.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Every system call a context's process makes once the driver is up, and why.
pub const ALLOWED: &[(&str, i64, &str)] = &[
    // Reading and writing: the context's socket, eventfds, files the driver reads.
    ("read", libc::SYS_read, "sockets, eventfds, driver files"),
    (
        "write",
        libc::SYS_write,
        "sockets, eventfds, the log on stderr",
    ),
    (
        "pread64",
        libc::SYS_pread64,
        "the driver and loader read files",
    ),
    ("readv", libc::SYS_readv, "the C library's buffered reads"),
    (
        "writev",
        libc::SYS_writev,
        "the C library's buffered writes",
    ),
    ("recvfrom", libc::SYS_recvfrom, "the context's socket"),
    (
        "recvmsg",
        libc::SYS_recvmsg,
        "the context's socket, with descriptors",
    ),
    ("sendto", libc::SYS_sendto, "the context's socket"),
    (
        "sendmsg",
        libc::SYS_sendmsg,
        "the context's socket, with descriptors",
    ),
    (
        "shutdown",
        libc::SYS_shutdown,
        "ending the context's socket",
    ),
    (
        "getsockopt",
        libc::SYS_getsockopt,
        "checking a socket's type",
    ),
    ("ppoll", libc::SYS_ppoll, "waiting on sockets"),
    ("close", libc::SYS_close, "descriptors"),
    ("dup", libc::SYS_dup, "descriptors"),
    ("dup3", libc::SYS_dup3, "descriptors"),
    (
        "fcntl",
        libc::SYS_fcntl,
        "close-on-exec, duplicates and seals of memfds",
    ),
    ("lseek", libc::SYS_lseek, "sizes of files and memfds"),
    ("eventfd2", libc::SYS_eventfd2, "vtest SYNC_WAIT answers"),
    // Files the loader and the driver read when the guest creates an instance (manifests,
    // cpu information) and the shader cache they may try to write (refused, see above).
    (
        "openat",
        libc::SYS_openat,
        "the loader's manifests; writes are refused",
    ),
    ("newfstatat", libc::SYS_newfstatat, "file sizes and types"),
    ("fstat", libc::SYS_fstat, "file sizes and types"),
    ("statx", libc::SYS_statx, "file sizes and types"),
    (
        "readlinkat",
        libc::SYS_readlinkat,
        "the loader resolves paths",
    ),
    ("faccessat", libc::SYS_faccessat, "the loader checks files"),
    (
        "faccessat2",
        libc::SYS_faccessat2,
        "the loader checks files",
    ),
    (
        "getdents64",
        libc::SYS_getdents64,
        "the loader lists manifest folders",
    ),
    (
        "getcwd",
        libc::SYS_getcwd,
        "the loader resolves relative paths",
    ),
    ("mkdirat", libc::SYS_mkdirat, "the shader cache (refused)"),
    ("unlinkat", libc::SYS_unlinkat, "the shader cache (refused)"),
    ("renameat", libc::SYS_renameat, "the shader cache (refused)"),
    ("flock", libc::SYS_flock, "the shader cache's locks"),
    // Memory: device memory and blobs are memfds; the driver compiles shaders to machine
    // code (LLVM), which needs executable mappings.
    (
        "mmap",
        libc::SYS_mmap,
        "memory, memfd mappings, compiled shaders",
    ),
    ("munmap", libc::SYS_munmap, "memory"),
    ("mremap", libc::SYS_mremap, "memory"),
    (
        "mprotect",
        libc::SYS_mprotect,
        "compiled shaders, thread stacks",
    ),
    ("madvise", libc::SYS_madvise, "the allocator"),
    ("brk", libc::SYS_brk, "the allocator"),
    (
        "memfd_create",
        libc::SYS_memfd_create,
        "blobs and host-visible device memory",
    ),
    ("ftruncate", libc::SYS_ftruncate, "sizing memfds"),
    // Threads: rings, the ring monitor, completion, the driver's own workers.
    (
        "clone",
        libc::SYS_clone,
        "threads only (CLONE_THREAD), never processes",
    ),
    (
        "clone3",
        libc::SYS_clone3,
        "answered ENOSYS: the C library falls back to clone",
    ),
    ("futex", libc::SYS_futex, "locks and condition variables"),
    ("set_robust_list", libc::SYS_set_robust_list, "new threads"),
    ("rseq", libc::SYS_rseq, "new threads"),
    (
        "sched_yield",
        libc::SYS_sched_yield,
        "ring polling back-off",
    ),
    (
        "sched_getaffinity",
        libc::SYS_sched_getaffinity,
        "the driver sizes its thread pool",
    ),
    (
        "sched_setaffinity",
        libc::SYS_sched_setaffinity,
        "the driver pins its workers",
    ),
    (
        "sched_setscheduler",
        libc::SYS_sched_setscheduler,
        "the driver's worker threads",
    ),
    (
        "sched_getparam",
        libc::SYS_sched_getparam,
        "the driver's worker threads",
    ),
    (
        "getpriority",
        libc::SYS_getpriority,
        "ring priority (clamped)",
    ),
    (
        "setpriority",
        libc::SYS_setpriority,
        "ring priority (clamped)",
    ),
    (
        "prctl",
        libc::SYS_prctl,
        "naming threads and memory, reading the auxv",
    ),
    ("gettid", libc::SYS_gettid, "thread ids"),
    ("getpid", libc::SYS_getpid, "the log's process id"),
    ("exit", libc::SYS_exit, "ending threads"),
    ("exit_group", libc::SYS_exit_group, "ending the process"),
    // Time and signals.
    (
        "clock_gettime",
        libc::SYS_clock_gettime,
        "time (when not in the vDSO)",
    ),
    ("clock_nanosleep", libc::SYS_clock_nanosleep, "sleeps"),
    ("nanosleep", libc::SYS_nanosleep, "sleeps"),
    (
        "rt_sigprocmask",
        libc::SYS_rt_sigprocmask,
        "threads start with signals masked",
    ),
    (
        "rt_sigaction",
        libc::SYS_rt_sigaction,
        "the runtime's signal handlers",
    ),
    (
        "rt_sigreturn",
        libc::SYS_rt_sigreturn,
        "returning from a signal handler",
    ),
    (
        "sigaltstack",
        libc::SYS_sigaltstack,
        "stack overflow detection of new threads",
    ),
    ("tgkill", libc::SYS_tgkill, "abort() of this process only"),
    // What the loader and the driver ask about the system.
    ("getrandom", libc::SYS_getrandom, "hash seeds"),
    (
        "sysinfo",
        libc::SYS_sysinfo,
        "the driver's memory heap size",
    ),
    ("prlimit64", libc::SYS_prlimit64, "stack sizes"),
    ("uname", libc::SYS_uname, "the driver's system information"),
    (
        "getuid",
        libc::SYS_getuid,
        "the loader's secure environment check",
    ),
    (
        "geteuid",
        libc::SYS_geteuid,
        "the loader's secure environment check",
    ),
    (
        "getgid",
        libc::SYS_getgid,
        "the loader's secure environment check",
    ),
    (
        "getegid",
        libc::SYS_getegid,
        "the loader's secure environment check",
    ),
    #[cfg(target_arch = "x86_64")]
    ("poll", libc::SYS_poll, "waiting on sockets"),
    #[cfg(target_arch = "x86_64")]
    (
        "open",
        libc::SYS_open,
        "the loader's manifests; writes are refused",
    ),
    #[cfg(target_arch = "x86_64")]
    ("stat", libc::SYS_stat, "file sizes and types"),
    #[cfg(target_arch = "x86_64")]
    ("lstat", libc::SYS_lstat, "file sizes and types"),
    #[cfg(target_arch = "x86_64")]
    ("access", libc::SYS_access, "the loader checks files"),
    #[cfg(target_arch = "x86_64")]
    ("readlink", libc::SYS_readlink, "the loader resolves paths"),
    #[cfg(target_arch = "x86_64")]
    ("mkdir", libc::SYS_mkdir, "the shader cache (refused)"),
    #[cfg(target_arch = "x86_64")]
    ("unlink", libc::SYS_unlink, "the shader cache (refused)"),
    #[cfg(target_arch = "x86_64")]
    ("rename", libc::SYS_rename, "the shader cache (refused)"),
    #[cfg(target_arch = "x86_64")]
    (
        "arch_prctl",
        libc::SYS_arch_prctl,
        "thread-local storage of new threads",
    ),
];

/// The prctl operations allowed: naming threads and memory areas (the C library names its
/// thread stacks and heaps), reading its own auxiliary vector (LLVM's CPU detection).
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_SET_VMA: u64 = 0x5356_4d41;
const PR_GET_AUXV: u64 = 0x4155_5856;

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// What to do with calls outside the allow-list (`VENUS_RS_SECCOMP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Kill,
    Log,
    Off,
}

impl Mode {
    pub fn from_env() -> Result<Mode, String> {
        match std::env::var("VENUS_RS_SECCOMP").as_deref() {
            Err(_) | Ok("kill") | Ok("") => Ok(Mode::Kill),
            Ok("log") => Ok(Mode::Log),
            Ok("off") => Ok(Mode::Off),
            Ok(other) => Err(format!(
                "VENUS_RS_SECCOMP={other:?}: kill (the default), log or off"
            )),
        }
    }
}

type Rules = BTreeMap<i64, Vec<SeccompRule>>;

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(|e| e.to_string())
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|e| e.to_string())
}

/// A rule matching when `(arg & bits) != 0`, one rule per bit (rules of a call are OR'ed).
fn any_bit(arg: u8, bits: &[u64]) -> Result<Vec<SeccompRule>, String> {
    bits.iter()
        .map(|&bit| rule(vec![condition(arg, SeccompCmpOp::MaskedEq(bit), bit)?]))
        .collect()
}

fn allow_list() -> Result<Rules, String> {
    let mut rules = Rules::new();
    for &(_, number, _) in ALLOWED {
        rules.insert(number, Vec::new());
    }
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![condition(
            0,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )?])?],
    );
    let pid = u64::from(std::process::id());
    rules.insert(
        libc::SYS_tgkill,
        vec![rule(vec![condition(0, SeccompCmpOp::Eq, pid)?])?],
    );
    rules.insert(
        libc::SYS_prctl,
        [PR_SET_NAME, PR_GET_NAME, PR_SET_VMA, PR_GET_AUXV]
            .into_iter()
            .map(|operation| rule(vec![condition(0, SeccompCmpOp::Eq, operation)?]))
            .collect::<Result<_, _>>()?,
    );
    Ok(rules)
}

/// File writes, answered EACCES.
fn refused_writes() -> Result<Rules, String> {
    let write_flags = [
        libc::O_WRONLY as u64,
        libc::O_RDWR as u64,
        libc::O_CREAT as u64,
        libc::O_TRUNC as u64,
    ];
    let mut rules = Rules::new();
    rules.insert(libc::SYS_openat, any_bit(2, &write_flags)?);
    for number in [libc::SYS_mkdirat, libc::SYS_unlinkat, libc::SYS_renameat] {
        rules.insert(number, Vec::new());
    }
    #[cfg(target_arch = "x86_64")]
    {
        rules.insert(libc::SYS_open, any_bit(1, &write_flags)?);
        for number in [libc::SYS_mkdir, libc::SYS_unlink, libc::SYS_rename] {
            rules.insert(number, Vec::new());
        }
    }
    Ok(rules)
}

fn program(
    rules: Rules,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, String> {
    SeccompFilter::new(rules, mismatch, matched, ARCH)
        .and_then(BpfProgram::try_from)
        .map_err(|e| e.to_string())
}

/// The three filters, in the order they are installed: the allow-list last, as installing a
/// filter is itself a system call it does not allow.
pub fn programs(mode: Mode) -> Result<Vec<BpfProgram>, String> {
    let outside = match mode {
        Mode::Log => SeccompAction::Log,
        _ => SeccompAction::KillProcess,
    };
    let mut clone3 = Rules::new();
    clone3.insert(libc::SYS_clone3, Vec::new());
    Ok(vec![
        program(
            refused_writes()?,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EACCES as u32),
        )?,
        program(
            clone3,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
        )?,
        program(allow_list()?, outside, SeccompAction::Allow)?,
    ])
}

/// Installs the filters on every thread of this process (per `VENUS_RS_SECCOMP`), then runs
/// the probe if `VENUS_RS_SECCOMP_PROBE` names `context_name`.
pub fn confine(context_name: &str) -> Result<(), String> {
    let mode = Mode::from_env()?;
    if mode == Mode::Off {
        crate::log!("VENUS_RS_SECCOMP=off: no system call filter");
        return Ok(());
    }
    for program in programs(mode)? {
        seccompiler::apply_filter_all_threads(&program)
            .map_err(|e| format!("installing the seccomp filter failed: {e}"))?;
    }
    crate::log!(
        "seccomp filter installed ({} system calls allowed{})",
        ALLOWED.len(),
        if mode == Mode::Log {
            "; others are logged"
        } else {
            ""
        }
    );
    if std::env::var("VENUS_RS_SECCOMP_PROBE").is_ok_and(|name| name == context_name) {
        crate::log!("VENUS_RS_SECCOMP_PROBE: trying socket(), which the filter forbids");
        // SAFETY: socket() takes no pointers; the filter is expected to end the process here.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        crate::log!("VENUS_RS_SECCOMP_PROBE: socket() returned {fd}: the filter let it through");
    }
    Ok(())
}
