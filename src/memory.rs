//! Ceilings on the memory and the time a prompt template may take while it
//! renders.
//!
//! A template can build values far larger than the text it writes
//! (`{% set a = a ~ a %}` doubles a string each time), and one operation on
//! large values can run for hours within minijinja's fuel (which counts
//! instructions, not their work). The `orchctl` executable allocates through
//! [`Ceiling`]: while [`within`] runs on a thread, what that thread allocates
//! beyond what it frees is counted, and a watchdog thread keeps the time.
//! Past either limit the process prints the error `within` was given (with
//! the errors found before it), undoes what is pending ([`crate::abort`]) and
//! exits with status 1 at once: an allocator can neither fail softly (a null
//! pointer aborts the process) nor unwind.
//!
//! Without [`Ceiling`] as the global allocator (the library's tests, the
//! fuzz target), [`within`] only runs its closure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What one prompt template may allocate while it renders.
pub const PROMPT_BYTES: usize = 64 << 20;
/// How long one prompt template may take to render.
pub const PROMPT_TIME: Duration = Duration::from_secs(10);

/// Which ceiling a template went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Memory,
    Time,
}

/// The error to print for a template over a ceiling, with any found before.
pub type Describe<'a> = dyn Fn(Exceeded) -> String + Sync + 'a;
type DescribePtr = *const Describe<'static>;

/// Whether [`Ceiling`] is the global allocator: set by its first call.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// How many threads are inside [`within`]: when none is, an allocation costs
/// one load more than the system allocator's.
static ARMED: AtomicUsize = AtomicUsize::new(0);
/// Whether the error printed at a ceiling is in colour ([`set_color`]).
static COLOR: AtomicBool = AtomicBool::new(false);
/// Set by whichever ceiling ends the process first.
static EXITING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Bytes this thread may still allocate; `usize::MAX` outside [`within`].
    static LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// What [`within`] was given to describe the error, while it runs.
    static DESCRIBE: Cell<Option<DescribePtr>> = const { Cell::new(None) };
}

/// The template the watchdog times: one at a time (prompts render on one
/// thread).
struct Watch {
    deadline: Instant,
    describe: DescribePtr,
}

// SAFETY: the closure behind `describe` is `Sync`, and `within` does not
// return (so it stays alive) until it has removed the watch, under the lock
// the watchdog holds while it calls the closure.
unsafe impl Send for Watch {}

static WATCH: Mutex<Option<Watch>> = Mutex::new(None);
static WAKE: Condvar = Condvar::new();
/// Whether the watchdog thread runs, and whether it waits with no deadline.
static WATCHDOG: Mutex<Option<bool>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Print the error at a ceiling in colour, or not (as the command line says).
pub fn set_color(on: bool) {
    COLOR.store(on, Ordering::Relaxed);
}

/// Whether the error at a ceiling is to be printed in colour.
#[must_use]
pub fn color() -> bool {
    COLOR.load(Ordering::Relaxed)
}

/// The system allocator, with the ceiling [`within`] sets.
pub struct Ceiling;

// Each method is kept out of line: inlined at every allocation in the
// program, the bookkeeping made the executable 1.5 MB larger and a reference
// render touch 1 MB more of it.
//
// SAFETY: every call is passed on to `System` unchanged; the bookkeeping
// around it touches only atomics and const-initialised thread-locals without
// destructors, so it never allocates and never unwinds, until a limit is
// passed and the process exits.
unsafe impl GlobalAlloc for Ceiling {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            refund(layout.size() - new_size);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[inline]
fn charge(bytes: usize) {
    if ARMED.load(Ordering::Relaxed) == 0 {
        if !INSTALLED.load(Ordering::Relaxed) {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        return;
    }
    let left = LEFT.get();
    if left == usize::MAX {
        return;
    }
    if bytes > left {
        // Allocations are unlimited again on this thread, for what follows.
        LEFT.set(usize::MAX);
        if let Some(describe) = DESCRIBE.get() {
            exit_over(describe, Exceeded::Memory);
        }
    }
    LEFT.set(left - bytes);
}

#[inline]
fn refund(bytes: usize) {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let left = LEFT.get();
    if left != usize::MAX {
        // Freeing what was allocated before `within` may raise the count
        // above the limit; never to `usize::MAX`, which means "no limit".
        LEFT.set(left.saturating_add(bytes).min(usize::MAX - 1));
    }
}

/// Prints the error, undoes what is pending and exits with status 1. Only
/// the first caller gets past `EXITING`; a second (the other ceiling, at the
/// same moment) waits for the first to end the process.
#[cold]
fn exit_over(describe: DescribePtr, what: Exceeded) -> ! {
    if EXITING.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    // SAFETY: `describe` is alive: for a memory trip this thread is inside
    // `within`; for a time trip the watchdog holds the lock that keeps
    // `within` from returning. A panic must not unwind out of the allocator.
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        (*describe)(what)
    }))
    .unwrap_or_default();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writes initialised bytes to the standard error descriptor.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n.unsigned_abs()..];
    }
    // After the error: an undo may say what it did.
    let _ = std::panic::catch_unwind(crate::abort::undo_all);
    // SAFETY: ends the process at once, without destructors or exit handlers:
    // a thread is in the middle of a template, perhaps inside the allocator.
    unsafe { libc::_exit(1) }
}

/// Times the template in [`WATCH`], from a thread of its own.
fn watchdog() {
    let mut watch = lock(&WATCH);
    loop {
        let next = watch.as_ref().map(|w| (w.deadline, w.describe));
        match next {
            None => {
                *lock(&WATCHDOG) = Some(true);
                watch = WAKE.wait(watch).unwrap_or_else(PoisonError::into_inner);
            }
            Some((deadline, describe)) => {
                let now = Instant::now();
                if now >= deadline {
                    // With the lock held: `within` cannot return meanwhile.
                    exit_over(describe, Exceeded::Time);
                }
                watch = WAKE
                    .wait_timeout(watch, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }
}

/// Starts the watchdog the first time, and wakes it if it waits with no
/// deadline; false if it cannot run.
fn wake_watchdog() -> bool {
    let mut state = lock(&WATCHDOG);
    match *state {
        Some(true) => {
            *state = Some(false);
            WAKE.notify_one();
            true
        }
        Some(false) => true,
        None => {
            let started = std::thread::Builder::new()
                .name("orchctl-watchdog".into())
                .spawn(watchdog)
                .is_ok();
            *state = Some(false);
            started
        }
    }
}

/// Runs `f`, the rendering of one prompt template, with this thread allowed
/// `bytes` of allocation beyond what it frees and `time` to finish; past
/// either, the process prints `describe(which)`, undoes what is pending and
/// exits with status 1 (only where [`Ceiling`] is the global allocator).
pub fn within<R>(
    bytes: usize,
    time: Duration,
    describe: &Describe<'_>,
    f: impl FnOnce() -> R,
) -> R {
    /// Lifts the ceilings, even if `f` panics.
    struct Lift {
        left: usize,
        describe: Option<DescribePtr>,
        watched: bool,
    }
    impl Drop for Lift {
        fn drop(&mut self) {
            if self.watched {
                // Waits while the watchdog is describing a time trip.
                *lock(&WATCH) = None;
            }
            LEFT.set(self.left);
            DESCRIBE.set(self.describe);
            ARMED.fetch_sub(1, Ordering::Relaxed);
        }
    }
    if !INSTALLED.load(Ordering::Relaxed) {
        return f();
    }
    let ptr: *const Describe<'_> = describe;
    // SAFETY: only the lifetime is erased; the pointer is used while `within`
    // runs (memory) or while it cannot return (time), never after.
    let ptr: DescribePtr = unsafe { std::mem::transmute(ptr) };
    let mut lift = Lift {
        left: LEFT.get(),
        describe: DESCRIBE.get(),
        watched: false,
    };
    ARMED.fetch_add(1, Ordering::Relaxed);
    DESCRIBE.set(Some(ptr));
    LEFT.set(bytes.min(usize::MAX - 1));
    {
        let mut watch = lock(&WATCH);
        if watch.is_none() {
            *watch = Some(Watch {
                deadline: Instant::now() + time,
                describe: ptr,
            });
            lift.watched = true;
        }
    }
    if lift.watched && !wake_watchdog() {
        *lock(&WATCH) = None;
        lift.watched = false;
    }
    f()
}
