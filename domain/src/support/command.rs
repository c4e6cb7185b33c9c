use super::event::Priority;
use crate::idempotency::Idempotency;
use crate::ids::{JobId, MemberId, TenantId};

/// Commands on a ticket. Who may give them, and whether a job or an assignee may be
/// named, is checked by the use case (it needs the read models); the aggregate checks the
/// texts and the ticket's own state.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketCommand {
    Open {
        tenant_id: TenantId,
        reporter: MemberId,
        title: String,
        body: String,
        job_id: Option<JobId>,
        priority: Priority,
        /// The key it is opened under: the same request again opens nothing.
        idempotency: Option<Idempotency>,
    },
    Comment {
        author: MemberId,
        body: String,
    },
    /// To a tenant administrator of the ticket's tenant.
    Assign {
        assignee: MemberId,
    },
    SetPriority(Priority),
    Resolve {
        resolution: String,
    },
    Reopen,
}
