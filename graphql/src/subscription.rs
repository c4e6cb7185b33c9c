use std::time::Duration;

use async_graphql::{Context, ID, Subscription};
use futures::Stream;
use medgrid_domain::ids::MemberId;

use crate::types::{Member, scope};
use crate::usecases::{Scope, access, parse_id};

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
}
