//! The single writer: one thread owns the gate's database connection and
//! takes work from a queue. Scans waiting in the queue are decided together
//! in one transaction (group commit: one fsync for the batch), which also
//! serialises every decision of the community, so two guard screens can
//! never both let out the last allowed member of a household.

use crate::gate::{Gate, GateError, ScanOutcome, ScanRequest};
use crate::store::StoreError;
use chrono::Utc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most scans decided in one transaction.
const MAX_BATCH: usize = 64;

type Job = Box<dyn FnOnce(&mut Gate) + Send>;

enum Msg {
    Scan(ScanRequest, oneshot::Sender<Result<ScanOutcome, WriterError>>),
    Job(Job),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriterError {
    #[error("the gate's log writer has stopped")]
    Stopped,
    /// The disk is full: nothing more can be recorded until space is freed.
    #[error("the entry log could not be written: the disk is full")]
    DiskFull,
    /// Another process holds the database.
    #[error("the entry log could not be written: the database is busy")]
    Busy,
    /// Any other storage failure; the detail went to the log, not here.
    #[error("the entry log could not be written (the cause is in the gate's log)")]
    Storage,
}

impl WriterError {
    /// What a failed batch tells each waiting scan: the kind of failure,
    /// never the storage text (that goes to the log).
    pub(crate) fn of(e: &GateError) -> WriterError {
        match e {
            GateError::Store(StoreError::DiskFull) => WriterError::DiskFull,
            GateError::Store(StoreError::Busy) => WriterError::Busy,
            _ => WriterError::Storage,
        }
    }
}

impl Writer {
    /// Starts the writer thread; it ends when every `Writer` is dropped.
    pub fn start(mut gate: Gate) -> Writer {
        let (tx, rx) = mpsc::channel::<Msg>();
        let spawn = std::thread::Builder::new().name("gatepass-writer".into()).spawn(move || {
            let mut pending: Option<Msg> = None;
            loop {
                let first = match pending.take() {
                    Some(m) => m,
                    None => match rx.recv() {
                        Ok(m) => m,
                        Err(_) => break,
                    },
                };
                match first {
                    Msg::Job(job) => job(&mut gate),
                    Msg::Scan(req, reply) => {
                        let mut reqs = vec![req];
                        let mut replies = vec![reply];
                        while reqs.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(Msg::Scan(r, s)) => {
                                    reqs.push(r);
                                    replies.push(s);
                                }
                                Ok(other) => {
                                    pending = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        match gate.scan_batch(&reqs, Utc::now()) {
                            Ok(outcomes) => {
                                for (o, s) in outcomes.into_iter().zip(replies) {
                                    let _ = s.send(Ok(o));
                                }
                            }
                            Err(e) => {
                                tracing::error!("scan batch of {} not recorded: {e}", reqs.len());
                                let kind = WriterError::of(&e);
                                for s in replies {
                                    let _ = s.send(Err(kind));
                                }
                            }
                        }
                    }
                }
            }
            let _ = gate.wal_checkpoint();
        });
        if let Err(e) = spawn {
            tracing::error!("cannot start the writer thread: {e}");
        }
        Writer { tx }
    }

    /// Decides and durably records one scan.
    pub async fn scan(&self, req: ScanRequest) -> Result<ScanOutcome, WriterError> {
        let (s, r) = oneshot::channel();
        self.tx.send(Msg::Scan(req, s)).map_err(|_| WriterError::Stopped)?;
        r.await.map_err(|_| WriterError::Stopped)?
    }

    /// Runs `f` on the writer thread (committee changes, anything writing).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Gate) -> Result<T, GateError> + Send + 'static,
    ) -> Result<Result<T, GateError>, WriterError> {
        let (s, r) = oneshot::channel();
        let job: Job = Box::new(move |g| {
            let _ = s.send(f(g));
        });
        self.tx.send(Msg::Job(job)).map_err(|_| WriterError::Stopped)?;
        r.await.map_err(|_| WriterError::Stopped)
    }
}
