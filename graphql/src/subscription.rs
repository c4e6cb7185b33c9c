use std::time::Duration;

use async_graphql::{Context, ID, Subscription};
use futures::{Stream, StreamExt};
use medgrid_domain::ids::{JobId, MemberId};
use medgrid_domain::jobs::JobState;

use crate::job_types::Job;
use crate::types::{Member, scope};
use crate::usecases::{Scope, access, jobs, parse_id};

pub struct Subscription;

/// How often a subscription looks again when no in-process processor signals progress
/// (the processors may run in another process).
const RECHECK: Duration = Duration::from_secs(1);

#[Subscription]
impl Subscription {
    /// Pushes the member each time their read model changes (roles, state, name…). Ends
    /// when the member is no longer visible to the subscriber.
    async fn member_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Member> + use<>> {
        let scope = scope(ctx)?;
        let id: MemberId = parse_id(&id, "member")?;
        let first = access::visible(&scope, id).await?;
        let svc = scope.svc.clone();
        let progress = svc.progress.clone();
        let state = (first.updated_at, svc, scope.caller, progress);
        Ok(futures::stream::unfold(
            state,
            move |(last, svc, caller, mut progress)| async move {
                loop {
                    tokio::select! {
                        changed = progress.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(RECHECK).await;
                            }
                        }
                        _ = tokio::time::sleep(RECHECK) => {}
                    }
                    let seen = {
                        let scope = Scope {
                            svc: &svc,
                            caller: caller.clone(),
                            request_id: None,
                        };
                        access::visible(&scope, id).await
                    };
                    match seen {
                        Ok(row) if row.updated_at != last => {
                            let at = row.updated_at;
                            return Some((Member(row), (at, svc, caller, progress)));
                        }
                        Ok(_) => {}
                        Err(_) => return None,
                    }
                }
            },
        ))
    }

    /// Pushes the job as it is now, then at each transition (its `timeline` lists them
    /// all, should two come between pushes); ends after its terminal state.
    async fn job_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Job> + use<>> {
        let scope = scope(ctx)?;
        let first = jobs::visible(&scope, &id).await?;
        let job_id = JobId::from_uuid(first.id);
        let svc = scope.svc.clone();
        let progress = svc.progress.clone();
        let seen = (first.state.clone(), first.updated_at);
        // a finished job is pushed once, and the stream ends
        let finished = JobState::parse(&first.state).is_some_and(JobState::is_terminal);
        let now = futures::stream::once(async move { Job(first) });
        let state = ((!finished).then_some(seen), svc, scope.caller, progress);
        let changes =
            futures::stream::unfold(state, move |(seen, svc, caller, mut progress)| async move {
                let seen = seen?;
                loop {
                    tokio::select! {
                        changed = progress.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(RECHECK).await;
                            }
                        }
                        _ = tokio::time::sleep(RECHECK) => {}
                    }
                    let row = {
                        let scope = Scope {
                            svc: &svc,
                            caller: caller.clone(),
                            request_id: None,
                        };
                        jobs::visible(&scope, &job_id.to_string()).await
                    };
                    let Ok(row) = row else { return None };
                    let now = (row.state.clone(), row.updated_at);
                    if now != seen {
                        let done = JobState::parse(&row.state).is_some_and(JobState::is_terminal);
                        let next = (!done).then_some(now);
                        return Some((Job(row), (next, svc, caller, progress)));
                    }
                }
            });
        Ok(now.chain(changes))
    }
}
