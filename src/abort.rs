//! Work to undo if the process has to exit at once, without unwinding: when
//! a prompt template goes over its memory or time ceiling ([`crate::memory`]).
//!
//! What a command has done so far that an error would undo as it returns
//! (a staging directory, a scratch checkout, spec files `set-image` edited)
//! registers an undo here for as long as it is pending.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

type Action = Box<dyn FnOnce() + Send>;

/// Pending undos by id.
struct Registry(Mutex<Vec<(u64, Action)>>);

impl Registry {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    fn pending(&self) -> MutexGuard<'_, Vec<(u64, Action)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, action: Action) -> u64 {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.pending().push((id, action));
        id
    }

    fn remove(&self, id: u64) {
        self.pending().retain(|(i, _)| *i != id);
    }

    /// Run the pending undos, the latest first; one that panics does not
    /// keep the others from running.
    fn undo_all(&self) {
        let actions = std::mem::take(&mut *self.pending());
        for (_, action) in actions.into_iter().rev() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(action));
        }
    }
}

static PENDING: Registry = Registry::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// An undo, pending until this is dropped (then never run).
#[derive(Debug)]
#[must_use = "the undo is dropped at once"]
pub struct Undo(u64);

impl Drop for Undo {
    fn drop(&mut self) {
        PENDING.remove(self.0);
    }
}

/// Run `action` if the process exits at once before the returned [`Undo`]
/// is dropped.
pub fn on_abort(action: impl FnOnce() + Send + 'static) -> Undo {
    Undo(PENDING.add(Box::new(action)))
}

/// Write `text` and a newline to standard error, for an undo to say what it
/// did: straight to the descriptor, since the code the process stopped in
/// may hold the lock of `std::io::stderr()`.
pub fn say(text: &str) {
    let line = format!("{text}\n");
    let mut rest = line.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writes initialised bytes to the standard error descriptor.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n.unsigned_abs()..];
    }
}

/// Run the pending undos, the latest first.
pub(crate) fn undo_all() {
    PENDING.undo_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn pending_undos_run_latest_first_past_a_panic_and_removed_ones_never() {
        let registry = Registry::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let push = |n: u32| -> Action {
            let log = Arc::clone(&log);
            Box::new(move || log.lock().unwrap().push(n))
        };
        let one = registry.add(push(1));
        let two = registry.add(push(2));
        let three = registry.add(push(3));
        assert!(one < two && two < three);
        registry.add(Box::new(|| panic!("an undo that fails")));
        registry.remove(two);
        registry.undo_all();
        assert_eq!(*log.lock().unwrap(), [3, 1]);
        // Each runs once.
        registry.undo_all();
        assert_eq!(*log.lock().unwrap(), [3, 1]);
    }
}
