//! Password checks off the async workers.
//!
//! argon2 takes tens of milliseconds and 19 MiB per check. Run on the async
//! workers, a login storm stalls every scan; run on many threads, each
//! thread's malloc arena keeps its 19 MiB. So all checks go through one
//! long-lived thread with a short queue: a storm costs one core at most,
//! and when the queue is full the login is refused at once (429) instead of
//! piling up work.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;

/// Checks waiting at most; more are refused as "busy".
pub const QUEUE: usize = 16;

enum Job {
    Verify {
        password: String,
        hash: String,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    /// The same work as a check, for a user that does not exist.
    Dummy {
        password: String,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// The queue is full: too many logins at once.
    Busy,
    /// The worker is gone (it cannot panic on input; this is defensive).
    Stopped,
}

#[derive(Clone)]
pub struct PasswordWorker {
    tx: SyncSender<Job>,
}

impl PasswordWorker {
    /// Starts a worker thread with a queue of `queue` checks.
    pub fn start(queue: usize) -> std::io::Result<PasswordWorker> {
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        std::thread::Builder::new().name("gatepass-passwords".into()).spawn(move || {
            limit_malloc_retention();
            lower_priority();
            while let Ok(job) = rx.recv() {
                match job {
                    Job::Verify { password, hash, reply } => {
                        let _ = reply.send(crate::auth::verify_password(&password, &hash));
                    }
                    Job::Dummy { password, reply } => {
                        crate::auth::dummy_password_check(&password);
                        let _ = reply.send(false);
                    }
                }
            }
        })?;
        Ok(PasswordWorker { tx })
    }

    /// The process's worker, started on first use.
    pub fn shared() -> Result<&'static PasswordWorker, PasswordError> {
        static W: OnceLock<Option<PasswordWorker>> = OnceLock::new();
        W.get_or_init(|| PasswordWorker::start(QUEUE).ok()).as_ref().ok_or(PasswordError::Stopped)
    }

    /// Does `password` match `hash`? With `hash` `None` (no such user) the
    /// same work is done and the answer is no, so a wrong name costs as much
    /// time as a wrong password.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let password = password.to_string();
        let job = match hash {
            Some(h) => Job::Verify { password, hash: h.to_string(), reply },
            None => Job::Dummy { password, reply },
        };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PasswordError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(PasswordError::Stopped),
        }
        rx.await.map_err(|_| PasswordError::Stopped)
    }
}

/// A login may wait; a scan at the gate should not. On Linux a thread has
/// its own nice value: this one yields the CPU to the scan path.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority only read and set this thread's nice value.
        unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
        }
    }
}

/// glibc serves a large allocation from the heap once a same-sized mmap
/// was freed (the "dynamic mmap threshold"), and then keeps it: every
/// argon2 check would leave 19 MiB behind. A fixed threshold makes such
/// blocks mmaps again, returned to the system when freed.
fn limit_malloc_retention() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tuning; 128 KiB is glibc's default.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_off_thread_and_refuses_when_full() {
        let w = PasswordWorker::start(1).unwrap();
        let h = crate::auth::hash_password("1234").unwrap();
        assert_eq!(w.verify("1234", Some(&h)).await, Ok(true));
        assert_eq!(w.verify("1235", Some(&h)).await, Ok(false));
        assert_eq!(w.verify("1234", None).await, Ok(false));
        // many at once: some wait, the rest are refused as busy, none block
        let results = futures_util::future::join_all((0..8).map(|_| w.verify("x", Some(&h)))).await;
        assert!(results.contains(&Err(PasswordError::Busy)), "{results:?}");
        assert!(results.contains(&Ok(false)), "{results:?}");
    }
}
