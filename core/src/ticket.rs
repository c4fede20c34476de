//! The receipt of a submitted audit event: a future for async callers, a blocking wait for
//! threads. Runtime-agnostic (no executor is assumed), so every block can await it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::error::AuditError;

/// What a ticket resolves to: `Ok` once the event is as durable as the sink promises.
pub type AuditResult = Result<(), AuditError>;

/// A boxed future a sink may hand back as its ticket.
pub type AuditFuture = Pin<Box<dyn Future<Output = AuditResult> + Send + 'static>>;

/// The receipt of [`AuditSink::submit`](crate::AuditSink::submit): resolves once the event is
/// recorded as durably as the sink promises, or with the reason it was not.
///
/// Await it in async code; call [`wait`](AuditTicket::wait) on a thread that may block.
/// Dropping it does not withdraw the event: a submitted event is still written.
#[must_use = "an audit event is recorded only when its ticket resolves Ok; fail closed on Err"]
pub struct AuditTicket(Inner);

enum Inner {
    Ready(Option<AuditResult>),
    Slot(Arc<Slot>),
    Future(AuditFuture),
}

impl fmt::Debug for AuditTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            Inner::Ready(Some(Ok(()))) => "recorded",
            Inner::Ready(Some(Err(_))) => "refused",
            Inner::Ready(None) => "taken",
            Inner::Slot(_) | Inner::Future(_) => "pending",
        };
        f.debug_tuple("AuditTicket").field(&state).finish()
    }
}

/// The writer's side of a pending [`AuditTicket`]. Dropping it unanswered resolves the
/// ticket with [`AuditError::Closed`], so a writer that dies never leaves a caller waiting.
pub struct AuditCompleter(Option<Arc<Slot>>);

impl fmt::Debug for AuditCompleter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditCompleter").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    done: Condvar,
}

#[derive(Default)]
struct SlotState {
    result: Option<AuditResult>,
    waker: Option<Waker>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AuditTicket {
    /// A ticket already resolved (a sink that records without waiting on I/O).
    pub fn ready(result: AuditResult) -> Self {
        AuditTicket(Inner::Ready(Some(result)))
    }

    /// A pending ticket and the completer a writer answers it with.
    pub fn pending() -> (AuditTicket, AuditCompleter) {
        let slot = Arc::new(Slot::default());
        (
            AuditTicket(Inner::Slot(slot.clone())),
            AuditCompleter(Some(slot)),
        )
    }

    /// A ticket resolved by `future` (a sink that is async inside).
    pub fn from_future(future: impl Future<Output = AuditResult> + Send + 'static) -> Self {
        AuditTicket(Inner::Future(Box::pin(future)))
    }

    /// Resolves once every ticket has; the first error in order, if any. Every ticket is
    /// waited for even after an error, so no event's fate is left unknown.
    pub fn all(tickets: Vec<AuditTicket>) -> Self {
        if tickets.is_empty() {
            return AuditTicket::ready(Ok(()));
        }
        AuditTicket::from_future(async move {
            let mut first_error = None;
            for ticket in tickets {
                if let Err(error) = ticket.await {
                    first_error.get_or_insert(error);
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }

    /// Blocks this thread until the ticket resolves. Never call it on an async runtime's
    /// worker: await the ticket there.
    ///
    /// # Errors
    /// The event was not recorded.
    pub fn wait(self) -> AuditResult {
        match self.0 {
            Inner::Ready(result) => result.unwrap_or(Err(AuditError::Closed)),
            Inner::Slot(slot) => {
                let mut state = slot.lock();
                loop {
                    if let Some(result) = state.result.take() {
                        return result;
                    }
                    state = slot
                        .done
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            Inner::Future(future) => block_on(future),
        }
    }
}

impl Future for AuditTicket {
    type Output = AuditResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AuditResult> {
        match &mut self.get_mut().0 {
            Inner::Ready(result) => Poll::Ready(result.take().unwrap_or(Err(AuditError::Closed))),
            Inner::Slot(slot) => {
                let mut state = slot.lock();
                match state.result.take() {
                    Some(result) => Poll::Ready(result),
                    None => {
                        state.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            }
            Inner::Future(future) => future.as_mut().poll(cx),
        }
    }
}

impl AuditCompleter {
    /// Resolves the ticket.
    pub fn complete(mut self, result: AuditResult) {
        self.answer(result);
    }

    fn answer(&mut self, result: AuditResult) {
        let Some(slot) = self.0.take() else {
            return;
        };
        let waker = {
            let mut state = slot.lock();
            state.result = Some(result);
            state.waker.take()
        };
        slot.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for AuditCompleter {
    fn drop(&mut self) {
        self.answer(Err(AuditError::Closed));
    }
}

/// Wakes a parked thread: the executor of [`AuditTicket::wait`] for future-backed tickets.
struct Unparker(std::thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on(mut future: AuditFuture) -> AuditResult {
    let waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(result) = future.as_mut().poll(&mut cx) {
            return result;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_pending_ticket_resolves_for_a_waiting_thread_and_for_an_awaiting_task() {
        let (ticket, completer) = AuditTicket::pending();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            completer.complete(Ok(()));
        });
        assert!(ticket.wait().is_ok());
        writer.join().unwrap();

        let (ticket, completer) = AuditTicket::pending();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            completer.complete(Err(AuditError::Overloaded));
        });
        let result = futures_executor::block_on(ticket);
        assert!(matches!(result, Err(AuditError::Overloaded)));
        writer.join().unwrap();
    }

    #[test]
    fn a_completer_dropped_unanswered_resolves_its_ticket_as_closed() {
        let (ticket, completer) = AuditTicket::pending();
        drop(completer);
        assert!(matches!(ticket.wait(), Err(AuditError::Closed)));
        let (ticket, completer) = AuditTicket::pending();
        let writer = std::thread::spawn(move || drop(completer));
        assert!(matches!(
            futures_executor::block_on(ticket),
            Err(AuditError::Closed)
        ));
        writer.join().unwrap();
    }

    #[test]
    fn all_waits_for_every_ticket_and_reports_the_first_error() {
        let (slow, completer) = AuditTicket::pending();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            completer.complete(Ok(()));
        });
        let all = AuditTicket::all(vec![
            AuditTicket::ready(Err(AuditError::Dropped)),
            slow,
            AuditTicket::ready(Err(AuditError::Overloaded)),
        ]);
        assert!(matches!(all.wait(), Err(AuditError::Dropped)));
        writer.join().unwrap();
        assert!(AuditTicket::all(Vec::new()).wait().is_ok());
    }
}
