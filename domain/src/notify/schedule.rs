//! When a digest goes out: at the member's digest hour in their time zone, every day
//! (daily) or on their weekday (weekly). A digest is due at the first such time after the
//! oldest thing waiting for it, and then lists everything waiting.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

use super::effective::Effective;
use super::event::{Delivery, Weekday};

impl Weekday {
    fn chrono(self) -> chrono::Weekday {
        match self {
            Self::Monday => chrono::Weekday::Mon,
            Self::Tuesday => chrono::Weekday::Tue,
            Self::Wednesday => chrono::Weekday::Wed,
            Self::Thursday => chrono::Weekday::Thu,
            Self::Friday => chrono::Weekday::Fri,
            Self::Saturday => chrono::Weekday::Sat,
            Self::Sunday => chrono::Weekday::Sun,
        }
    }
}

/// The instant `hour`:00 of `day` in `tz`. An hour skipped by a daylight-saving change
/// is taken one hour later (the clock never shows 02:00 that night, 03:00 it does).
fn at_hour(tz: chrono_tz::Tz, day: NaiveDate, hour: u8) -> Option<DateTime<Utc>> {
    (0..2).find_map(|late| {
        let time = day.and_hms_opt(u32::from(hour) + late, 0, 0)?;
        tz.from_local_datetime(&time)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The first digest time strictly after `after` for `delivery` (None for immediate mail
/// and for nothing: those have no schedule).
pub fn next_digest(
    delivery: Delivery,
    settings: &Effective,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let weekday = match delivery {
        Delivery::DailyDigest => None,
        Delivery::WeeklyDigest => Some(settings.digest_weekday.0.chrono()),
        Delivery::Immediate | Delivery::None => return None,
    };
    let tz = settings.time_zone.0.tz();
    let hour = settings.digest_hour.0.min(23);
    let first = after.with_timezone(&tz).date_naive();
    // eight days always hold the next weekday; one more for the hour of the first
    (0..9)
        .map(|n| first + Duration::days(n))
        .filter(|day| weekday.is_none_or(|w| day.weekday() == w))
        .filter_map(|day| at_hour(tz, day, hour))
        .find(|at| *at > after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Preferences, effective};

    fn settings(zone: &str, hour: u8, weekday: Weekday) -> Effective {
        let member = Preferences {
            time_zone: Some(zone.parse().expect("zone")),
            digest_hour: Some(hour),
            digest_weekday: Some(weekday),
            ..Preferences::default()
        };
        effective(Some(&member), None)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    #[test]
    fn daily_digest_at_the_hour_in_the_members_zone() {
        let paris = settings("Europe/Paris", 8, Weekday::Monday);
        // 10:00 in Paris (UTC+1 in December): today's 08:00 is past, tomorrow's it is
        let next = next_digest(Delivery::DailyDigest, &paris, utc("2026-12-01T09:00:00Z"));
        assert_eq!(next, Some(utc("2026-12-02T07:00:00Z")));
        // 06:00 in Paris: today's 08:00
        let next = next_digest(Delivery::DailyDigest, &paris, utc("2026-12-01T05:00:00Z"));
        assert_eq!(next, Some(utc("2026-12-01T07:00:00Z")));
        // exactly at the hour: the next one (strictly after)
        let next = next_digest(Delivery::DailyDigest, &paris, utc("2026-12-01T07:00:00Z"));
        assert_eq!(next, Some(utc("2026-12-02T07:00:00Z")));
    }

    #[test]
    fn weekly_digest_on_the_weekday() {
        let tokyo = settings("Asia/Tokyo", 18, Weekday::Friday);
        // Tuesday 2026-12-01 12:00 UTC is 21:00 in Tokyo; Friday the 4th 18:00 JST = 09:00 UTC
        let next = next_digest(Delivery::WeeklyDigest, &tokyo, utc("2026-12-01T12:00:00Z"));
        assert_eq!(next, Some(utc("2026-12-04T09:00:00Z")));
        // just after Friday's: a week later
        let next = next_digest(Delivery::WeeklyDigest, &tokyo, utc("2026-12-04T09:00:01Z"));
        assert_eq!(next, Some(utc("2026-12-11T09:00:00Z")));
    }

    #[test]
    fn an_hour_skipped_by_daylight_saving_is_taken_an_hour_later() {
        // New York skipped 02:00–03:00 on 2026-03-08
        let ny = settings("America/New_York", 2, Weekday::Sunday);
        let next = next_digest(Delivery::DailyDigest, &ny, utc("2026-03-08T00:00:00Z"));
        // 03:00 EDT = 07:00 UTC
        assert_eq!(next, Some(utc("2026-03-08T07:00:00Z")));
    }

    #[test]
    fn immediate_and_none_have_no_schedule() {
        let s = settings("UTC", 8, Weekday::Monday);
        let now = utc("2026-12-01T00:00:00Z");
        assert_eq!(next_digest(Delivery::Immediate, &s, now), None);
        assert_eq!(next_digest(Delivery::None, &s, now), None);
    }
}
