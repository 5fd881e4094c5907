//! Ceilings on the memory and the time a prompt template may take while it
//! renders.
//!
//! A template can build values far larger than the text it writes
//! (`{% set a = a ~ a %}` doubles a string each time), and one operation on
//! large values can run for hours within minijinja's fuel (which counts
//! instructions, not their work). The `orchctl` executable allocates through
//! [`Ceiling`]: while [`within`] runs on a thread, what that thread allocates
//! beyond what it frees is counted, and a CPU-time timer (`ITIMER_PROF`:
//! user and system time, Linux) keeps the time. Past either limit the process prints the error
//! `within` was given (with the errors found before it), undoes what is
//! pending ([`crate::abort`]) and exits with status 1 at once: an allocator can
//! neither fail softly (a null pointer aborts the process) nor unwind.
//!
//! The timer's signal interrupts the template wherever it is. If that is
//! inside the system allocator, the exit waits until the allocator returns
//! (the allocator is not reentrant); anywhere else the handler exits itself.
//! A template runs only minijinja's code over the model, which it reads and
//! never changes, and holds no lock the exit needs.
//!
//! Without [`Ceiling`] as the global allocator (the library's tests, the
//! fuzz target), [`within`] only runs its closure. `within` is meant for one
//! thread at a time (the timer is the process's).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering, compiler_fence};
use std::time::Duration;

/// What one prompt template may allocate while it renders.
pub const PROMPT_BYTES: usize = 64 << 20;
/// How much CPU time one prompt template may take to render.
pub const PROMPT_TIME: Duration = Duration::from_secs(10);

/// Which ceiling a template went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Memory,
    Time,
}

/// The error to print for a template over a ceiling, with any found before.
pub type Describe<'a> = dyn Fn(Exceeded) -> String + Sync + 'a;
/// A pointer to a reference to the closure (a thin pointer, so that it fits
/// an atomic), on the stack of the `within` that set it.
type DescribePtr = *mut &'static Describe<'static>;

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
    /// (Atomics, here and below, because the timer's signal handler reads
    /// and writes them: on the same thread, so `Relaxed` suffices.)
    static LEFT: AtomicUsize = const { AtomicUsize::new(usize::MAX) };
    /// What [`within`] was given to describe the error, while it runs.
    static DESCRIBE: AtomicPtr<&'static Describe<'static>> = const { AtomicPtr::new(std::ptr::null_mut()) };
    /// Whether this thread is inside the system allocator (while armed).
    static IN_SYSTEM: AtomicBool = const { AtomicBool::new(false) };
    /// Whether the time ran out while this thread was inside the system
    /// allocator: the exit happens as it returns.
    static TIMED_OUT: AtomicBool = const { AtomicBool::new(false) };
}

fn describe() -> Option<DescribePtr> {
    let ptr = DESCRIBE.with(|v| v.load(Ordering::Relaxed));
    (!ptr.is_null()).then_some(ptr)
}

fn set_describe(ptr: Option<DescribePtr>) {
    DESCRIBE.with(|v| v.store(ptr.unwrap_or(std::ptr::null_mut()), Ordering::Relaxed));
}

fn left() -> usize {
    LEFT.with(|v| v.load(Ordering::Relaxed))
}

fn set_left(bytes: usize) {
    LEFT.with(|v| v.store(bytes, Ordering::Relaxed));
}

fn flag(key: &'static std::thread::LocalKey<AtomicBool>) -> bool {
    key.with(|v| v.load(Ordering::Relaxed))
}

fn set_flag(key: &'static std::thread::LocalKey<AtomicBool>, on: bool) {
    key.with(|v| v.store(on, Ordering::Relaxed));
}

/// The thread being timed (its Linux thread id), 0 if none.
static TIMED: AtomicI32 = AtomicI32::new(0);

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
        system(|| unsafe { System.alloc(layout) })
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: the caller's contract, passed on.
        system(|| unsafe { System.alloc_zeroed(layout) })
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        // SAFETY: the caller's contract, passed on.
        system(|| unsafe { System.dealloc(ptr, layout) });
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            refund(layout.size() - new_size);
        }
        // SAFETY: the caller's contract, passed on.
        system(|| unsafe { System.realloc(ptr, layout, new_size) })
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
    let left = left();
    if left == usize::MAX {
        return;
    }
    if bytes > left {
        if let Some(describe) = describe() {
            exit_over(describe, Exceeded::Memory);
        }
        set_left(usize::MAX);
        return;
    }
    set_left(left - bytes);
}

/// Runs a call into the system allocator; while armed, marked as such for
/// the timer's signal, and followed by the exit if the time ran out inside.
#[inline]
fn system<T>(call: impl FnOnce() -> T) -> T {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return call();
    }
    set_flag(&IN_SYSTEM, true);
    compiler_fence(Ordering::SeqCst);
    let out = call();
    compiler_fence(Ordering::SeqCst);
    set_flag(&IN_SYSTEM, false);
    compiler_fence(Ordering::SeqCst);
    if flag(&TIMED_OUT) {
        out_of_time();
    }
    out
}

#[cold]
fn out_of_time() {
    set_flag(&TIMED_OUT, false);
    if let Some(describe) = describe() {
        exit_over(describe, Exceeded::Time);
    }
}

#[inline]
fn refund(bytes: usize) {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let left = left();
    if left != usize::MAX {
        // Freeing what was allocated before `within` may raise the count
        // above the limit; never to `usize::MAX`, which means "no limit".
        set_left(left.saturating_add(bytes).min(usize::MAX - 1));
    }
}

/// Prints the error, undoes what is pending and exits with status 1. Only
/// the first caller gets past `EXITING`; another thread arriving meanwhile
/// waits for the first to end the process.
#[cold]
fn exit_over(describe: DescribePtr, what: Exceeded) -> ! {
    // Allocations are unlimited again on this thread, for what follows.
    set_left(usize::MAX);
    timer::set(Duration::ZERO);
    if EXITING.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    // SAFETY: `describe` is alive: this thread is inside `within`. A panic
    // must not unwind out of the allocator or the signal handler.
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        (**describe)(what)
    }))
    .unwrap_or_default();
    let text = text.strip_suffix('\n').unwrap_or(&text);
    crate::abort::say(text);
    // After the error: an undo may say what it did.
    crate::abort::undo_all();
    // SAFETY: ends the process at once, without destructors or exit handlers:
    // this thread is in the middle of a template.
    unsafe { libc::_exit(1) }
}

/// The CPU-time timer and its signal (Linux; elsewhere templates have no
/// time limit).
#[cfg(target_os = "linux")]
mod timer {
    use super::{
        EXITING, Exceeded, IN_SYSTEM, TIMED, TIMED_OUT, describe, exit_over, flag, set_flag,
    };
    use std::sync::Once;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    static HANDLER: Once = Once::new();

    /// This thread's id.
    pub(super) fn thread() -> i32 {
        // SAFETY: no arguments, no memory.
        unsafe { libc::gettid() }
    }

    /// Sets the timer to `after` of CPU time (zero: off); returns what was
    /// left of it.
    pub(super) fn set(after: Duration) -> Duration {
        HANDLER.call_once(|| {
            // SAFETY: a zeroed `sigaction` is valid; the handler is an
            // `extern "C" fn(c_int)`, as `sa_sigaction` without SA_SIGINFO.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&raw mut action.sa_mask);
                libc::sigaction(libc::SIGPROF, &raw const action, std::ptr::null_mut());
            }
        });
        let value = libc::timeval {
            tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_usec: libc::suseconds_t::from(after.subsec_micros()),
        };
        let new = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: value,
        };
        // SAFETY: a zeroed `itimerval` is valid; both pointers are to locals.
        let mut old: libc::itimerval = unsafe { std::mem::zeroed() };
        unsafe { libc::setitimer(libc::ITIMER_PROF, &raw const new, &raw mut old) };
        Duration::from_secs(u64::try_from(old.it_value.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(old.it_value.tv_usec).unwrap_or(0))
    }

    /// The time ran out: exit, now or as the system allocator returns.
    extern "C" fn on_signal(_: libc::c_int) {
        // SAFETY: this thread's errno, put back on return.
        let errno = unsafe { *libc::__errno_location() };
        handle();
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
    }

    fn handle() {
        if EXITING.load(Ordering::SeqCst) {
            return;
        }
        let Some(describe) = describe() else {
            // Another thread took the signal: pass it on to the one timed.
            let timed = TIMED.load(Ordering::SeqCst);
            if timed != 0 && timed != thread() {
                // SAFETY: tgkill is async-signal-safe; a thread that has
                // ended meanwhile makes it fail harmlessly.
                unsafe {
                    libc::syscall(libc::SYS_tgkill, libc::getpid(), timed, libc::SIGPROF);
                }
            }
            return;
        };
        if flag(&IN_SYSTEM) {
            set_flag(&TIMED_OUT, true);
            return;
        }
        exit_over(describe, Exceeded::Time);
    }
}

#[cfg(not(target_os = "linux"))]
mod timer {
    use std::time::Duration;

    pub(super) fn thread() -> i32 {
        0
    }

    pub(super) fn set(_: Duration) -> Duration {
        Duration::ZERO
    }
}

/// Runs `f`, the rendering of one prompt template, with this thread allowed
/// `bytes` of allocation beyond what it frees and `time` of CPU time; past
/// either, the process prints `describe(which)`, undoes what is pending and
/// exits with status 1 (only where [`Ceiling`] is the global allocator).
pub fn within<R>(
    bytes: usize,
    time: Duration,
    describe: &Describe<'_>,
    f: impl FnOnce() -> R,
) -> R {
    /// Lifts the ceilings, even if `f` panics, giving an enclosing `within`
    /// its own back (less what this one kept).
    struct Lift {
        limit: usize,
        left: usize,
        describe: Option<DescribePtr>,
        timer: Duration,
        timed: i32,
    }
    impl Drop for Lift {
        fn drop(&mut self) {
            timer::set(self.timer);
            TIMED.store(self.timed, Ordering::SeqCst);
            let inner = left();
            set_left(if self.left == usize::MAX {
                usize::MAX
            } else if inner <= self.limit {
                self.left.saturating_sub(self.limit - inner)
            } else {
                self.left
                    .saturating_add(inner - self.limit)
                    .min(usize::MAX - 1)
            });
            set_describe(self.describe);
            ARMED.fetch_sub(1, Ordering::Relaxed);
        }
    }
    if !INSTALLED.load(Ordering::Relaxed) {
        return f();
    }
    // SAFETY: only the lifetime is erased; the reference is used by this
    // thread while `within` runs (the allocator, the timer's signal), and
    // `Lift`, dropped before it, takes the pointer to it away.
    let mut reference =
        unsafe { std::mem::transmute::<&Describe<'_>, &'static Describe<'static>>(describe) };
    let ptr: DescribePtr = &raw mut reference;
    let limit = bytes.min(usize::MAX - 1);
    let mut lift = Lift {
        limit,
        left: left(),
        describe: self::describe(),
        timer: Duration::ZERO,
        timed: TIMED.load(Ordering::SeqCst),
    };
    ARMED.fetch_add(1, Ordering::Relaxed);
    set_describe(Some(ptr));
    set_left(limit);
    TIMED.store(timer::thread(), Ordering::SeqCst);
    lift.timer = timer::set(time);
    f()
}
