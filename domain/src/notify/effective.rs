//! What applies to a member: their own choice, else their tenant's default, else the
//! built-in one — for each kind of event and each digest setting, separately.

use super::event::{Delivery, NotificationKind, Preferences, TimeZoneName, Weekday};

/// Where an effective setting comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Member,
    Tenant,
    BuiltIn,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "MEMBER",
            Self::Tenant => "TENANT",
            Self::BuiltIn => "BUILT_IN",
        }
    }
}

/// Digests go out at this hour when nobody chose.
pub const BUILT_IN_DIGEST_HOUR: u8 = 8;
/// Weekly digests go out on this day when nobody chose.
pub const BUILT_IN_DIGEST_WEEKDAY: Weekday = Weekday::Monday;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Every kind, in [`NotificationKind::ALL`] order.
    pub choices: Vec<(NotificationKind, Delivery, Source)>,
    pub time_zone: (TimeZoneName, Source),
    pub digest_hour: (u8, Source),
    pub digest_weekday: (Weekday, Source),
}

impl Effective {
    pub fn delivery(&self, kind: NotificationKind) -> Delivery {
        self.choices
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map_or(kind.built_in(), |(_, d, _)| *d)
    }
}

fn pick<T: Clone>(member: Option<T>, tenant: Option<T>, built_in: T) -> (T, Source) {
    match (member, tenant) {
        (Some(m), _) => (m, Source::Member),
        (None, Some(t)) => (t, Source::Tenant),
        (None, None) => (built_in, Source::BuiltIn),
    }
}

/// The settings that apply given a member's own preferences (None for a tenant's view of
/// its defaults) and their tenant's defaults.
pub fn effective(member: Option<&Preferences>, tenant: Option<&Preferences>) -> Effective {
    let choices = NotificationKind::ALL
        .into_iter()
        .map(|kind| {
            let (d, s) = pick(
                member.and_then(|m| m.choices.get(&kind).copied()),
                tenant.and_then(|t| t.choices.get(&kind).copied()),
                kind.built_in(),
            );
            (kind, d, s)
        })
        .collect();
    Effective {
        choices,
        time_zone: pick(
            member.and_then(|m| m.time_zone.clone()),
            tenant.and_then(|t| t.time_zone.clone()),
            TimeZoneName::utc(),
        ),
        digest_hour: pick(
            member.and_then(|m| m.digest_hour),
            tenant.and_then(|t| t.digest_hour),
            BUILT_IN_DIGEST_HOUR,
        ),
        digest_weekday: pick(
            member.and_then(|m| m.digest_weekday),
            tenant.and_then(|t| t.digest_weekday),
            BUILT_IN_DIGEST_WEEKDAY,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_beats_tenant_beats_built_in() {
        let mut tenant = Preferences::default();
        tenant
            .choices
            .insert(NotificationKind::JobStarted, Delivery::WeeklyDigest);
        tenant
            .choices
            .insert(NotificationKind::JobFailed, Delivery::DailyDigest);
        tenant.digest_hour = Some(6);
        let mut member = Preferences::default();
        member
            .choices
            .insert(NotificationKind::JobFailed, Delivery::Immediate);
        member.time_zone = Some("Europe/Paris".parse().expect("zone"));
        let e = effective(Some(&member), Some(&tenant));
        let of = |k: NotificationKind| {
            e.choices
                .iter()
                .find(|(kind, _, _)| *kind == k)
                .map(|(_, d, s)| (*d, *s))
        };
        assert_eq!(
            of(NotificationKind::JobFailed),
            Some((Delivery::Immediate, Source::Member))
        );
        assert_eq!(
            of(NotificationKind::JobStarted),
            Some((Delivery::WeeklyDigest, Source::Tenant))
        );
        assert_eq!(
            of(NotificationKind::JobSucceeded),
            Some((Delivery::Immediate, Source::BuiltIn))
        );
        assert_eq!(e.choices.len(), NotificationKind::ALL.len());
        assert_eq!(e.time_zone.1, Source::Member);
        assert_eq!(e.digest_hour, (6, Source::Tenant));
        assert_eq!(e.digest_weekday, (Weekday::Monday, Source::BuiltIn));
        assert_eq!(
            e.delivery(NotificationKind::JobStarted),
            Delivery::WeeklyDigest
        );
        let none = effective(None, None);
        assert!(none.choices.iter().all(|(_, _, s)| *s == Source::BuiltIn));
        assert_eq!(none.time_zone, (TimeZoneName::utc(), Source::BuiltIn));
    }
}
