use std::collections::BTreeMap;

use super::event::{Delivery, NotificationKind, PreferencesOwner, TimeZoneName, Weekday};

/// A change of some preferences; what it does not name stays as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferenceChange {
    pub owner: PreferencesOwner,
    /// `None`: back to the inherited choice.
    pub choices: BTreeMap<NotificationKind, Option<Delivery>>,
    pub time_zone: Option<TimeZoneName>,
    /// Checked by the aggregate (0 to 23).
    pub digest_hour: Option<i64>,
    pub digest_weekday: Option<Weekday>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotificationPreferencesCommand {
    Change(PreferenceChange),
}
