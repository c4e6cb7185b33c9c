//! The audit log's GraphQL face: `auditLog(first, after, filter)` for tenant administrators.

use async_graphql::connection::Connection;
use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use medgrid_domain::ids::{MemberId, TenantId};
use medgrid_projections::audit::{AuditFilter, AuditRow};

use crate::ApiError;
use crate::types::{connection, page_request};
use crate::usecases::{self, Scope, parse_id};

/// One event of the tenant: who did what to which object, and when.
#[derive(SimpleObject)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// `member:<id>` or `system:<name>` (the CLI operator, the dispatcher, …).
    pub actor: String,
    /// What happened: the event's type, e.g. `MemberCreated`, `JobCancelled`.
    pub action: String,
    /// The kind of object acted on: `Member`, `Group`, `Job`, …
    pub subject_type: String,
    pub subject_id: ID,
    /// The HTTP request that caused it, when there was one.
    pub request_id: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        Self {
            at: r.at,
            actor: r.actor,
            action: r.action,
            subject_type: r.subject_type,
            subject_id: ID(r.subject_id),
            request_id: r.request_id,
        }
    }
}

#[derive(InputObject, Default)]
pub struct AuditFilterInput {
    /// Only what this member did.
    pub actor_id: Option<ID>,
    /// Only events of this kind of object (`Member`, `Group`, `Job`, …).
    pub subject_type: Option<String>,
    /// From this time on (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this time.
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilterInput {
    fn parse(self) -> Result<AuditFilter, ApiError> {
        let actor = self
            .actor_id
            .map(|id| parse_id::<MemberId>(&id, "member").map(|m| format!("member:{m}")))
            .transpose()?;
        Ok(AuditFilter {
            actor,
            subject_type: self.subject_type,
            from: self.from,
            to: self.to,
        })
    }
}

/// The tenant's audit log, newest first; tenant administrators only.
pub async fn audit_log(
    scope: &Scope<'_>,
    tenant: TenantId,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<AuditFilterInput>,
) -> Result<Connection<String, AuditEntry>, ApiError> {
    let filter = filter.unwrap_or_default().parse()?;
    let request = page_request(first, after)?;
    let page = usecases::audit::list(scope, tenant, &filter, request).await?;
    Ok(connection(page, request, |r| r.position, AuditEntry::from))
}
