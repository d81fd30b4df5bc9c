//! A bounded pool of database connections for the SQL back-ends: connections are opened on
//! demand up to a maximum, lent out one per operation, and returned when the loan ends; a caller
//! that finds every connection lent waits for one, at most a set time.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The default most connections of a pool.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// How long a caller waits for a connection when all are lent.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

struct State<C> {
    idle: Vec<C>,
    /// Connections open (idle or lent).
    open: usize,
}

/// A pool of at most `max` connections.
pub(crate) struct Pool<C> {
    state: Mutex<State<C>>,
    freed: Condvar,
    max: usize,
}

/// Why no connection could be had.
pub(crate) enum PoolError<E> {
    /// Opening one failed.
    Open(E),
    /// All `max` were lent for the whole wait.
    Busy(usize),
}

impl PoolError<crate::Error> {
    /// The back-end's error: the opening error, or every connection of `backend` busy.
    pub(crate) fn into_error(self, backend: &'static str) -> crate::Error {
        match self {
            PoolError::Open(e) => e,
            PoolError::Busy(max) => crate::Error::Backend {
                backend,
                message: format!(
                    "all {max} connections busy for {} s: the back-end is overloaded",
                    WAIT.as_secs()
                ),
                source: None,
            },
        }
    }
}

impl<C> Pool<C> {
    pub(crate) fn new(max: usize) -> Pool<C> {
        Pool {
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            max: max.max(1),
        }
    }

    /// An idle connection, or a new one from `open` while fewer than the maximum are open,
    /// else the first one returned within [`WAIT`].
    pub(crate) fn get<E>(
        &self,
        open: impl FnOnce() -> Result<C, E>,
    ) -> Result<Loan<'_, C>, PoolError<E>> {
        let deadline = Instant::now() + WAIT;
        let Ok(mut state) = self.state.lock() else {
            return Err(PoolError::Busy(self.max));
        };
        loop {
            if let Some(c) = state.idle.pop() {
                return Ok(self.loan(c));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                // The slot is given back if opening fails, or panics.
                let slot = Slot(self);
                let opened = open();
                std::mem::forget(slot);
                return match opened {
                    Ok(c) => Ok(self.loan(c)),
                    Err(e) => {
                        self.forget();
                        Err(PoolError::Open(e))
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PoolError::Busy(self.max));
            }
            state = match self.freed.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(_) => return Err(PoolError::Busy(self.max)),
            };
        }
    }

    fn loan(&self, conn: C) -> Loan<'_, C> {
        Loan {
            conn: Some(conn),
            pool: self,
            keep: true,
        }
    }

    /// A connection is gone (broken, or never opened).
    fn forget(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.open = s.open.saturating_sub(1);
        }
        self.freed.notify_one();
    }
}

/// A slot being opened: given back if the opening unwinds.
struct Slot<'a, C>(&'a Pool<C>);

impl<C> Drop for Slot<'_, C> {
    fn drop(&mut self) {
        self.0.forget();
    }
}

/// A lent connection; it goes back to the pool when dropped, unless marked broken.
pub(crate) struct Loan<'a, C> {
    conn: Option<C>,
    pool: &'a Pool<C>,
    keep: bool,
}

impl<C> Loan<'_, C> {
    /// Do not return this connection to the pool (it is closed or in an unknown state).
    pub(crate) fn discard(&mut self) {
        self.keep = false;
    }
}

impl<C> std::ops::Deref for Loan<'_, C> {
    type Target = C;
    fn deref(&self) -> &C {
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("a loan holds its connection until dropped"))
    }
}

impl<C> std::ops::DerefMut for Loan<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("a loan holds its connection until dropped"))
    }
}

impl<C> Drop for Loan<'_, C> {
    fn drop(&mut self) {
        let Some(c) = self.conn.take() else { return };
        if !self.keep {
            drop(c);
            self.pool.forget();
            return;
        }
        if let Ok(mut s) = self.pool.state.lock() {
            s.idle.push(c);
        }
        self.pool.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_more_than_the_maximum_are_open_and_waiters_get_returned_ones() {
        let pool: Pool<u32> = Pool::new(2);
        let opened = std::sync::atomic::AtomicU32::new(0);
        let open =
            || -> Result<u32, ()> { Ok(opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) };
        let a = pool.get(open).ok().unwrap();
        let b = pool.get(open).ok().unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| pool.get(open).ok().map(|l| *l));
            std::thread::sleep(Duration::from_millis(100));
            drop(a);
            assert_eq!(waiter.join().unwrap(), Some(0));
        });
        assert_eq!(opened.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A broken connection makes room for a new one.
        let mut b = b;
        b.discard();
        drop(b);
        let c = pool.get(open).ok().unwrap();
        let d = pool.get(open).ok().unwrap();
        assert_eq!((*c, *d), (0, 2));
    }
}
