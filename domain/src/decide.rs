//! The one way an aggregate handles a command: decide (pure, on current state), then record
//! each event — applied to the aggregate and collected for the store.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;

/// Records the outcome of a decision. Every aggregate's `handle` is this call.
pub(crate) async fn record<A: Aggregate>(
    aggregate: &mut A,
    decision: Result<Vec<A::Event>, A::Error>,
    sink: &EventSink<A>,
) -> Result<(), A::Error> {
    for event in decision? {
        sink.write(event, aggregate).await;
    }
    Ok(())
}
