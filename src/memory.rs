//! A ceiling on the memory a prompt template may take while it renders.
//!
//! A template can build values far larger than the text it writes
//! (`{% set a = a ~ a %}` doubles a string each time), so the 1 MiB limit on a
//! prompt's text does not bound its memory. The `orchctl` executable allocates
//! through [`Ceiling`]: while [`within`] runs on a thread, what that thread
//! allocates beyond what it frees is counted, and past the limit the process
//! prints the error it was given, runs the hook set with [`on_exhausted`] and
//! exits with status 1, before the allocation is made. No output has been
//! written by then (prompts render while the model is built): the hook only
//! removes the empty staging directory a render into a new directory makes
//! first.
//!
//! Without `Ceiling` as the global allocator (the library's tests, the fuzz
//! target), [`within`] only runs its closure.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one prompt template may allocate while it renders.
pub const PROMPT_BYTES: usize = 64 << 20;

/// How many threads are inside [`within`]: when none is, an allocation costs
/// one load more than the system allocator's.
static ARMED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Bytes this thread may still allocate; `usize::MAX` outside [`within`].
    static LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// The error to print when `LEFT` runs out: a `&str` that [`within`]
    /// keeps alive while it is set.
    static MESSAGE: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// Run before the process exits over its ceiling.
static HOOK: OnceLock<fn()> = OnceLock::new();

/// Set what runs, after the error is printed, when a thread goes over its
/// ceiling and the process exits (once; later calls are ignored).
pub fn on_exhausted(hook: fn()) {
    let _ = HOOK.set(hook);
}

/// The system allocator, with the ceiling [`within`] sets.
pub struct Ceiling;

// Each method is kept out of line: inlined at every allocation in the
// program, the bookkeeping made the executable 1.5 MB larger and a reference
// render touch 1 MB more of it.
//
// SAFETY: every call is passed on to `System` unchanged; the bookkeeping
// around it touches only an atomic and two const-initialised thread-locals
// without destructors, so it never allocates and never unwinds.
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
        return;
    }
    let left = LEFT.get();
    if left == usize::MAX {
        return;
    }
    if bytes > left {
        exhausted();
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

/// Prints the error `within` was given, runs the hook and exits: an
/// allocator can neither fail softly (returning null aborts the process) nor
/// unwind.
#[cold]
fn exhausted() -> ! {
    LEFT.set(usize::MAX);
    let (ptr, len) = MESSAGE.get();
    let mut rest = if ptr.is_null() {
        &[][..]
    } else {
        // SAFETY: `within` set this from a `&str` it keeps borrowed until it
        // clears it, and this thread is still inside `within`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    };
    while !rest.is_empty() {
        // SAFETY: writes initialised bytes to the standard error descriptor.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n.unsigned_abs()..];
    }
    // Allocating is allowed again on this thread (`LEFT` is unlimited).
    if let Some(hook) = HOOK.get() {
        hook();
    }
    // SAFETY: ends the process at once, without destructors or exit handlers:
    // the thread is inside the allocator, in the middle of a template.
    unsafe { libc::_exit(1) }
}

/// Runs `f` with this thread allowed `limit` bytes of allocation beyond what
/// it frees; past that, the process prints `message` and exits with status 1
/// (only where [`Ceiling`] is the global allocator).
pub fn within<R>(limit: usize, message: &str, f: impl FnOnce() -> R) -> R {
    /// Lifts the ceiling even if `f` panics.
    struct Lift;
    impl Drop for Lift {
        fn drop(&mut self) {
            LEFT.set(usize::MAX);
            MESSAGE.set((std::ptr::null(), 0));
            ARMED.fetch_sub(1, Ordering::Relaxed);
        }
    }
    MESSAGE.set((message.as_ptr(), message.len()));
    LEFT.set(limit.min(usize::MAX - 1));
    ARMED.fetch_add(1, Ordering::Relaxed);
    let _lift = Lift;
    f()
}
