//! The writer thread behind a sink's async form: a bounded queue of serialised events and
//! one thread that writes them in batches and answers each caller.
//!
//! Async callers hand an event over and await a ticket; blocking callers wait on a channel.
//! Either way the disk is touched only by this thread (or by a blocking caller's own thread),
//! never by an async runtime's worker.

use std::collections::VecDeque;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rampart_core::{AuditCompleter, AuditError};

/// How long the writer waits for the rest of a batch the size of the last one (callers
/// woken by the last commit are still preparing their next event). Small beside a sync.
const GATHER: Duration = Duration::from_micros(100);

/// How far beyond its capacity the queue takes events from async callers under a waiting
/// policy: they must not wait for space (that would park a runtime worker), and each such
/// event is held by a caller awaiting its ticket, so the excess is bounded by callers.
const ASYNC_OVERFLOW_FACTOR: usize = 4;

/// Who is told how an event fared.
pub(crate) enum Reply<R> {
    /// An async caller awaiting a ticket.
    Ticket(AuditCompleter),
    /// A blocking caller waiting on a channel for the full result.
    Channel(SyncSender<Result<R, AuditError>>),
}

impl<R> Reply<R> {
    pub(crate) fn send(self, result: Result<R, AuditError>) {
        match self {
            Reply::Ticket(completer) => completer.complete(result.map(|_| ())),
            Reply::Channel(sender) => {
                let _ = sender.send(result);
            }
        }
    }
}

/// One event waiting for the writer.
pub(crate) struct Pending<R> {
    pub(crate) line: String,
    pub(crate) reply: Reply<R>,
}

impl<R> Pending<R> {
    /// `line` for the writer, and the ticket its caller awaits.
    pub(crate) fn with_ticket(line: String) -> (Self, rampart_core::AuditTicket) {
        let (ticket, completer) = rampart_core::AuditTicket::pending();
        let pending = Pending {
            line,
            reply: Reply::Ticket(completer),
        };
        (pending, ticket)
    }
}

/// How a caller is let into a full queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Block this thread until there is space (a blocking caller under a waiting policy).
    WaitForSpace,
    /// Never wait; beyond capacity (times the async overflow factor) the queue is full.
    Overflow,
    /// Never wait; at capacity the queue is full.
    Refuse,
}

/// Why the queue did not take an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Full,
    Closed,
}

struct Queue<R> {
    state: Mutex<State<R>>,
    ready: Condvar,
    space: Condvar,
    capacity: usize,
}

struct State<R> {
    items: VecDeque<Pending<R>>,
    closed: bool,
}

impl<R> Queue<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch: blocks until there is an event, then gathers briefly up to the size
    /// of the last batch. `None` once closed and drained (nothing queued is ever dropped).
    fn take_batch(&self, wanted: usize, most: usize) -> Option<Vec<Pending<R>>> {
        let mut state = self.lock();
        while state.items.is_empty() && !state.closed {
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.items.is_empty() {
            return None;
        }
        while state.items.len() < wanted.min(most) && !state.closed {
            let (next, waited) = self
                .ready
                .wait_timeout(state, GATHER)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            if waited.timed_out() {
                break;
            }
        }
        let take = state.items.len().min(most);
        let batch: Vec<Pending<R>> = state.items.drain(..take).collect();
        drop(state);
        self.space.notify_all();
        Some(batch)
    }
}

/// Closes the queue and answers every event still in it with [`AuditError::Closed`] when
/// the writer thread ends, so no caller ever waits on a writer that is gone.
struct CloseOnExit<R>(Arc<Queue<R>>);

impl<R> Drop for CloseOnExit<R> {
    fn drop(&mut self) {
        let orphans: Vec<Pending<R>> = {
            let mut state = self.0.lock();
            state.closed = true;
            state.items.drain(..).collect()
        };
        self.0.space.notify_all();
        self.0.ready.notify_all();
        for pending in orphans {
            pending.reply.send(Err(AuditError::Closed));
        }
    }
}

/// A bounded queue and the thread that commits it.
pub(crate) struct Committer<R> {
    queue: Arc<Queue<R>>,
    thread: Option<JoinHandle<()>>,
}

impl<R> std::fmt::Debug for Committer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("capacity", &self.queue.capacity)
            .finish_non_exhaustive()
    }
}

impl<R: Send + 'static> Committer<R> {
    /// Starts the writer thread. `write` gets each batch's lines and returns one result per
    /// line, in order; `most` caps a batch (1: every event committed alone).
    pub(crate) fn start(
        name: &str,
        capacity: usize,
        most: usize,
        mut write: impl FnMut(Vec<String>) -> Vec<Result<R, AuditError>> + Send + 'static,
    ) -> std::io::Result<Self> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
            space: Condvar::new(),
            capacity: capacity.max(1),
        });
        let writer_queue = queue.clone();
        let most = most.max(1);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // However the thread ends (a panic in `write`, from a callback or a clock it
                // calls, included), the queue is closed and everything in it answered.
                let _answer_the_rest = CloseOnExit(writer_queue.clone());
                let mut last = 1;
                while let Some(batch) = writer_queue.take_batch(last, most) {
                    last = batch.len();
                    let (lines, replies): (Vec<String>, Vec<Reply<R>>) =
                        batch.into_iter().map(|p| (p.line, p.reply)).unzip();
                    let mut results = write(lines).into_iter();
                    for reply in replies {
                        reply.send(results.next().unwrap_or(Err(AuditError::Closed)));
                    }
                }
            })?;
        Ok(Committer {
            queue,
            thread: Some(thread),
        })
    }

    /// Queues an event; on refusal hands it back so the caller answers it.
    pub(crate) fn send(
        &self,
        pending: Pending<R>,
        admission: Admission,
    ) -> Result<(), (Refusal, Pending<R>)> {
        let queue = &self.queue;
        let mut state = queue.lock();
        loop {
            if state.closed {
                return Err((Refusal::Closed, pending));
            }
            let limit = match admission {
                Admission::Overflow => queue.capacity.saturating_mul(ASYNC_OVERFLOW_FACTOR),
                Admission::WaitForSpace | Admission::Refuse => queue.capacity,
            };
            if state.items.len() < limit {
                break;
            }
            if admission != Admission::WaitForSpace {
                return Err((Refusal::Full, pending));
            }
            state = queue
                .space
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.items.push_back(pending);
        drop(state);
        queue.ready.notify_one();
        Ok(())
    }
}

impl<R> Committer<R> {
    /// Stops taking events, lets the writer commit what is queued, and waits for it.
    pub(crate) fn close(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
        self.queue.space.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<R> Drop for Committer<R> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use super::*;
    use rampart_core::AuditTicket;

    fn submit(committer: &Committer<()>, admission: Admission) -> AuditTicket {
        let (ticket, completer) = AuditTicket::pending();
        let pending = Pending {
            line: "event".to_owned(),
            reply: Reply::Ticket(completer),
        };
        match committer.send(pending, admission) {
            Ok(()) => ticket,
            Err((_, pending)) => {
                pending.reply.send(Err(AuditError::Closed));
                ticket
            }
        }
    }

    /// A writer that dies mid-batch leaves nobody waiting: the batch's callers, the events
    /// queued behind it and every later caller are answered Closed.
    #[test]
    fn a_writer_that_panics_answers_every_caller() {
        let (release, started) = std::sync::mpsc::channel::<()>();
        let release = std::sync::Mutex::new(release);
        let committer = Committer::start("panicking-writer", 4, 1, move |_lines| {
            let _ = release.lock().unwrap().send(());
            std::thread::sleep(std::time::Duration::from_millis(50));
            panic!("a callback inside the writer failed");
        })
        .unwrap();
        let first = submit(&committer, Admission::Overflow);
        started.recv().unwrap();
        let queued: Vec<AuditTicket> = (0..3)
            .map(|_| submit(&committer, Admission::Overflow))
            .collect();
        assert!(matches!(first.wait(), Err(AuditError::Closed)));
        for ticket in queued {
            assert!(matches!(ticket.wait(), Err(AuditError::Closed)));
        }
        // A blocking caller waiting for space is not left waiting either.
        assert!(matches!(
            submit(&committer, Admission::WaitForSpace).wait(),
            Err(AuditError::Closed)
        ));
    }
}
