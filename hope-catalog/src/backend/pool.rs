//! A minimal pool of database connections for the SQL back-ends: connections are opened on demand,
//! lent out one per operation, and returned when the loan ends.

use std::sync::Mutex;

/// Idle connections.
pub(crate) struct Pool<C> {
    idle: Mutex<Vec<C>>,
}

impl<C> Pool<C> {
    pub(crate) fn new() -> Pool<C> {
        Pool {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one from `open`.
    pub(crate) fn get<E>(&self, open: impl FnOnce() -> Result<C, E>) -> Result<Loan<'_, C>, E> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match idle {
            Some(c) => c,
            None => open()?,
        };
        Ok(Loan {
            conn: Some(conn),
            pool: self,
            keep: true,
        })
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
        if let (Some(c), true) = (self.conn.take(), self.keep)
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(c);
        }
    }
}
