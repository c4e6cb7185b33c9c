use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{MemberId, TenantId};
use crate::names::InvalidValue;

/// What a member can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationKind {
    JobStarted,
    JobSucceeded,
    JobFailed,
    JobRetried,
    JobCancelled,
    QuotaNearlyFull,
    FolderShared,
    TicketUpdated,
}

impl NotificationKind {
    pub const ALL: [Self; 8] = [
        Self::JobStarted,
        Self::JobSucceeded,
        Self::JobFailed,
        Self::JobRetried,
        Self::JobCancelled,
        Self::QuotaNearlyFull,
        Self::FolderShared,
        Self::TicketUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobStarted => "JOB_STARTED",
            Self::JobSucceeded => "JOB_SUCCEEDED",
            Self::JobFailed => "JOB_FAILED",
            Self::JobRetried => "JOB_RETRIED",
            Self::JobCancelled => "JOB_CANCELLED",
            Self::QuotaNearlyFull => "QUOTA_NEARLY_FULL",
            Self::FolderShared => "FOLDER_SHARED",
            Self::TicketUpdated => "TICKET_UPDATED",
        }
    }

    /// How a member hears of it when neither they nor their tenant chose: failures and
    /// endings at once, the chatty ones not at all.
    pub fn built_in(self) -> Delivery {
        match self {
            Self::JobStarted | Self::JobRetried => Delivery::None,
            Self::JobSucceeded
            | Self::JobFailed
            | Self::JobCancelled
            | Self::QuotaNearlyFull
            | Self::TicketUpdated => Delivery::Immediate,
            Self::FolderShared => Delivery::DailyDigest,
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationKind {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(InvalidValue {
                field: "eventType",
                rule: "must be one of JOB_STARTED, JOB_SUCCEEDED, JOB_FAILED, JOB_RETRIED, \
                       JOB_CANCELLED, QUOTA_NEARLY_FULL, FOLDER_SHARED, TICKET_UPDATED",
            })
    }
}

/// How a member hears of one kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Delivery {
    /// A mail within seconds (bursts coalesced).
    Immediate,
    DailyDigest,
    WeeklyDigest,
    /// Not at all.
    None,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "IMMEDIATE",
            Self::DailyDigest => "DAILY_DIGEST",
            Self::WeeklyDigest => "WEEKLY_DIGEST",
            Self::None => "NONE",
        }
    }
}

/// The day weekly digests go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monday => "MONDAY",
            Self::Tuesday => "TUESDAY",
            Self::Wednesday => "WEDNESDAY",
            Self::Thursday => "THURSDAY",
            Self::Friday => "FRIDAY",
            Self::Saturday => "SATURDAY",
            Self::Sunday => "SUNDAY",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Monday,
            Self::Tuesday,
            Self::Wednesday,
            Self::Thursday,
            Self::Friday,
            Self::Saturday,
            Self::Sunday,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// An IANA time zone name known to this build's time zone database (`Europe/Paris`, `UTC`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn utc() -> Self {
        Self("UTC".into())
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0.parse().unwrap_or(chrono_tz::Tz::UTC)
    }
}

impl FromStr for TimeZoneName {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let tz: chrono_tz::Tz = s.parse().map_err(|_| InvalidValue {
            field: "timeZone",
            rule: "must be an IANA time zone name such as Europe/Paris or UTC",
        })?;
        Ok(Self(tz.name().to_owned()))
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<TimeZoneName> for String {
    fn from(value: TimeZoneName) -> String {
        value.0
    }
}

impl AsRef<str> for TimeZoneName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose preferences: one member's, or their tenant's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PreferencesOwner {
    Tenant {
        tenant_id: TenantId,
    },
    Member {
        tenant_id: TenantId,
        member_id: MemberId,
    },
}

impl PreferencesOwner {
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Self::Tenant { tenant_id } | Self::Member { tenant_id, .. } => *tenant_id,
        }
    }

    pub fn member_id(&self) -> Option<MemberId> {
        match self {
            Self::Tenant { .. } => None,
            Self::Member { member_id, .. } => Some(*member_id),
        }
    }

    /// The id of the aggregate that holds these preferences.
    pub fn aggregate_id(&self) -> crate::ids::PreferencesId {
        match self {
            Self::Tenant { tenant_id } => crate::ids::PreferencesId::of_tenant(*tenant_id),
            Self::Member { member_id, .. } => crate::ids::PreferencesId::of_member(*member_id),
        }
    }
}

/// What one owner chose; anything absent is inherited (member ← tenant ← built in).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Preferences {
    pub choices: BTreeMap<NotificationKind, Delivery>,
    pub time_zone: Option<TimeZoneName>,
    /// 0 to 23, in `time_zone`.
    pub digest_hour: Option<u8>,
    pub digest_weekday: Option<Weekday>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NotificationPreferencesEvent {
    /// The owner's whole choice after a change (never a delta: a reader needs no history).
    NotificationPreferencesSet {
        owner: PreferencesOwner,
        preferences: Preferences,
    },
}

impl DomainEvent for NotificationPreferencesEvent {
    fn event_type(&self) -> String {
        match self {
            Self::NotificationPreferencesSet { .. } => "NotificationPreferencesSet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
