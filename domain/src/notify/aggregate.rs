use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{
    NotificationPreferencesCommand, NotificationPreferencesEvent, PreferenceChange, Preferences,
    PreferencesError, PreferencesOwner,
};

/// One owner's notification preferences: a member's own (id derived from the member) or a
/// tenant's defaults (id derived from the tenant). Both are the same rules over the same
/// matrix, so they are one aggregate type with two kinds of owner.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationPreferences {
    owner: Option<PreferencesOwner>,
    preferences: Preferences,
}

impl NotificationPreferences {
    fn decide(
        &self,
        command: NotificationPreferencesCommand,
    ) -> Result<Vec<NotificationPreferencesEvent>, PreferencesError> {
        let NotificationPreferencesCommand::Change(change) = command;
        if self.owner.is_some_and(|o| o != change.owner) {
            return Err(PreferencesError::WrongOwner);
        }
        let PreferenceChange {
            owner,
            choices,
            time_zone,
            digest_hour,
            digest_weekday,
        } = change;
        let mut next = self.preferences.clone();
        for (kind, delivery) in choices {
            match delivery {
                Some(d) => next.choices.insert(kind, d),
                None => next.choices.remove(&kind),
            };
        }
        if let Some(hour) = digest_hour {
            let hour =
                u8::try_from(hour)
                    .ok()
                    .filter(|h| *h <= 23)
                    .ok_or(PreferencesError::Invalid {
                        field: "digestHour",
                        rule: "must be 0 to 23",
                    })?;
            next.digest_hour = Some(hour);
        }
        if let Some(zone) = time_zone {
            next.time_zone = Some(zone);
        }
        if let Some(day) = digest_weekday {
            next.digest_weekday = Some(day);
        }
        if self.owner.is_some() && next == self.preferences {
            return Ok(vec![]);
        }
        Ok(vec![
            NotificationPreferencesEvent::NotificationPreferencesSet {
                owner,
                preferences: next,
            },
        ])
    }
}

impl Aggregate for NotificationPreferences {
    const TYPE: &'static str = "NotificationPreferences";
    type Command = NotificationPreferencesCommand;
    type Event = NotificationPreferencesEvent;
    type Error = PreferencesError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let decision = self.decide(command);
        crate::decide::record(self, decision, sink).await
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            NotificationPreferencesEvent::NotificationPreferencesSet { owner, preferences } => {
                self.owner = Some(owner);
                self.preferences = preferences;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::ids::{MemberId, TenantId};
    use crate::notify::{Delivery, NotificationKind, TimeZoneName, Weekday};

    type Given = TestFramework<NotificationPreferences>;

    fn member() -> PreferencesOwner {
        PreferencesOwner::Member {
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(1)),
            member_id: MemberId::from_uuid(uuid::Uuid::from_u128(2)),
        }
    }

    fn change(choices: &[(NotificationKind, Option<Delivery>)]) -> PreferenceChange {
        PreferenceChange {
            owner: member(),
            choices: choices.iter().copied().collect(),
            time_zone: None,
            digest_hour: None,
            digest_weekday: None,
        }
    }

    fn set(
        choices: &[(NotificationKind, Delivery)],
        hour: Option<u8>,
    ) -> NotificationPreferencesEvent {
        NotificationPreferencesEvent::NotificationPreferencesSet {
            owner: member(),
            preferences: Preferences {
                choices: choices.iter().copied().collect(),
                digest_hour: hour,
                ..Preferences::default()
            },
        }
    }

    #[test]
    fn a_change_records_the_whole_resulting_choice() {
        Given::with(())
            .given_no_previous_events()
            .when(NotificationPreferencesCommand::Change(change(&[(
                NotificationKind::JobStarted,
                Some(Delivery::DailyDigest),
            )])))
            .then_expect_events(vec![set(
                &[(NotificationKind::JobStarted, Delivery::DailyDigest)],
                None,
            )]);
        let mut c = change(&[(NotificationKind::JobFailed, Some(Delivery::None))]);
        c.digest_hour = Some(7);
        Given::with(())
            .given(vec![set(
                &[(NotificationKind::JobStarted, Delivery::DailyDigest)],
                None,
            )])
            .when(NotificationPreferencesCommand::Change(c))
            .then_expect_events(vec![set(
                &[
                    (NotificationKind::JobStarted, Delivery::DailyDigest),
                    (NotificationKind::JobFailed, Delivery::None),
                ],
                Some(7),
            )]);
    }

    #[test]
    fn a_choice_of_none_goes_back_to_the_inherited_one() {
        Given::with(())
            .given(vec![set(
                &[(NotificationKind::JobStarted, Delivery::DailyDigest)],
                Some(3),
            )])
            .when(NotificationPreferencesCommand::Change(change(&[(
                NotificationKind::JobStarted,
                None,
            )])))
            .then_expect_events(vec![set(&[], Some(3))]);
    }

    #[test]
    fn an_unchanged_choice_records_nothing() {
        Given::with(())
            .given(vec![set(
                &[(NotificationKind::JobStarted, Delivery::DailyDigest)],
                None,
            )])
            .when(NotificationPreferencesCommand::Change(change(&[(
                NotificationKind::JobStarted,
                Some(Delivery::DailyDigest),
            )])))
            .then_expect_events(vec![]);
    }

    #[test]
    fn impossible_hours_are_refused() {
        for hour in [24, -1, 1000] {
            let mut c = change(&[]);
            c.digest_hour = Some(hour);
            Given::with(())
                .given_no_previous_events()
                .when(NotificationPreferencesCommand::Change(c))
                .then_expect_error(PreferencesError::Invalid {
                    field: "digestHour",
                    rule: "must be 0 to 23",
                });
        }
    }

    #[test]
    fn another_owner_is_refused() {
        let mut c = change(&[]);
        c.owner = PreferencesOwner::Tenant {
            tenant_id: TenantId::random(),
        };
        Given::with(())
            .given(vec![set(&[], None)])
            .when(NotificationPreferencesCommand::Change(c))
            .then_expect_error(PreferencesError::WrongOwner);
    }

    #[test]
    fn zones_and_kinds_parse_or_are_refused() {
        let paris: TimeZoneName = "Europe/Paris".parse().expect("a real zone");
        assert_eq!(paris.as_ref(), "Europe/Paris");
        assert!("Mars/Olympus_Mons".parse::<TimeZoneName>().is_err());
        assert!("".parse::<TimeZoneName>().is_err());
        assert_eq!(
            "JOB_FAILED".parse::<NotificationKind>(),
            Ok(NotificationKind::JobFailed)
        );
        assert!("JOB_EXPLODED".parse::<NotificationKind>().is_err());
        assert_eq!(Weekday::parse("FRIDAY"), Some(Weekday::Friday));
        let json = serde_json::to_value(set(&[], None)).expect("serializes");
        let back: NotificationPreferencesEvent = serde_json::from_value(json).expect("parses");
        assert_eq!(back, set(&[], None));
    }
}
