//! Upcasters: stored events never change; old versions are rewritten to the current shape
//! when they are loaded, by the aggregates (through cqrs-es) and by the projections alike.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::{Value, json};

use crate::access::MEMBER_CREATED_VERSION;
use crate::actor::Role;

/// Every upcaster, in the order they apply.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(MemberCreatedV1)]
}

/// Applies [`upcasters`] to one stored event.
pub fn upcast(event: SerializedEvent, upcasters: &[Box<dyn EventUpcaster>]) -> SerializedEvent {
    upcasters.iter().fold(event, |event, upcaster| {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            upcaster.upcast(event)
        } else {
            event
        }
    })
}

/// `MemberCreated` 1.0 had `admin: bool`; 2.0 has a set of `roles`.
struct MemberCreatedV1;

impl EventUpcaster for MemberCreatedV1 {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == "MemberCreated" && event_version == "1.0"
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        if let Some(body) = event
            .payload
            .get_mut("MemberCreated")
            .and_then(Value::as_object_mut)
        {
            let admin = body
                .remove("admin")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let roles = if admin {
                json!([Role::TenantAdmin])
            } else {
                json!([])
            };
            body.insert("roles".into(), roles);
        }
        event.event_version = MEMBER_CREATED_VERSION.to_owned();
        event
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::access::MemberEvent;

    fn parse_member_event(payload: Value) -> Result<MemberEvent, serde_json::Error> {
        serde_json::from_value(payload)
    }

    fn v1(admin: bool) -> SerializedEvent {
        SerializedEvent::new(
            "m1".into(),
            1,
            "Member".into(),
            "MemberCreated".into(),
            "1.0".into(),
            json!({"MemberCreated": {
                "tenant_id": "0191d5a0-0000-7000-8000-000000000001",
                "email": "ada@example.org",
                "name": "Ada",
                "admin": admin
            }}),
            json!({}),
        )
    }

    #[test]
    fn member_created_v1_becomes_v2() {
        let up = upcast(v1(true), &upcasters());
        assert_eq!(up.event_version, "2.0");
        let MemberEvent::MemberCreated { roles, email, .. } =
            parse_member_event(up.payload).expect("current shape")
        else {
            panic!("wrong variant");
        };
        assert_eq!(roles, BTreeSet::from([Role::TenantAdmin]));
        assert_eq!(email.as_ref(), "ada@example.org");
        let MemberEvent::MemberCreated { roles, .. } =
            parse_member_event(upcast(v1(false), &upcasters()).payload).expect("current shape")
        else {
            panic!("wrong variant");
        };
        assert!(roles.is_empty());
    }

    #[test]
    fn current_versions_pass_through() {
        let mut current = v1(false);
        current.event_version = "2.0".into();
        assert_eq!(upcast(current.clone(), &upcasters()), current);
    }
}
