//! Notification preferences: per member and per kind of event, immediate mail, a daily or
//! weekly digest, or nothing; digest time zone, hour and weekday; tenant-wide defaults.

mod aggregate;
mod command;
mod effective;
mod error;
mod event;
mod schedule;

pub use aggregate::NotificationPreferences;
pub use command::{NotificationPreferencesCommand, PreferenceChange};
pub use effective::{BUILT_IN_DIGEST_HOUR, BUILT_IN_DIGEST_WEEKDAY, Effective, Source, effective};
pub use error::PreferencesError;
pub use event::{
    Delivery, NotificationKind, NotificationPreferencesEvent, Preferences, PreferencesOwner,
    TimeZoneName, Weekday,
};
pub use schedule::next_digest;
