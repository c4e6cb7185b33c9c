//! The notifier: reads job, ticket and space events and records, for each member who is to
//! hear of one, a notification as they want it (immediate, a digest, or not at all). It
//! runs like a read model — a batch and the checkpoint in one transaction, so every event
//! is seen exactly once — but it is not one: it is never rebuilt (that would mail the
//! whole history again), and it starts at the end of the log of an existing database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use medgrid_domain::jobs::JobEvent;
use medgrid_domain::metadata::Causer;
use medgrid_domain::notify::{Delivery, NotificationKind};
use medgrid_domain::spaces::{Access, Grantee, SpaceEvent};
use medgrid_domain::support::TicketEvent;
use medgrid_projections::event::{DomainEvent, StoredEvent};
use medgrid_projections::notifications::effective_on;
use medgrid_projections::runner::{EventByEvent, ProjectionError};
use sqlx::PgConnection;
use uuid::Uuid;

use super::links;

/// Something one member is to hear of, before their preferences say how.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub tenant: Uuid,
    pub member: Uuid,
    pub kind: NotificationKind,
    /// What makes it one: the same key seen again is the same notification.
    pub key: String,
    /// One line, e.g. "Job 3f2c9a1b (Brain MRI 1.2) succeeded".
    pub title: String,
    /// The why, in a sentence or a comment's text.
    pub detail: String,
    /// Where in the portal to look (a path).
    pub link: String,
    pub happened_at: DateTime<Utc>,
}

/// Derived ids of notifications (uuid v5 of kind, key and member).
const NAMESPACE: Uuid = Uuid::from_u128(0x6d65_6467_7269_6400_6e6f_7469_6365_7300);

/// Longest detail kept (a comment is quoted, not copied whole).
const DETAIL_CHARS: usize = 500;

fn clip(text: &str) -> String {
    match text.char_indices().nth(DETAIL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Records `notice` the way its member wants it; false when they want nothing of its kind.
pub async fn record(db: &mut PgConnection, notice: &Notice) -> Result<bool, sqlx::Error> {
    let settings = effective_on(db, notice.tenant, notice.member).await?;
    let delivery = settings.delivery(notice.kind);
    if delivery == Delivery::None {
        return Ok(false);
    }
    let id = Uuid::new_v5(
        &NAMESPACE,
        format!("{}:{}:{}", notice.kind, notice.key, notice.member).as_bytes(),
    );
    sqlx::query(
        "INSERT INTO notifications
                (id, tenant_id, member_id, kind, delivery, title, detail, link, happened_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(notice.tenant)
    .bind(notice.member)
    .bind(notice.kind.as_str())
    .bind(delivery.as_str())
    .bind(&notice.title)
    .bind(clip(&notice.detail))
    .bind(&notice.link)
    .bind(notice.happened_at)
    .execute(db)
    .await?;
    Ok(true)
}

pub struct Notifier;

#[async_trait]
impl EventByEvent for Notifier {
    fn name(&self) -> &'static str {
        "notifier"
    }

    /// None: nothing of it may ever be emptied and replayed.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn consumes(&self) -> &'static [&'static str] {
        &["Job", "Ticket", "Space"]
    }

    async fn apply_one(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        for notice in notices(db, event).await? {
            record(db, &notice).await?;
        }
        Ok(())
    }
}

/// Who is to hear of one event, and what.
async fn notices(db: &mut PgConnection, e: &StoredEvent) -> Result<Vec<Notice>, ProjectionError> {
    let id = e.aggregate_uuid()?;
    Ok(match &e.event {
        DomainEvent::Job(event) => of_job(db, e, id, event).await?.into_iter().collect(),
        DomainEvent::Ticket(event) => of_ticket(db, e, id, event).await?,
        DomainEvent::Space(SpaceEvent::FolderShared {
            node_id,
            with,
            access,
        }) => of_share(db, e, node_id.as_uuid(), *with, *access).await?,
        _ => Vec::new(),
    })
}

#[derive(sqlx::FromRow)]
struct JobFacts {
    tenant_id: Uuid,
    owner_id: Uuid,
    application_name: String,
    application_version: String,
}

/// The job's owner hears of its start (the first attempt's only: a retry is a notice of
/// its own), retries and end.
async fn of_job(
    db: &mut PgConnection,
    e: &StoredEvent,
    job: Uuid,
    event: &JobEvent,
) -> Result<Option<Notice>, ProjectionError> {
    let (kind, key, what, detail) = match event {
        JobEvent::AttemptStarted { reason, .. } => (
            NotificationKind::JobStarted,
            job.to_string(),
            "started".to_owned(),
            reason,
        ),
        JobEvent::JobRetrying {
            next_attempt,
            reason,
            ..
        } => (
            NotificationKind::JobRetried,
            format!("{job}:{next_attempt}"),
            format!("is retried (attempt {next_attempt})"),
            reason,
        ),
        JobEvent::JobSucceeded { reason, .. } => (
            NotificationKind::JobSucceeded,
            job.to_string(),
            "succeeded".to_owned(),
            reason,
        ),
        JobEvent::JobFailed { reason } => (
            NotificationKind::JobFailed,
            job.to_string(),
            "failed".to_owned(),
            reason,
        ),
        JobEvent::JobCancelled { reason } => (
            NotificationKind::JobCancelled,
            job.to_string(),
            "was cancelled".to_owned(),
            reason,
        ),
        _ => return Ok(None),
    };
    // The dispatcher acts on jobs it reads from the `jobs` read model, and submission
    // waits for it: a job has its row there before any of these events exists.
    let facts: Option<JobFacts> = sqlx::query_as(
        "SELECT tenant_id, owner_id, application_name, application_version FROM jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_optional(&mut *db)
    .await?;
    let Some(facts) = facts else {
        tracing::warn!(%job, "no job row for a notification; nobody told");
        return Ok(None);
    };
    Ok(Some(Notice {
        tenant: facts.tenant_id,
        member: facts.owner_id,
        kind,
        key,
        title: format!(
            "Job {} ({} {}) {what}",
            links::short(job),
            facts.application_name,
            facts.application_version
        ),
        detail: detail.clone(),
        link: links::job(job),
        happened_at: e.recorded_at,
    }))
}

async fn member_name(db: &mut PgConnection, member: Uuid) -> Result<String, sqlx::Error> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM members WHERE id = $1")
        .bind(member)
        .fetch_optional(db)
        .await?;
    Ok(name.unwrap_or_else(|| "Someone".to_owned()))
}

fn actor(e: &StoredEvent) -> Option<Uuid> {
    match &e.meta.actor {
        Causer::Member(id) => Some(id.as_uuid()),
        Causer::System(_) => None,
    }
}

#[derive(sqlx::FromRow)]
struct TicketFacts {
    tenant_id: Uuid,
    reporter_id: Uuid,
    assignee_id: Option<Uuid>,
    title: String,
}

/// The reporter and the assignee hear of every change of a ticket made by someone else;
/// the tenant's administrators hear of a new ticket (nobody is assigned yet).
async fn of_ticket(
    db: &mut PgConnection,
    e: &StoredEvent,
    ticket: Uuid,
    event: &TicketEvent,
) -> Result<Vec<Notice>, ProjectionError> {
    let by = match actor(e) {
        Some(member) => member_name(db, member).await?,
        None => "Medgrid".to_owned(),
    };
    let (facts, mut to) = if let TicketEvent::TicketOpened {
        tenant_id,
        reporter,
        title,
        ..
    } = event
    {
        let facts = TicketFacts {
            tenant_id: tenant_id.as_uuid(),
            reporter_id: reporter.as_uuid(),
            assignee_id: None,
            title: title.clone(),
        };
        let admins = tenant_admins(db, facts.tenant_id).await?;
        (facts, admins)
    } else {
        let found: Option<TicketFacts> = sqlx::query_as(
            "SELECT tenant_id, reporter_id, assignee_id, title FROM tickets WHERE id = $1",
        )
        .bind(ticket)
        .fetch_optional(&mut *db)
        .await?;
        let Some(facts) = found else {
            tracing::warn!(%ticket, "no ticket row for a notification; nobody told");
            return Ok(Vec::new());
        };
        let mut to = vec![facts.reporter_id];
        to.extend(facts.assignee_id);
        (facts, to)
    };
    let (what, detail) = match event {
        TicketEvent::TicketOpened { body, .. } => (format!("opened by {by}"), body.clone()),
        TicketEvent::TicketCommented { body, .. } => {
            (format!("new comment from {by}"), body.clone())
        }
        TicketEvent::TicketAssigned { assignee } => {
            to.push(assignee.as_uuid());
            let name = member_name(db, assignee.as_uuid()).await?;
            (format!("assigned to {name} by {by}"), String::new())
        }
        TicketEvent::TicketPriorityChanged { priority } => (
            format!("priority set to {} by {by}", priority.as_str()),
            String::new(),
        ),
        TicketEvent::TicketResolved { resolution } => {
            (format!("resolved by {by}"), resolution.clone())
        }
        TicketEvent::TicketReopened => (format!("reopened by {by}"), String::new()),
    };
    to.sort();
    to.dedup();
    let me = actor(e);
    Ok(to
        .into_iter()
        .filter(|member| Some(*member) != me)
        .map(|member| Notice {
            tenant: facts.tenant_id,
            member,
            kind: NotificationKind::TicketUpdated,
            key: format!("{ticket}:{}", e.sequence),
            title: format!("Ticket “{}”: {what}", facts.title),
            detail: detail.clone(),
            link: links::ticket(ticket),
            happened_at: e.recorded_at,
        })
        .collect())
}

/// The active tenant administrators of a tenant.
pub async fn tenant_admins(db: &mut PgConnection, tenant: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM members
          WHERE tenant_id = $1 AND NOT disabled AND 'TENANT_ADMIN' = ANY(roles)
          ORDER BY id",
    )
    .bind(tenant)
    .fetch_all(db)
    .await
}

/// The member a folder is shared with, or every member of the group it is shared with,
/// hears of it (not the one who shared it).
async fn of_share(
    db: &mut PgConnection,
    e: &StoredEvent,
    node: Uuid,
    with: Grantee,
    access: Access,
) -> Result<Vec<Notice>, ProjectionError> {
    let (to, whom) = match with {
        Grantee::Member(member) => (vec![member.as_uuid()], "you".to_owned()),
        Grantee::Group(group) => {
            let members: Vec<Uuid> =
                sqlx::query_scalar("SELECT member_id FROM group_members WHERE group_id = $1")
                    .bind(group.as_uuid())
                    .fetch_all(&mut *db)
                    .await?;
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM groups WHERE id = $1")
                .bind(group.as_uuid())
                .fetch_optional(&mut *db)
                .await?;
            let whom = format!("your group {}", name.unwrap_or_default());
            (members, whom)
        }
    };
    let folder: Option<String> = sqlx::query_scalar("SELECT name FROM space_nodes WHERE id = $1")
        .bind(node)
        .fetch_optional(&mut *db)
        .await?
        .flatten();
    let folder = folder.unwrap_or_else(|| "a folder".to_owned());
    let by = match actor(e) {
        Some(member) => member_name(db, member).await?,
        None => "Medgrid".to_owned(),
    };
    let access = match access {
        Access::Read => "to read",
        Access::ReadWrite => "to read and change",
    };
    let me = actor(e);
    Ok(to
        .into_iter()
        .filter(|member| Some(*member) != me)
        .map(|member| Notice {
            tenant: e.meta.tenant_id.as_uuid(),
            member,
            kind: NotificationKind::FolderShared,
            key: format!("{node}:{}", e.sequence),
            title: format!("{by} shared the folder “{folder}” with {whom} {access}"),
            detail: String::new(),
            link: links::shared_folder(&folder),
            happened_at: e.recorded_at,
        })
        .collect())
}
