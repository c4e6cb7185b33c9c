//! Notification preferences in GraphQL: `notificationPreferences` (what applies to the
//! caller, and where each setting comes from), `setNotificationPreferences` (the caller's
//! own), `tenantNotificationDefaults` and `setTenantNotificationDefaults` (tenant admins).

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use medgrid_domain::notify::{Delivery, Effective, NotificationKind, Source, Weekday};

use crate::types::scope;
use crate::usecases::notifications::{self, ChangeRequest};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "NotificationDelivery")]
pub enum DeliveryName {
    Immediate,
    DailyDigest,
    WeeklyDigest,
    #[graphql(name = "NONE")]
    Nothing,
}

impl From<DeliveryName> for Delivery {
    fn from(d: DeliveryName) -> Self {
        match d {
            DeliveryName::Immediate => Self::Immediate,
            DeliveryName::DailyDigest => Self::DailyDigest,
            DeliveryName::WeeklyDigest => Self::WeeklyDigest,
            DeliveryName::Nothing => Self::None,
        }
    }
}

impl From<Delivery> for DeliveryName {
    fn from(d: Delivery) -> Self {
        match d {
            Delivery::Immediate => Self::Immediate,
            Delivery::DailyDigest => Self::DailyDigest,
            Delivery::WeeklyDigest => Self::WeeklyDigest,
            Delivery::None => Self::Nothing,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "NotificationEventType")]
pub enum KindName {
    JobStarted,
    JobSucceeded,
    JobFailed,
    JobRetried,
    JobCancelled,
    QuotaNearlyFull,
    FolderShared,
    TicketUpdated,
}

impl From<NotificationKind> for KindName {
    fn from(k: NotificationKind) -> Self {
        match k {
            NotificationKind::JobStarted => Self::JobStarted,
            NotificationKind::JobSucceeded => Self::JobSucceeded,
            NotificationKind::JobFailed => Self::JobFailed,
            NotificationKind::JobRetried => Self::JobRetried,
            NotificationKind::JobCancelled => Self::JobCancelled,
            NotificationKind::QuotaNearlyFull => Self::QuotaNearlyFull,
            NotificationKind::FolderShared => Self::FolderShared,
            NotificationKind::TicketUpdated => Self::TicketUpdated,
        }
    }
}

/// Where an effective setting comes from.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "PreferenceSource")]
pub enum SourceName {
    /// The member chose it.
    Member,
    /// The tenant's default.
    Tenant,
    /// Medgrid's default.
    BuiltIn,
}

impl From<Source> for SourceName {
    fn from(s: Source) -> Self {
        match s {
            Source::Member => Self::Member,
            Source::Tenant => Self::Tenant,
            Source::BuiltIn => Self::BuiltIn,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Weekday")]
pub enum WeekdayName {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<WeekdayName> for Weekday {
    fn from(d: WeekdayName) -> Self {
        match d {
            WeekdayName::Monday => Self::Monday,
            WeekdayName::Tuesday => Self::Tuesday,
            WeekdayName::Wednesday => Self::Wednesday,
            WeekdayName::Thursday => Self::Thursday,
            WeekdayName::Friday => Self::Friday,
            WeekdayName::Saturday => Self::Saturday,
            WeekdayName::Sunday => Self::Sunday,
        }
    }
}

impl From<Weekday> for WeekdayName {
    fn from(d: Weekday) -> Self {
        match d {
            Weekday::Monday => Self::Monday,
            Weekday::Tuesday => Self::Tuesday,
            Weekday::Wednesday => Self::Wednesday,
            Weekday::Thursday => Self::Thursday,
            Weekday::Friday => Self::Friday,
            Weekday::Saturday => Self::Saturday,
            Weekday::Sunday => Self::Sunday,
        }
    }
}

/// How one kind of event reaches the member.
#[derive(SimpleObject)]
pub struct NotificationChoice {
    event_type: KindName,
    delivery: DeliveryName,
    source: SourceName,
}

/// The settings that apply, each with where it comes from.
#[derive(SimpleObject)]
pub struct NotificationPreferences {
    /// Every event type, always in the same order.
    choices: Vec<NotificationChoice>,
    /// IANA name of the zone digests are timed in.
    time_zone: String,
    time_zone_source: SourceName,
    /// Hour of the day (0 to 23, in `timeZone`) digests go out.
    digest_hour: i32,
    digest_hour_source: SourceName,
    /// The day weekly digests go out.
    weekly_digest_day: WeekdayName,
    weekly_digest_day_source: SourceName,
}

impl From<Effective> for NotificationPreferences {
    fn from(e: Effective) -> Self {
        Self {
            choices: e
                .choices
                .into_iter()
                .map(|(kind, delivery, source)| NotificationChoice {
                    event_type: kind.into(),
                    delivery: delivery.into(),
                    source: source.into(),
                })
                .collect(),
            time_zone: e.time_zone.0.to_string(),
            time_zone_source: e.time_zone.1.into(),
            digest_hour: i32::from(e.digest_hour.0),
            digest_hour_source: e.digest_hour.1.into(),
            weekly_digest_day: e.digest_weekday.0.into(),
            weekly_digest_day_source: e.digest_weekday.1.into(),
        }
    }
}

#[derive(InputObject)]
pub struct NotificationChoiceInput {
    /// One of the `NotificationEventType` values (JOB_STARTED, JOB_FAILED, …).
    event_type: String,
    /// Omitted or null: back to the tenant's (or built-in) choice.
    delivery: Option<DeliveryName>,
}

/// A change: what it does not name stays as it was.
#[derive(InputObject)]
pub struct NotificationPreferencesInput {
    #[graphql(default)]
    choices: Vec<NotificationChoiceInput>,
    /// An IANA time zone name, e.g. `Europe/Paris`.
    time_zone: Option<String>,
    /// 0 to 23.
    digest_hour: Option<i32>,
    weekly_digest_day: Option<WeekdayName>,
}

impl From<NotificationPreferencesInput> for ChangeRequest {
    fn from(i: NotificationPreferencesInput) -> Self {
        Self {
            choices: i
                .choices
                .into_iter()
                .map(|c| (c.event_type, c.delivery.map(Into::into)))
                .collect(),
            time_zone: i.time_zone,
            digest_hour: i.digest_hour,
            digest_weekday: i.weekly_digest_day.map(Into::into),
        }
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// What applies to the caller, and where each setting comes from.
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<NotificationPreferences> {
        Ok(notifications::mine(&scope(ctx)?).await?.into())
    }

    /// The caller's tenant's defaults (TENANT), over Medgrid's (BUILT_IN).
    async fn tenant_notification_defaults(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<NotificationPreferences> {
        Ok(notifications::tenant_defaults(&scope(ctx)?).await?.into())
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Changes the caller's own preferences; returns what now applies. `memberId`, if
    /// given, must be the caller's own id (FORBIDDEN otherwise).
    async fn set_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: NotificationPreferencesInput,
        member_id: Option<ID>,
    ) -> async_graphql::Result<NotificationPreferences> {
        let scope = scope(ctx)?;
        let member = member_id.as_ref().map(|id| id.as_str());
        Ok(notifications::set_mine(&scope, member, input.into())
            .await?
            .into())
    }

    /// Changes the caller's tenant's defaults (its administrators); returns them.
    async fn set_tenant_notification_defaults(
        &self,
        ctx: &Context<'_>,
        input: NotificationPreferencesInput,
    ) -> async_graphql::Result<NotificationPreferences> {
        let scope = scope(ctx)?;
        Ok(notifications::set_tenant_defaults(&scope, input.into())
            .await?
            .into())
    }
}
