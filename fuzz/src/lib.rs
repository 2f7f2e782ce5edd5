//! Shared code of the fuzz targets under `fuzz_targets/` (see `fuzz/README.md`).
//!
//! - [`frame`]: one client frame through the decoder and the server's sub-decoding;
//! - [`session`]: a sequence of steps from several connections driven through a real
//!   board actor on a real SQLite store;
//! - [`corrupt`]: a stored board whose rows are damaged, loaded as the server would;
//! - [`validated`]: what the validating reader accepts, decoded and applied by yrs.

pub mod corrupt;
pub mod frame;
pub mod session;
pub mod validated;

use std::sync::{Arc, Once, OnceLock};

use commonboard_server::store::sqlite::SqliteStore;

/// One SQLite store in a temporary directory, shared by every input of a process: each
/// input works on boards of its own, so inputs do not see each other.
pub fn store() -> &'static (tempfile::TempDir, Arc<SqliteStore>) {
    static STORE: OnceLock<(tempfile::TempDir, Arc<SqliteStore>)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("commonboard-fuzz").tempdir().expect("a temporary directory");
        let store = SqliteStore::open(dir.path()).expect("a fresh store opens");
        (dir, Arc::new(store))
    })
}

/// A current-thread runtime with timers, shared by every input of a process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime"))
}

/// A board id no other input of this process uses.
pub fn fresh_board_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Prints an input as the target understood it, when `COMMONBOARD_FUZZ_DEBUG` is set
/// (for reading a crash: `COMMONBOARD_FUZZ_DEBUG=1 cargo fuzz run TARGET ARTIFACT`).
pub fn debug(input: &impl std::fmt::Debug) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("COMMONBOARD_FUZZ_DEBUG").is_some()) {
        eprintln!("{input:#?}");
    }
}

/// Runs one input. libFuzzer's panic hook aborts on every panic, before any
/// `catch_unwind` sees it; this hook lets a panic unwind only inside our deliberate
/// containment of yrs (`commonboard_protocol::frame::contain_yrs`, documented there),
/// so that it reaches that containment. Any other panic aborts as before, and one that
/// unwinds out of an input (from a board task, through its join handle) aborts here.
pub fn guarded(run: impl FnOnce()) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !commonboard_protocol::frame::containing_yrs() {
                abort(info);
            }
        }));
    });
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
        eprintln!("a panic escaped its containment");
        std::process::abort();
    }
}
