//! One value read through for a while: a setting, the template in force, the access
//! token. Every push reads several of these, so a read that finds the value fresh is a
//! shared lock, a clone and a clock read, nothing more.
//!
//! These were one-entry moka caches. moka keeps, on every read, what an eviction policy
//! needs (access-order queues, its pending-task maintenance); a single slot needs none
//! of it. In the bench's flat SQLite case moka's code was 6.0% of the request threads'
//! samples with them and 4.6% without them (what is left is the orders and the codes,
//! which do need eviction).

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::AppError;

/// A value kept until its lifetime (given by `lifetime` for each value) runs out or
/// [`Fresh::forget`] drops it. When it is missing, one caller loads it and the others
/// wait for that load, then find it kept. A load that fails keeps nothing, and the
/// callers that waited for it get its error rather than each trying in turn: with the
/// database down, a hundred waiting pushes fail after one timeout, not a hundred.
pub struct Fresh<T, E> {
    slot: RwLock<Slot<T, E>>,
    lifetime: fn(&T) -> Duration,
    /// Held by the caller loading the value.
    loading: Mutex<()>,
}

struct Slot<T, E> {
    kept: Option<(T, Instant)>,
    /// Counts [`Fresh::forget`]s: a load that began before one does not keep what it read.
    forgotten: u64,
    /// Counts loads that ended, and holds the error of the last if it failed: a caller
    /// that waited while one ended in failure gets that error.
    loads_ended: u64,
    failed: Option<E>,
}

impl<T: Clone, E: Clone> Fresh<T, E> {
    /// Keeps each value for `lifetime(&value)`.
    pub fn new(lifetime: fn(&T) -> Duration) -> Self {
        Fresh {
            slot: RwLock::new(Slot {
                kept: None,
                forgotten: 0,
                loads_ended: 0,
                failed: None,
            }),
            lifetime,
            loading: Mutex::new(()),
        }
    }

    /// The value, if one is kept and its lifetime has not run out.
    pub fn get(&self) -> Option<T> {
        match &self.slot().kept {
            Some((value, until)) if Instant::now() < *until => Some(value.clone()),
            _ => None,
        }
    }

    /// The value kept, or else the one `load()` reads, which is then kept.
    ///
    /// `load` is called only when the value is missing, and its future is boxed: the
    /// callers' futures (every push's) need not carry a query's state they rarely run.
    pub async fn get_or_load<F>(&self, load: impl FnOnce() -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        match self.get() {
            Some(value) => Ok(value),
            None => Box::pin(self.load(load)).await,
        }
    }

    async fn load<F>(&self, load: impl FnOnce() -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let ended_before = self.slot().loads_ended;
        let _turn = self.loading.lock().await;
        // Loaded by a caller this one waited for.
        if let Some(value) = self.get() {
            return Ok(value);
        }
        let forgotten = {
            let slot = self.slot();
            if slot.loads_ended != ended_before
                && let Some(e) = &slot.failed
            {
                return Err(e.clone());
            }
            slot.forgotten
        };
        // A load dropped half way (its caller gone) ends nothing: the next in line loads.
        let loaded = load().await;
        let mut slot = self.slot_mut();
        slot.loads_ended += 1;
        slot.failed = None;
        match &loaded {
            Ok(value) => {
                if slot.forgotten == forgotten {
                    let until = Instant::now() + (self.lifetime)(value);
                    slot.kept = Some((value.clone(), until));
                }
            }
            Err(e) => slot.failed = Some(e.clone()),
        }
        loaded
    }

    /// Drops the value kept (after a save): the next read loads it again. A load under
    /// way keeps nothing, since it may have read what the save replaced.
    pub fn forget(&self) {
        let mut slot = self.slot_mut();
        slot.kept = None;
        slot.forgotten += 1;
    }

    /// Drops the value kept if `is_it` says it is the one.
    pub fn forget_if(&self, is_it: impl FnOnce(&T) -> bool) {
        let mut slot = self.slot_mut();
        if slot.kept.as_ref().is_some_and(|(value, _)| is_it(value)) {
            slot.kept = None;
            slot.forgotten += 1;
        }
    }

    // Nothing panics while holding the lock but a clone: what it guards stays whole.
    fn slot(&self) -> RwLockReadGuard<'_, Slot<T, E>> {
        self.slot.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot_mut(&self) -> RwLockWriteGuard<'_, Slot<T, E>> {
        self.slot.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Loads that fail with an [`AppError`], which is not `Clone`: the failure is shared as
/// an `Arc` with the callers that waited, and each gets it back through
/// [`AppError::shared`].
impl<T: Clone> Fresh<T, Arc<AppError>> {
    /// [`Fresh::get_or_load`] for a load that fails with an [`AppError`].
    pub async fn get_or_load_app<F>(&self, load: impl FnOnce() -> F) -> Result<T, AppError>
    where
        F: Future<Output = Result<T, AppError>>,
    {
        self.get_or_load(move || async move { load().await.map_err(Arc::new) })
            .await
            .map_err(AppError::shared)
    }
}

#[cfg(test)]
mod tests;
