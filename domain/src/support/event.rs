use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::idempotency::Idempotency;
use crate::ids::{JobId, MemberId, TenantId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Normal => "NORMAL",
            Self::High => "HIGH",
            Self::Urgent => "URGENT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Normal, Self::High, Self::Urgent]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// Every change of a ticket is one of these; who made it is the event's actor. (Each is a
/// TICKET_UPDATED notification to the reporter and the assignee, later.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TicketEvent {
    TicketOpened {
        tenant_id: TenantId,
        reporter: MemberId,
        title: String,
        body: String,
        job_id: Option<JobId>,
        priority: Priority,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency: Option<Idempotency>,
    },
    TicketCommented {
        author: MemberId,
        body: String,
    },
    TicketAssigned {
        assignee: MemberId,
    },
    TicketPriorityChanged {
        priority: Priority,
    },
    TicketResolved {
        resolution: String,
    },
    TicketReopened,
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> String {
        match self {
            Self::TicketOpened { .. } => "TicketOpened",
            Self::TicketCommented { .. } => "TicketCommented",
            Self::TicketAssigned { .. } => "TicketAssigned",
            Self::TicketPriorityChanged { .. } => "TicketPriorityChanged",
            Self::TicketResolved { .. } => "TicketResolved",
            Self::TicketReopened => "TicketReopened",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
