//! The state machine as the rest of a process sees it: the [`KvMachine`]
//! behind a lock, the broadcast of every applied revision, and the watch
//! streams built on both.
//!
//! A watch never misses or repeats a revision: it subscribes to the
//! broadcast under the same lock it reads the history with, and because
//! revisions are contiguous it notices any gap (a lagging receiver, a
//! snapshot installed underneath it) and fills it from the history again.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::error::KvError;
use crate::kv::WatchStream;
use crate::machine::{Dirty, KvMachine};
use crate::types::{Event, WatchBatch, WatchRequest};

/// How often an idle watch sends an empty batch (a progress notification
/// carrying the revision it has seen up to), so clients can tell a quiet
/// stream from a dead one.
pub const WATCH_PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

pub struct SharedMachine {
    machine: RwLock<KvMachine>,
    applied: broadcast::Sender<Arc<WatchBatch>>,
}

impl std::fmt::Debug for SharedMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMachine")
            .field("revision", &self.read(|m| m.revision()))
            .finish()
    }
}

impl SharedMachine {
    pub fn new(machine: KvMachine) -> Arc<Self> {
        let (applied, _) = broadcast::channel(4096);
        Arc::new(SharedMachine {
            machine: RwLock::new(machine),
            applied,
        })
    }

    /// Runs `f` on the current state.
    pub fn read<R>(&self, f: impl FnOnce(&KvMachine) -> R) -> R {
        let guard = self.machine.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    /// Runs `f` with the state to change it, then announces every revision
    /// it made to the watchers, and returns what changed for persistence.
    pub fn write<R>(&self, f: impl FnOnce(&mut KvMachine) -> R) -> (R, Dirty) {
        let mut guard = self.machine.write().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut guard);
        let dirty = guard.take_dirty();
        for batch in &dirty.batches {
            // No receivers is fine: nobody watches.
            let _ = self.applied.send(Arc::new(batch.clone()));
        }
        (r, dirty)
    }

    /// Replaces the whole state (snapshot install). Running watches notice
    /// the jump in revisions and catch up from the new history.
    pub fn replace(&self, machine: KvMachine) {
        let mut guard = self.machine.write().unwrap_or_else(|e| e.into_inner());
        *guard = machine;
    }

    /// Opens a watch. Fails at once with `Compacted` if the start revision
    /// has left the history.
    pub fn watch(self: &Arc<Self>, req: WatchRequest) -> Result<WatchStream, KvError> {
        let (rx, mut pos) = {
            let guard = self.machine.read().unwrap_or_else(|e| e.into_inner());
            let rx = self.applied.subscribe();
            let pos = if req.start_revision == 0 {
                guard.revision()
            } else {
                req.start_revision - 1
            };
            guard.history_after(pos)?;
            (rx, pos)
        };
        let (tx, out) = mpsc::channel::<Result<WatchBatch, KvError>>(256);
        let shared = Arc::clone(self);
        let mut rx = rx;
        tokio::spawn(async move {
            loop {
                // Catch up from the history.
                let batches = match shared.read(|m| m.history_after(pos)) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                for batch in batches {
                    pos = batch.revision;
                    if let Some(b) = filter(&req, &batch) {
                        if tx.send(Ok(b)).await.is_err() {
                            return;
                        }
                    }
                }
                // Follow live revisions while they are contiguous.
                loop {
                    tokio::select! {
                        r = rx.recv() => match r {
                            Ok(batch) if batch.revision <= pos => continue,
                            Ok(batch) if batch.revision == pos + 1 => {
                                pos = batch.revision;
                                if let Some(b) = filter(&req, &batch) {
                                    if tx.send(Ok(b)).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = tokio::time::sleep(WATCH_PROGRESS_INTERVAL) => {
                            let progress = WatchBatch { revision: pos, events: Vec::new() };
                            if tx.send(Ok(progress)).await.is_err() {
                                return;
                            }
                        }
                        _ = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out)))
    }
}

/// The part of a revision a watch asked for, or `None` if nothing matches.
fn filter(req: &WatchRequest, batch: &WatchBatch) -> Option<WatchBatch> {
    let events: Vec<Event> = batch
        .events
        .iter()
        .filter(|e| {
            if req.prefix {
                e.kv.key.starts_with(&req.key)
            } else {
                e.kv.key == req.key
            }
        })
        .map(|e| {
            let mut e = e.clone();
            if !req.prev_kv {
                e.prev_kv = None;
            }
            e
        })
        .collect();
    (!events.is_empty()).then_some(WatchBatch {
        revision: batch.revision,
        events,
    })
}
