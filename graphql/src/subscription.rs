use std::time::Duration;

use async_graphql::{Context, ID, Subscription};
use futures::Stream;
use medgrid_domain::ids::MemberId;

use crate::ApiError;
use crate::types::{Member, caller, services};
use crate::usecases::{access, parse_id};

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Pushes the member each time their read model changes (roles, state, name…).
    async fn member_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Member> + use<>> {
        let caller = caller(ctx)?;
        let svc = services(ctx).clone();
        let id: MemberId = parse_id(&id, "member")?;
        let first = access::visible(&svc, &caller, id).await?;
        let mut progress = svc.progress.clone();
        Ok(async_stream_updates(first.updated_at, move |last| {
            let svc = svc.clone();
            let caller = caller.clone();
            let mut progress_rx = progress.clone();
            progress = progress_rx.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = progress_rx.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    match access::visible(&svc, &caller, id).await {
                        Ok(row) if row.updated_at != last => {
                            return Some((row.updated_at, Member(row)));
                        }
                        Ok(_) => {}
                        Err(ApiError { .. }) => return None,
                    }
                }
            }
        }))
    }
}

/// A stream that asks `next` for the following item after each one, ending on `None`.
fn async_stream_updates<S, F, Fut, T>(seed: S, next: F) -> impl Stream<Item = T>
where
    S: Send + 'static,
    F: FnMut(S) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<(S, T)>> + Send,
{
    let mut next = next;
    futures::stream::unfold(seed, move |s| {
        let fut = next(s);
        async move { fut.await.map(|(s, item)| (item, s)) }
    })
}
