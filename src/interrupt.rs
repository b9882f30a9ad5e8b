//! Ctrl-C (SIGINT) and SIGTERM during a run (SPEC §7): the first stops the work — images not yet started are
//! not verified, those in flight finish within their `--timeout` — so the report and failed list of what was
//! decided can be written, marked incomplete, with exit status 130. A second signal ends the process at once
//! (the handlers reset themselves), for a run stuck in one long pass.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // async-signal-safe: one atomic store
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Installs the handlers for SIGINT and SIGTERM (once per process; later calls change nothing).
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an atomic, and SA_RESETHAND so a
        // second signal gets the default action; `sigaction` reads the struct and keeps no reference to it.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Whether a stop was asked for.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
